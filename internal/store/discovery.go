package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Certificate discovery (docs/discovery.md; migration 00032): scans,
// their findings and the latest state of each endpoint that served a
// certificate. The certificates are inventory rows (InsertCertificates,
// source SourceDiscovered unless issued or imported already), joined by
// their SHA-256 fingerprint.

// Scan statuses (Scan.Status).
const (
	ScanRunning   = "running"   // started, not finished (or its process died)
	ScanCompleted = "completed" // every endpoint was tried
	ScanCancelled = "cancelled" // interrupted: the findings are those made before
	// ScanInterrupted: found running longer than any live scan runs
	// (InterruptStaleScans): its process died; no findings were recorded.
	ScanInterrupted = "interrupted"
)

// Scan is one run of certificate discovery over a list of targets.
type Scan struct {
	ID         string    // NewID at its start
	Status     string    // ScanRunning, ScanCompleted, ScanCancelled or ScanInterrupted
	Targets    []string  // the target specifications as given (discovery.ParseTarget)
	Actor      string    // who ran it, e.g. "cli:alice"; "" for none recorded
	StartedAt  time.Time // UTC
	FinishedAt time.Time // UTC; zero while running
	// Endpoints is how many endpoints (address, port, SNI name) the
	// targets expanded to; Served how many completed a TLS handshake;
	// Failed how many did not (refused, timed out, not TLS...).
	Endpoints, Served, Failed int
	// Certificates is how many distinct leaf certificates were served;
	// NewCertificates how many of them entered the inventory with this
	// scan (source discovered).
	Certificates, NewCertificates int
}

// Finding is what one scan saw at one endpoint: a certificate (by the
// SHA-256 fingerprint of the leaf's DER) with the handshake's parameters
// and the chain's checks, or the error that stopped the handshake.
type Finding struct {
	ScanID  string // the scan
	Address string // IP address or DNS name as the target gave it
	Port    int    // TCP port
	SNI     string // server name sent (RFC 6066 §3); "" for none
	// Fingerprint is the lower-case hex SHA-256 of the leaf; "" when Error.
	Fingerprint string
	Error       string // why no certificate was collected; "" on success
	TLSVersion  string // e.g. "TLS 1.3"
	CipherSuite string // IANA name, e.g. "TLS_AES_128_GCM_SHA256"
	// Trusted: the served chain verifies to a root of the system pool or
	// of certgate's CA at SeenAt (the name is checked apart:
	// NameMismatch). TrustError says why not.
	Trusted    bool
	TrustError string // why not Trusted
	// Incomplete: the server did not send the intermediates its leaf
	// needs. Expired: the leaf's notAfter is past at SeenAt.
	// NameMismatch: the leaf is not valid for SNI. SelfSigned: the leaf
	// is its own issuer.
	Incomplete, Expired, NameMismatch, SelfSigned bool
	SeenAt                                        time.Time // UTC
}

// Endpoint is the latest state of one endpoint that has served a
// certificate: which one (Fingerprint), when it was first seen serving it
// (a new certificate starts FirstSeen again) and last seen, and the error
// of its latest scan if that failed.
type Endpoint struct {
	Address     string    // IP address or DNS name as the target gave it
	Port        int       // TCP port, 1..65535
	SNI         string    // server name sent; "" for none
	Fingerprint string    // lower-case hex SHA-256 of the leaf served
	FirstSeen   time.Time // first scan that saw it serve Fingerprint
	LastSeen    time.Time // latest scan that saw it serve Fingerprint
	LastScanID  string    // the latest scan that tried it
	LastError   string    // that scan's error; "" when it served a certificate
	LastErrorAt time.Time // zero when LastError is ""
}

