package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// ---- serials and certificates ----

// ReserveSerial records serial (lower-case hex) as used before anything is
// signed with it. ErrConflict when it was reserved before.
func (s *Store) ReserveSerial(ctx context.Context, serial string, now time.Time) error {
	_, err := s.pointExec(ctx, `INSERT INTO serials (serial, reserved_at) VALUES (?, ?)`, serial, ts(now))
	if isUniqueViolation(err) {
		return fmt.Errorf("serial %s: %w", serial, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("reserve serial: %w", err)
	}
	return nil
}

// FinishOrder stores c and moves its order from processing to valid in one
// transaction, so an issued certificate is never without its record. On
// SQLite it returns once the commit is written but before it is synced to
// disk, and starts that sync: the certificate leaves only by its download
// (CertificateChain) or an export (SyncIfRecent), which wait for it, so a
// power failure cannot take the record of a certificate a client holds.
// The serial must have been reserved (ReserveSerial). ErrConflict when a
// certificate with that serial or fingerprint is already stored; ErrStale
// when the order is not processing. A certificate the order replaces
// (RFC 9773, claimed by CreateReplacementOrder) is marked replaced at now
// in the same transaction.
//
// Each of events (optional) is appended to the audit log in the same
// transaction.
//
// The transaction also reads the block of c's key (Certificate.KeyHash;
// computed from c.DER when nil): a keyCompromise revocation of another
// certificate with the key may have committed since StartIssuanceKey
// checked it. Then c is still stored (a signed certificate is never left
// without its record) but revoked for keyCompromise at now, the order
// becomes invalid with a badPublicKey problem (RFC 8555 §6.7) as its
// error, the Cascade hook of each of events gives the revocation's audit
// event (called with c), and FinishOrder returns a *KeyBlockedError
// carrying that problem. On PostgreSQL the key's advisory lock (lockKey)
// orders the read with such a revocation on another connection (see
// RevokeCertificate).
func (s *Store) FinishOrder(ctx context.Context, orderID string, c *Certificate, now time.Time, events ...*AuditAppend) error {
	return s.finishOrder(ctx, orderID, c, false, now, events)
}

// FinishRemoteOrder is FinishOrder for a certificate whose serial a CA
// elsewhere chose (issuer.Remote): no StartIssuance reserved it, so c.Serial
// is recorded as used (table serials) in the same transaction, and the
// built-in CA never signs with it. ErrConflict when it is recorded already:
// serials are unique per issuer, not across issuers, so the caller then
// stores c under another key (see RemoteSerialKey).
func (s *Store) FinishRemoteOrder(ctx context.Context, orderID string, c *Certificate, now time.Time, events ...*AuditAppend) error {
	return s.finishOrder(ctx, orderID, c, true, now, events)
}

// RemoteSerialKey returns the key under which to store a certificate with
// serial (lower-case hex) and SHA-256 fingerprint fp (hex) that a CA
// elsewhere issued: serial itself while no certificate or reservation holds
// it, else serial-FINGERPRINT16, as an imported certificate whose serial is
// taken (internal/inventory).
func (s *Store) RemoteSerialKey(ctx context.Context, serial, fp string) (string, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM serials WHERE serial = ?`, serial).Scan(&n); err != nil {
		return "", fmt.Errorf("look up serial: %w", err)
	}
	if n == 0 {
		return serial, nil
	}
	return serial + "-" + fp[:16], nil
}

func (s *Store) finishOrder(ctx context.Context, orderID string, c *Certificate, reserve bool, now time.Time, events []*AuditAppend) error {
	ch := s.chainOf(c)
	h := keyHashOf(c)
	if c.KeyHash == nil && h != nil {
		cc := *c
		cc.KeyHash = h
		c = &cc
	}
	var blocked *KeyBlockedError
	err := s.pointTx(ctx, func(tx txConn) error {
		blocked = nil
		if reserve {
			if _, err := tx.ExecContext(ctx, `INSERT INTO serials (serial, reserved_at) VALUES (?, ?)`, c.Serial, ts(now)); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("serial %s: %w", c.Serial, ErrConflict)
				}
				return fmt.Errorf("reserve serial: %w", err)
			}
		}
		if h != nil {
			if err := s.lockKey(ctx, tx, h); err != nil {
				return err
			}
			switch b, err := blockedKeyIn(ctx, tx, h); {
			case err == nil:
				blocked = &KeyBlockedError{Key: b, Serial: c.Serial, Problem: BlockedKeyProblem(b, "the CSR's public key")}
				blocked.Problem.Detail += fmt.Sprintf("; the key was blocked while this order's certificate was signed: certificate %s is revoked for keyCompromise", c.Serial)
				return s.finishBlocked(ctx, tx, orderID, c, ch, blocked, now, events)
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		if err := s.insertCertificate(ctx, tx, c, ch); err != nil {
			return err
		}
		if err := finishValid(ctx, tx, orderID, c.Serial, now); err != nil {
			return err
		}
		// Last, so that the audit head's row lock is held as briefly as
		// possible (it serializes appends across nodes).
		for _, ev := range events {
			if err := appendAudit(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.learn(ch)
	if s.wal == nil { // PostgreSQL: the commit is durable
		if blocked != nil {
			return blocked
		}
		s.recent.add(c.Serial, c.AccountID, c.ChainPEM, 0)
		return nil
	}
	if blocked != nil {
		// A revocation: durable before the caller answers, as tx's.
		if err := s.wal.sync(ctx); err != nil {
			return err
		}
		return blocked
	}
	// The record must be on disk before the certificate leaves, which
	// is by its download (CertificateChain waits for this sync), not
	// before the finalize is answered: the order it answers with names
	// the certificate's URL, not its content. Starting the fsync now
	// lets it run while the answer travels and the client asks again.
	commits := s.wr.commits.Load()
	s.wal.noteCertificate(commits)
	s.wal.syncSoon()
	// What CertificateChain reads for it: the row's account, and its
	// chain as given (stored whole, or leaf + the issuer chain's
	// intermediates, which chainOf found c.ChainPEM to be).
	s.recent.add(c.Serial, c.AccountID, c.ChainPEM, commits)
	return nil
}

// finishValid moves order orderID from processing to valid with
// certificate serial and marks the certificate it replaces (claimed by
// CreateReplacementOrder; usually none) replaced at now, within tx;
// ErrStale when the order is not processing. On PostgreSQL both in one
// statement (one round trip).
func finishValid(ctx context.Context, tx txConn, orderID, serial string, now time.Time) error {
	const order = `UPDATE orders SET status = 'valid', cert_serial = ?, updated_at = ? WHERE id = ? AND status = 'processing'`
	const replaced = `UPDATE certificates SET replaced_at = ? WHERE replaced_by = ?`
	if tx.postgres() {
		// The command's row count is the main statement's: the order's.
		res, err := tx.ExecContext(ctx, `WITH r AS (`+replaced+`) `+order, ts(now), orderID, serial, ts(now), orderID)
		return checkOne(res, err, "finish order")
	}
	res, err := tx.ExecContext(ctx, order, serial, ts(now), orderID)
	if err := checkOne(res, err, "finish order"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, replaced, ts(now), orderID); err != nil {
		return fmt.Errorf("mark replaced certificate: %w", err)
	}
	return nil
}

// finishBlocked is FinishOrder's transaction for a certificate c whose key
// was blocked (kb) after StartIssuanceKey: c stored revoked for
// keyCompromise at now, the order processing → invalid with kb.Problem,
// events and their Cascade events for c appended.
func (s *Store) finishBlocked(ctx context.Context, tx txConn, orderID string, c *Certificate, ch *newChain, kb *KeyBlockedError, now time.Time, events []*AuditAppend) error {
	revoked := *c
	revoked.Status, revoked.RevokedAt, revoked.RevocationReason = StatusRevoked, now, acme.ReasonKeyCompromise
	if err := s.insertCertificate(ctx, tx, &revoked, ch); err != nil {
		return err
	}
	pj, err := marshalProblem(kb.Problem)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE orders SET status = 'invalid', error = ?, updated_at = ? WHERE id = ? AND status = 'processing'`, pj, ts(now), orderID)
	if err := checkOne(res, err, "finish order"); err != nil {
		return err
	}
	more, err := cascadeEvents(events, c)
	if err != nil {
		return err
	}
	return appendAll(ctx, tx, append(slices.Clip(events), more...))
}

const certCols = `serial, issuer, order_id, account_id, der, chain_pem, sans, key_type, fingerprint_sha256, not_before, not_after, status, revoked_at, revocation_reason, created_at, replaced_by, replaced_at,
	profile, key_bits, signature_algorithm, source, attributes, replaces_serial, key_hash, key_roca`

// certSelect returns the SELECT list and FROM clause of a certificate query
// that scanCert reads: certCols of certificates c, then its issuer chain's
// id and intermediates (NULL for none; chains.go).
func certSelect() string {
	return prefixCols("c.", certCols) + `, c.chain_id, ic.pem FROM certificates c LEFT JOIN issuer_chains ic ON ic.id = c.chain_id`
}

func scanCert(row interface{ Scan(...any) error }) (*Certificate, error) {
	var c Certificate
	var orderID, accountID, replacedBy, replaces, intermediates *string
	var sans, attrs string
	var nb, na, rev, created, replacedAt int64
	var chainID, roca *int64
	if err := row.Scan(&c.Serial, &c.Issuer, &orderID, &accountID, &c.DER, &c.ChainPEM, &sans, &c.KeyType, &c.FingerprintSHA256,
		&nb, &na, &c.Status, &rev, &c.RevocationReason, &created, &replacedBy, &replacedAt,
		&c.Profile, &c.KeyBits, &c.SignatureAlgorithm, &c.Source, &attrs, &replaces, &c.KeyHash, &roca, &chainID, &intermediates); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan certificate: %w", err)
	}
	c.KeyROCA = roca != nil && *roca == 1
	if chainID != nil {
		if intermediates == nil {
			return nil, fmt.Errorf("certificate %s: issuer chain %d is missing", c.Serial, *chainID)
		}
		c.ChainPEM = withLeaf(c.DER, *intermediates)
	}
	if orderID != nil {
		c.OrderID = *orderID
	}
	if accountID != nil {
		c.AccountID = *accountID
	}
	if replacedBy != nil {
		c.ReplacedBy = *replacedBy
	}
	if replaces != nil {
		c.Replaces = *replaces
	}
	if err := json.Unmarshal([]byte(attrs), &c.Attributes); err != nil {
		return nil, fmt.Errorf("certificate attributes: %w", err)
	}
	c.NotBefore, c.NotAfter, c.RevokedAt, c.CreatedAt, c.ReplacedAt = fromTS(nb), fromTS(na), fromTS(rev), fromTS(created), fromTS(replacedAt)
	if err := json.Unmarshal([]byte(sans), &c.SANs); err != nil {
		return nil, fmt.Errorf("certificate sans: %w", err)
	}
	return &c, nil
}