// CreateScan stores sc (Status ScanRunning) before its handshakes start.
func (s *Store) CreateScan(ctx context.Context, sc *Scan) error {
	targets, err := json.Marshal(nonNil(sc.Targets))
	if err != nil {
		return fmt.Errorf("create scan: %w", err)
	}
	_, err = s.exec(ctx, `INSERT INTO scans (id, status, targets, actor, started_at, endpoints) VALUES (?, ?, ?, ?, ?, ?)`,
		sc.ID, sc.Status, string(targets), sc.Actor, ts(sc.StartedAt), sc.Endpoints)
	if err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("create scan %s: %w", sc.ID, ErrConflict)
		}
		return fmt.Errorf("create scan: %w", err)
	}
	return nil
}

// FinishScan records the findings of scan sc and its final counts and
// status, in one transaction: the findings rows, and for each one the
// endpoint's state (a certificate served: fingerprint and last seen, and
// first seen when the certificate is new there; an error: recorded on an
// endpoint that served a certificate before, while an endpoint that never
// did gets no row). ErrNotFound when sc is not a stored scan.
func (s *Store) FinishScan(ctx context.Context, sc *Scan, findings []*Finding) error {
	return s.tx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE scans SET status = ?, finished_at = ?, endpoints = ?, served = ?, failed = ?,
			certificates = ?, new_certificates = ? WHERE id = ?`, sc.Status, ts(sc.FinishedAt), sc.Endpoints, sc.Served, sc.Failed,
			sc.Certificates, sc.NewCertificates, sc.ID)
		if err := checkOne(res, err, "finish scan"); err != nil {
			return err
		}
		for _, f := range findings {
			if _, err := tx.ExecContext(ctx, `INSERT INTO scan_findings (scan_id, address, port, sni, fingerprint, error, tls_version,
				cipher_suite, trusted, trust_error, incomplete, expired, name_mismatch, self_signed, seen_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, sc.ID, f.Address, f.Port, f.SNI, f.Fingerprint, f.Error,
				f.TLSVersion, f.CipherSuite, f.Trusted, f.TrustError, f.Incomplete, f.Expired, f.NameMismatch, f.SelfSigned,
				ts(f.SeenAt)); err != nil {
				return fmt.Errorf("insert scan finding: %w", err)
			}
			if f.Error != "" {
				_, err = tx.ExecContext(ctx, `UPDATE discovered_endpoints SET last_scan_id = ?, last_error = ?, last_error_at = ?
					WHERE address = ? AND port = ? AND sni = ?`, sc.ID, f.Error, ts(f.SeenAt), f.Address, f.Port, f.SNI)
			} else {
				var before string
				err = tx.QueryRowContext(ctx, `SELECT fingerprint FROM discovered_endpoints WHERE address = ? AND port = ? AND sni = ?`,
					f.Address, f.Port, f.SNI).Scan(&before)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("record endpoint: %w", err)
				}
				// first_seen starts again when the endpoint serves another
				// certificate: SET sees the row's old values.
				_, err = tx.ExecContext(ctx, `INSERT INTO discovered_endpoints (address, port, sni, fingerprint, first_seen, last_seen,
					last_scan_id, last_error, last_error_at) VALUES (?, ?, ?, ?, ?, ?, ?, '', 0)
					ON CONFLICT (address, port, sni) DO UPDATE SET
					first_seen = CASE WHEN discovered_endpoints.fingerprint = excluded.fingerprint
						THEN discovered_endpoints.first_seen ELSE excluded.first_seen END,
					fingerprint = excluded.fingerprint, last_seen = excluded.last_seen,
					last_scan_id = excluded.last_scan_id, last_error = '', last_error_at = 0`,
					f.Address, f.Port, f.SNI, f.Fingerprint, ts(f.SeenAt), ts(f.SeenAt), sc.ID)
				if err == nil && before != "" && before != f.Fingerprint {
					err = supersede(ctx, tx, before, f.Fingerprint)
				}
			}
			if err != nil {
				return fmt.Errorf("record endpoint: %w", err)
			}
		}
		return nil
	})
}