// GetCertificate returns the certificate with serial (lower-case hex), or ErrNotFound.
func (s *Store) GetCertificate(ctx context.Context, serial string) (*Certificate, error) {
	return scanCert(s.r.QueryRowContext(ctx, `SELECT `+certSelect()+` WHERE c.serial = ?`, serial))
}

// RevokeCertificate marks a valid certificate revoked with an RFC 5280
// reason code. ErrStale when it is not valid (already revoked). Each of
// events (optional) is appended to the audit log in the same transaction;
// their Replaced hooks get the *Certificate as it was before.
//
// A revocation for keyCompromise (acme.ReasonKeyCompromise) also blocks the
// certificate's public key (BlockedKey, CA/B Forum BR §6.1.1.3) in the same
// transaction: whichever path revokes (ACME revokeCert, the admin API,
// `certgate cert revoke`), the key cannot be certified again. It also
// applies to a certificate already revoked for another reason: its reason
// becomes keyCompromise, its revocation time stays (BR §4.9.1.1, Mozilla
// Root Store Policy §6.1.1: on evidence of key compromise the CA SHOULD
// update the CRL entry's reason), and its key is blocked; ErrStale then
// only when it is revoked for keyCompromise already.
//
// In the same transaction it revokes, for keyCompromise at at, every other
// certificate with that key (Certificate.KeyHash) that the built-in CA
// issued (source issued under issuer.LocalName, or listener; not those of
// upstream CAs; imported and discovered ones only through
// RevokeCertificateOf) and that
// is unexpired at at and valid (BR §4.9.1.1: all of them within 24 hours)
// or revoked before for another reason (BR §7.2.2: its reasonCode becomes
// keyCompromise, its revocation time stays, as for serial itself), so
// that the CRL and OCSP say keyCompromise for each; the Cascade hook of
// each of events gives each one's audit event, with the row as it was
// before. Certificates stored without a key hash get theirs first
// (fillKeyHashes). On PostgreSQL the key's advisory lock
// (lockKey), taken before any row is read, orders it with a FinishOrder of
// the same key on another connection: either this revocation sees and
// revokes the certificate FinishOrder stores, or FinishOrder sees the
// block and stores it revoked.
func (s *Store) RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time, events ...*AuditAppend) error {
	return s.RevokeCertificateOf(ctx, serial, reason, at, CAScope{}, events...)
}

// RevokeCertificateOf is RevokeCertificate for the certificates of the CA
// scope names: for keyCompromise it also revokes the certificates with the
// key that are stored under one of scope.DNs (imported or discovered) and that
// scope.Signed accepts, as those the built-in CA issued (CAScope.Ours).
// Certificates of the key of another CA keep their status, only their CA
// can revoke them: imported or discovered ones stored under another issuer,
// and those issued through an upstream CA (source issued, another issuer
// name than the built-in CA's), whose revocation must reach the upstream
// first (docs/issuers.md).
func (s *Store) RevokeCertificateOf(ctx context.Context, serial string, reason int, at time.Time, scope CAScope, events ...*AuditAppend) error {
	const q = `UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND status = 'valid'`
	const qKeyCompromise = `UPDATE certificates SET status = 'revoked', revocation_reason = ?,
		revoked_at = CASE WHEN status = 'valid' THEN ? ELSE revoked_at END
		WHERE serial = ? AND ` + keyCompromiseRevocable + ` RETURNING serial`
	block := reason == acme.ReasonKeyCompromise
	if len(events) == 0 && !block {
		res, err := s.exec(ctx, q, ts(at), reason, serial)
		return checkOne(res, err, "revoke certificate")
	}
	if block {
		if err := s.fillKeyHashes(ctx); err != nil {
			return err
		}
	}
	return s.tx(ctx, func(tx txConn) error {
		var h []byte
		if block {
			// The key first (a row's key never changes), so that the key's
			// lock is taken before any row lock: FinishOrder takes the key's
			// lock, then the row lock of the certificate its order replaces
			// (which may be one of this key's), so the other order could
			// deadlock.
			var der []byte
			switch err := txQueryRow(ctx, tx, `SELECT key_hash, der FROM certificates WHERE serial = ?`, serial).Scan(&h, &der); {
			case errors.Is(err, sql.ErrNoRows):
				if wantsReplaced(events) { // as readReplacedLock reports it
					return fmt.Errorf("certificate %s: %w", serial, ErrNotFound)
				}
				return fmt.Errorf("revoke certificate: %w", ErrStale)
			case err != nil:
				return fmt.Errorf("revoke certificate: %w", err)
			case h == nil:
				if h, err = certKeyHash(der); err != nil {
					return fmt.Errorf("block key of certificate %s: %w", serial, err)
				}
			}
			if err := s.lockKey(ctx, tx, h); err != nil {
				return err
			}
		}
		if err := readReplacedLock(ctx, s, tx, events, scanCert, `FOR UPDATE OF c`, `SELECT `+certSelect()+` WHERE c.serial = ?`, serial); err != nil {
			return fmt.Errorf("certificate %s: %w", serial, err)
		}
		if !block {
			res, err := tx.ExecContext(ctx, q, ts(at), reason, serial)
			if err := checkOne(res, err, "revoke certificate"); err != nil {
				return err
			}
			return appendAll(ctx, tx, events)
		}
		var got string
		switch err := txQueryRow(ctx, tx, qKeyCompromise, reason, ts(at), serial).Scan(&got); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("revoke certificate: %w", ErrStale)
		case err != nil:
			return fmt.Errorf("revoke certificate: %w", err)
		}
		if err := blockKey(ctx, tx, h, serial, reason, at); err != nil {
			return err
		}
		more, err := s.revokeKeyCertificates(ctx, tx, h, serial, at, scope, events)
		if err != nil {
			return err
		}
		return appendAll(ctx, tx, append(slices.Clip(events), more...))
	})
}