// supersede records that an endpoint which served the certificate of
// fingerprint before now serves the one of fingerprint now (in FinishScan's
// transaction, after the endpoint's row): now's certificate is served, so
// it is superseded no longer; before's, when it is a discovered
// certificate that no endpoint serves any more, is superseded by now's
// (superseded_by, migration 00036) when now's certificate expires later
// and has every name of before's (which has at least one). A certificate
// not in the inventory changes nothing.
func supersede(ctx context.Context, tx txConn, before, now string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE certificates SET superseded_by = '' WHERE fingerprint_sha256 = ? AND superseded_by <> ''`,
		now); err != nil {
		return err
	}
	var serial string
	var notAfter int64
	err := tx.QueryRowContext(ctx, `SELECT serial, not_after FROM certificates WHERE fingerprint_sha256 = ?`, now).Scan(&serial, &notAfter)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE certificates SET superseded_by = ?
		WHERE fingerprint_sha256 = ? AND source = ? AND not_after < ?
		AND NOT EXISTS (SELECT 1 FROM discovered_endpoints e WHERE e.fingerprint = certificates.fingerprint_sha256)
		AND EXISTS (SELECT 1 FROM certificate_names o WHERE o.serial = certificates.serial)
		AND NOT EXISTS (SELECT 1 FROM certificate_names o WHERE o.serial = certificates.serial
			AND NOT EXISTS (SELECT 1 FROM certificate_names n WHERE n.serial = ? AND n.name = o.name))`,
		serial, before, SourceDiscovered, notAfter, serial)
	return err
}

const scanColumns = `id, status, targets, actor, started_at, finished_at, endpoints, served, failed, certificates, new_certificates`

func scanScan(row interface{ Scan(...any) error }) (*Scan, error) {
	var sc Scan
	var targets string
	var started, finished int64
	if err := row.Scan(&sc.ID, &sc.Status, &targets, &sc.Actor, &started, &finished, &sc.Endpoints, &sc.Served, &sc.Failed,
		&sc.Certificates, &sc.NewCertificates); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if err := json.Unmarshal([]byte(targets), &sc.Targets); err != nil {
		return nil, fmt.Errorf("scan %s: targets: %w", sc.ID, err)
	}
	sc.StartedAt, sc.FinishedAt = fromTS(started), fromTS(finished)
	return &sc, nil
}