// keyCompromiseRevocable is the condition on a certificate row (columns
// unqualified) under which a keyCompromise revocation changes it: valid,
// or revoked for another reason (its reason becomes keyCompromise, BR
// §7.2.2). It is the predicate of the partial indexes certificates_key and
// certificates_no_key (migration 00020), written alike so that SQLite's
// planner can prove a query implies it.
const keyCompromiseRevocable = `(status = 'valid' OR (status = 'revoked' AND revocation_reason <> 1))`

// revokeKeyCertificates revokes in tx, for keyCompromise at at, the
// certificates with key h but serial that this CA issued (scope.Ours:
// source listener, source issued under the built-in CA's issuer name, or
// stored under one of scope.DNs and accepted by scope.Signed), that are
// unexpired at at and valid or revoked for another reason
// (keyCompromiseRevocable; index certificates_key), and returns the audit
// events the Cascade hooks of events give for them (each with the row as
// it was). A valid one gets revocation time at; a revoked one keeps its
// time and gets reason keyCompromise (BR §7.2.2). On PostgreSQL the rows
// are locked (FOR UPDATE) as they are read, so the UPDATE changes the rows
// the events describe.
func (s *Store) revokeKeyCertificates(ctx context.Context, tx txConn, h []byte, serial string, at time.Time, scope CAScope, events []*AuditAppend) ([]*AuditAppend, error) {
	// Every certificate of the key when the scope may take imported ones
	// or names the other CAs' (the loop below tells them apart, and the
	// built-in CA's issued ones from those of upstream CAs).
	ours := ""
	if scope.Others == nil && (len(scope.DNs) == 0 || scope.Signed == nil) {
		ours = ` AND c.source IN ('issued', 'listener')`
	}
	q := `SELECT ` + prefixCols("c.", certCols) + `, c.chain_id, ic.pem FROM certificates c` + s.indexedBy("certificates_key") +
		` LEFT JOIN issuer_chains ic ON ic.id = c.chain_id
		WHERE c.key_hash = ? AND (c.status = 'valid' OR (c.status = 'revoked' AND c.revocation_reason <> 1))
		AND c.not_after > ? AND c.serial <> ?` + ours + ` ORDER BY c.serial`
	if s.engine == EnginePostgres {
		q += ` FOR UPDATE OF c`
	}
	rows, err := tx.QueryContext(ctx, q, h, ts(at), serial)
	if err != nil {
		return nil, fmt.Errorf("certificates of the compromised key: %w", err)
	}
	var olds []*Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("certificates of the compromised key: %w", err)
		}
		if !scope.Ours(c) {
			// Another CA's certificate (perhaps one that carries this
			// CA's name, or one issued through an upstream CA): not this
			// CA's to revoke.
			if scope.Others != nil && c.Status == StatusValid {
				scope.Others(c.Serial)
			}
			continue
		}
		olds = append(olds, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("certificates of the compromised key: %w", err)
	}
	if len(olds) == 0 {
		return nil, nil
	}
	var out []*AuditAppend
	for _, c := range olds {
		evs, err := cascadeEvents(events, c)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET status = 'revoked', revocation_reason = ?,
			revoked_at = CASE WHEN status = 'valid' THEN ? ELSE revoked_at END
			WHERE serial = ? AND `+keyCompromiseRevocable,
			acme.ReasonKeyCompromise, ts(at), c.Serial)
		if err := checkOne(res, err, "revoke certificate of the compromised key"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RevokedEntry is one revoked certificate as listed on a CRL.
type RevokedEntry struct {
	Serial    string    // inventory key: lower-case hex, maybe with "-FINGERPRINT16"
	RevokedAt time.Time // UTC
	Reason    int       // RFC 5280 §5.3.1 reason code
	// DER is set for a record stored under the issuer's distinguished name
	// rather than its issuer name (an imported or discovered certificate,
	// see RevokedCertificates): the caller must check that the issuer's
	// key signed it, and take its serial from it (Serial is the inventory
	// key, which may carry a "-FINGERPRINT16" suffix). Nil for records of
	// the issuer name, except from CRLContentsDER.
	DER []byte
	// OfIssuerName is set by CRLContentsDER for a record of the issuer
	// name (its DER is set too).
	OfIssuerName bool
}

// RevokedCertificates lists the revoked certificates of the issuer named
// issuer (e.g. "local") that have not expired before notAfter (expired
// ones may leave the CRL, RFC 5280 §3.3), and those of the records stored
// under issuerDN, the issuer certificate's subject as the inventory
// writes a certificate's issuer (pkix.Name.String): imported or
// discovered certificates that this issuer may have signed, returned with
// their DER for the caller to check the signature (RevokedEntry.DER).
// issuerDN "" adds none.
func (s *Store) RevokedCertificates(ctx context.Context, issuer, issuerDN string, notAfter time.Time) ([]RevokedEntry, error) {
	rows, err := s.r.QueryContext(ctx, revokedCertsSQL, revokedArgs(issuer, issuerDN, notAfter)...)
	if err != nil {
		return nil, fmt.Errorf("revoked certificates: %w", err)
	}
	return scanRevoked(rows)
}

// revokedArgs are the arguments of revokedCertsSQL. With issuerDN "" its
// part reads the records stored with an empty issuer, if any (an imported
// certificate with an empty issuer name), which come with their DER like
// any of an issuer DN.
func revokedArgs(issuer, issuerDN string, notAfter time.Time) []any {
	return []any{issuerDN, ts(notAfter), issuer, ts(notAfter)}
}

// scanRevoked reads the rows of revokedCertsSQL and closes them.
func scanRevoked(rows *sql.Rows) ([]RevokedEntry, error) {
	return scanRevokedCols(rows, false)
}

// scanRevokedCols reads the rows of revokedCertsSQL, or with named those
// of revokedCertsDERSQL, and closes them.
func scanRevokedCols(rows *sql.Rows, named bool) ([]RevokedEntry, error) {
	defer rows.Close()
	var out []RevokedEntry
	for rows.Next() {
		var e RevokedEntry
		var at int64
		dest := []any{&e.Serial, &at, &e.Reason, &e.DER}
		var n int
		if named {
			dest = append(dest, &n)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("revoked certificates: %w", err)
		}
		e.OfIssuerName = n == 1
		e.RevokedAt = fromTS(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revoked certificates: %w", err)
	}
	return out, nil
}

// CountCertificates returns how many certificate records exist.
func (s *Store) CountCertificates(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates`).Scan(&n)
	return n, err
}

// StoreListenerCertificate stores c, a certificate the built-in CA issued
// for certgate's own HTTPS listeners (Source SourceListener) with a serial
// reserved before signing (ReserveSerial), and, when supersedes is not "",
// marks the listener certificate of that serial superseded by c
// (superseded_by, migration 00036), all in one durable transaction with
// events (nil ones skipped) appended to the audit log. Only a valid
// listener certificate not yet superseded is marked: an ACME, imported or
// discovered certificate of that serial is left as it is. ErrConflict
// wraps a duplicate serial or fingerprint; an error stores nothing.
func (s *Store) StoreListenerCertificate(ctx context.Context, c *Certificate, supersedes string, events ...*AuditAppend) error {
	if c.Source != SourceListener {
		return fmt.Errorf("store listener certificate %s: source %q, want %q", c.Serial, c.Source, SourceListener)
	}
	ch := s.chainOf(c)
	err := s.tx(ctx, func(tx txConn) error {
		if err := s.insertCertificate(ctx, tx, c, ch); err != nil {
			return err
		}
		if supersedes != "" && supersedes != c.Serial {
			if _, err := tx.ExecContext(ctx, `UPDATE certificates SET superseded_by = ?
				WHERE serial = ? AND source = ? AND status = 'valid' AND superseded_by = ''`,
				c.Serial, supersedes, SourceListener); err != nil {
				return fmt.Errorf("supersede listener certificate %s: %w", supersedes, err)
			}
		}
		return appendAll(ctx, tx, events)
	})
	if err == nil {
		s.learn(ch)
	}
	return err
}

// CurrentListenerCertificate returns the record of the listener
// certificate (SourceListener) whose DER has SHA-256 fingerprint fp
// (lower-case hex) when it is valid (not revoked) and not superseded
// (superseded_by empty): one a restarted server may serve again. ErrNotFound
// otherwise.
func (s *Store) CurrentListenerCertificate(ctx context.Context, fp string) (*Certificate, error) {
	return scanCert(s.r.QueryRowContext(ctx, `SELECT `+certSelect()+` WHERE c.fingerprint_sha256 = ? AND c.source = ? AND c.status = 'valid' AND c.superseded_by = ''`,
		fp, SourceListener))
}