// GetScan returns the scan with ID id, or ErrNotFound.
func (s *Store) GetScan(ctx context.Context, id string) (*Scan, error) {
	sc, err := scanScan(s.r.QueryRowContext(ctx, `SELECT `+scanColumns+` FROM scans WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("get scan: %w", err)
	}
	return sc, nil
}

// ListScans returns at most limit scans, newest first (by start time,
// then ID), those that sort after (beforeStart, beforeID) in that order
// when beforeID is not "" (keyset pagination over index scans_started).
func (s *Store) ListScans(ctx context.Context, beforeStart time.Time, beforeID string, limit int) ([]*Scan, error) {
	q := `SELECT ` + scanColumns + ` FROM scans`
	var args []any
	if beforeID != "" {
		q += ` WHERE started_at < ? OR (started_at = ? AND id < ?)`
		args = append(args, ts(beforeStart), ts(beforeStart), beforeID)
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	rows, err := s.r.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list scans: %w", err)
	}
	defer rows.Close()
	var out []*Scan
	for rows.Next() {
		sc, err := scanScan(rows)
		if err != nil {
			return nil, fmt.Errorf("list scans: %w", err)
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// ScanFindings returns the findings of scan id ordered by address, port
// and SNI name (as text); errors too unless withErrors is false. A scan
// has at most as many findings as its target limit allowed endpoints.
func (s *Store) ScanFindings(ctx context.Context, id string, withErrors bool) ([]*Finding, error) {
	q := `SELECT scan_id, address, port, sni, fingerprint, error, tls_version, cipher_suite, trusted, trust_error, incomplete,
		expired, name_mismatch, self_signed, seen_at FROM scan_findings WHERE scan_id = ?`
	if !withErrors {
		q += ` AND error = ''`
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY address, port, sni`, id)
	if err != nil {
		return nil, fmt.Errorf("scan findings: %w", err)
	}
	defer rows.Close()
	var out []*Finding
	for rows.Next() {
		var f Finding
		var seen int64
		if err := rows.Scan(&f.ScanID, &f.Address, &f.Port, &f.SNI, &f.Fingerprint, &f.Error, &f.TLSVersion, &f.CipherSuite,
			&f.Trusted, &f.TrustError, &f.Incomplete, &f.Expired, &f.NameMismatch, &f.SelfSigned, &seen); err != nil {
			return nil, fmt.Errorf("scan findings: %w", err)
		}
		f.SeenAt = fromTS(seen)
		out = append(out, &f)
	}
	return out, rows.Err()
}

// EndpointsServing returns the endpoints whose latest served certificate
// has SHA-256 fingerprint fp (lower-case hex), ordered by address, port
// and SNI name: where a certificate of the inventory was last seen.
func (s *Store) EndpointsServing(ctx context.Context, fp string) ([]*Endpoint, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT address, port, sni, fingerprint, first_seen, last_seen, last_scan_id, last_error,
		last_error_at FROM discovered_endpoints WHERE fingerprint = ? ORDER BY address, port, sni`, fp)
	if err != nil {
		return nil, fmt.Errorf("endpoints serving: %w", err)
	}
	defer rows.Close()
	var out []*Endpoint
	for rows.Next() {
		var e Endpoint
		var first, last, errAt int64
		if err := rows.Scan(&e.Address, &e.Port, &e.SNI, &e.Fingerprint, &first, &last, &e.LastScanID, &e.LastError, &errAt); err != nil {
			return nil, fmt.Errorf("endpoints serving: %w", err)
		}
		e.FirstSeen, e.LastSeen, e.LastErrorAt = fromTS(first), fromTS(last), fromTS(errAt)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// InterruptStaleScans marks ScanInterrupted every scan still running
// that started before before (a scan whose process died: discovery bounds
// a live scan's run) and returns their IDs, oldest first. A scan that
// finishes after all (FinishScan) overwrites the mark.
func (s *Store) InterruptStaleScans(ctx context.Context, before time.Time) ([]string, error) {
	var ids []string
	err := s.tx(ctx, func(tx txConn) error {
		ids = ids[:0]
		rows, err := tx.QueryContext(ctx, `SELECT id FROM scans WHERE status = ? AND started_at < ? ORDER BY started_at, id`,
			ScanRunning, ts(before))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		for _, id := range ids {
			// status = running again: another node may have marked it, or
			// its scan finished, since the SELECT.
			if _, err := tx.ExecContext(ctx, `UPDATE scans SET status = ? WHERE id = ? AND status = ?`, ScanInterrupted, id, ScanRunning); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("interrupt stale scans: %w", err)
	}
	return ids, nil
}

// ClaimScheduledScan reports whether node may run the scheduled scan name
// now: the run is due (its next run is at or before now, or it never ran)
// and no other node claimed it first. A claim moves the next run to next
// in one conditional UPDATE, so of the nodes sharing the database exactly
// one claims each due run, and a node that dies while scanning does not
// make another run it again before next.
func (s *Store) ClaimScheduledScan(ctx context.Context, name, node string, now, next time.Time) (bool, error) {
	if _, err := s.exec(ctx, `INSERT INTO scan_schedules (name, next_run, node) VALUES (?, 0, '') ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return false, fmt.Errorf("claim scheduled scan: %w", err)
	}
	res, err := s.exec(ctx, `UPDATE scan_schedules SET next_run = ?, node = ? WHERE name = ? AND next_run <= ?`, ts(next), node, name, ts(now))
	if err != nil {
		return false, fmt.Errorf("claim scheduled scan: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim scheduled scan: %w", err)
	}
	return n == 1, nil
}
