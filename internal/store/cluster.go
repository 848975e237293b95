package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// RecordNonce records nonce as redeemed until expires. ErrConflict when it
// was redeemed before, by this node or another (RFC 8555 §6.5).
//
// On PostgreSQL the insert commits without waiting for the WAL flush: it
// runs in autocommit on the store's own sessions with synchronous_commit
// off (Store.async), one round trip where a transaction with SET LOCAL
// took four. That cuts its cost from ~1.4 ms to a fraction, and the only
// thing a database crash can lose is the record of nonces redeemed in its
// last moments.
func (s *Store) RecordNonce(ctx context.Context, nonce string, expires time.Time) error {
	const q = `INSERT INTO used_nonces (nonce, expires_at) VALUES (?, ?)`
	var err error
	if s.async != nil {
		// One round trip in autocommit on a session that commits
		// asynchronously, as asyncCommit would make the transaction below.
		_, err = s.async.ExecContext(ctx, q, nonce, ts(expires))
	} else {
		err = s.pointTx(ctx, func(tx txConn) error {
			_, err := tx.ExecContext(ctx, q, nonce, ts(expires))
			return err
		})
	}
	if isUniqueViolation(err) {
		return fmt.Errorf("nonce: %w", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("record nonce: %w", err)
	}
	return nil
}

// PruneNonces deletes redeemed-nonce records that expired before now and
// returns how many it deleted.
func (s *Store) PruneNonces(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.lazyExec(ctx, `DELETE FROM used_nonces WHERE expires_at < ?`, ts(now))
	if err != nil {
		return 0, fmt.Errorf("prune nonces: %w", err)
	}
	return res.RowsAffected()
}

// GetSetting returns the cluster-wide setting name, or ErrNotFound.
func (s *Store) GetSetting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("setting %s: %w", name, err)
	}
	return v, nil
}

// InitSetting sets name to value unless it is set already, and returns the
// value in force afterwards (the first writer wins across nodes).
func (s *Store) InitSetting(ctx context.Context, name, value string) (string, error) {
	_, err := s.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value)
	if err != nil {
		return "", fmt.Errorf("setting %s: %w", name, err)
	}
	return s.GetSetting(ctx, name)
}

// ReplaceSetting sets name to value if its value is old, and reports
// whether it did (false: another writer changed it first, or it is not
// set; see InitSetting).
func (s *Store) ReplaceSetting(ctx context.Context, name, old, value string) (bool, error) {
	res, err := s.exec(ctx, `UPDATE settings SET value = ? WHERE name = ? AND value = ?`, value, name, old)
	if err != nil {
		return false, fmt.Errorf("setting %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("setting %s: %w", name, err)
	}
	return n == 1, nil
}

// NextCRLNumber hands out the cRLNumber (RFC 5280 §5.2.3) of the next CRL
// that issuer signs: atLeast (the caller's signing time in Unix
// nanoseconds, non-negative), or one more than the last number handed out
// for issuer when that is not lower. The number is recorded by the same
// statement (settings row "crl_number:" + issuer), so the numbers of an
// issuer strictly increase across restarts and across the nodes sharing
// the database, whatever their clocks say.
func (s *Store) NextCRLNumber(ctx context.Context, issuer string, atLeast int64) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx txConn) error {
		var err error
		n, err = s.nextCRLNumberIn(ctx, tx, issuer, atLeast)
		return err
	})
	return n, err
}

// nextCRLNumberIn is NextCRLNumber within tx. On PostgreSQL the statement
// leaves the issuer's settings row locked until tx ends.
func (s *Store) nextCRLNumberIn(ctx context.Context, tx txConn, issuer string, atLeast int64) (int64, error) {
	maxFn := "MAX"
	if s.engine == EnginePostgres {
		maxFn = "GREATEST"
	}
	q := `INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = CAST(` + maxFn + `(CAST(settings.value AS BIGINT) + 1, CAST(excluded.value AS BIGINT)) AS TEXT)
		RETURNING value`
	var v string
	if err := tx.QueryRowContext(ctx, q, "crl_number:"+issuer, strconv.FormatInt(atLeast, 10)).Scan(&v); err != nil {
		return 0, fmt.Errorf("CRL number of %s: %w", issuer, err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("CRL number of %s: stored %q: %w", issuer, v, err)
	}
	return n, nil
}

// CRLContents hands out the number of issuer's next CRL, as NextCRLNumber
// does, and lists the revoked certificates that CRL may carry, as
// RevokedCertificates does (the records of issuerDN with their DER, for
// the caller to check), in one transaction: the list is read after the
// number is taken, while the number's row stays locked (PostgreSQL; on
// SQLite the write transaction excludes other writers). So of two CRLs of
// issuer, from any nodes, the one with the greater number lists every
// revocation the other lists that has not expired by its notAfter (RFC
// 5280 §5.2.3: the greater number is the newer CRL), where a list read
// before the number was taken could miss a revocation that a CRL numbered
// lower in the meantime lists. On SQLite the read holds the writer: a
// range of the certificates_revoked index, once per CRL regeneration
// (100,000 revoked certificates: 112 ms, where the reader took 97-163 ms;
// 2-core machine shared with others).
func (s *Store) CRLContents(ctx context.Context, issuer, issuerDN string, notAfter time.Time, atLeast int64) (number int64, revoked []RevokedEntry, err error) {
	return s.crlContents(ctx, revokedCertsSQL, issuer, issuerDN, notAfter, atLeast)
}

// CRLContentsDER is CRLContents with the DER of every record, those of
// issuer too: for a CA whose several intermediates (a rotated one and
// those it replaced) store their certificates under one issuer name, so
// that each intermediate's CRL lists only the certificates it signed.
func (s *Store) CRLContentsDER(ctx context.Context, issuer, issuerDN string, notAfter time.Time, atLeast int64) (number int64, revoked []RevokedEntry, err error) {
	return s.crlContents(ctx, revokedCertsDERSQL, issuer, issuerDN, notAfter, atLeast)
}

func (s *Store) crlContents(ctx context.Context, query, issuer, issuerDN string, notAfter time.Time, atLeast int64) (number int64, revoked []RevokedEntry, err error) {
	err = s.tx(ctx, func(tx txConn) error {
		var err error
		if number, err = s.nextCRLNumberIn(ctx, tx, issuer, atLeast); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, query, revokedArgs(issuer, issuerDN, notAfter)...)
		if err != nil {
			return fmt.Errorf("revoked certificates: %w", err)
		}
		revoked, err = scanRevokedCols(rows, query == revokedCertsDERSQL)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return number, revoked, nil
}

// LeaseChallenge gives owner the lease on a processing challenge until
// until, when nobody holds it, it ran out at now, or owner holds it already.
// ErrStale otherwise (another node validates it, or it is no longer
// processing).
func (s *Store) LeaseChallenge(ctx context.Context, id, owner string, now, until time.Time) error {
	res, err := s.pointExec(ctx, `UPDATE challenges SET lease_owner = ?, lease_until = ?
		WHERE id = ? AND status = 'processing' AND (lease_owner = ? OR lease_until < ?)`, owner, ts(until), id, owner, ts(now))
	return checkOne(res, err, "lease challenge")
}

// ExpiredLeases returns up to limit IDs of processing challenges whose
// lease ran out before now (their node died or stopped), oldest first.
func (s *Store) ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.ids(ctx, expiredLeasesSQL, ts(now), limit)
}

// expiredLeasesSQL repeats challenges_processing's condition (see
// processingOrdersSQL).
const expiredLeasesSQL = `SELECT id FROM challenges WHERE status = 'processing' AND lease_until < ? ORDER BY lease_until LIMIT ?`

// staleAuthz are the conditions, each with the expiry cutoff as its
// argument, that select the authorizations no kept order can need: pending
// or invalid ones, and deactivated ones that were never valid (a
// deactivated authorization that was valid may belong to a valid order).
// Each condition repeats the WHERE of a partial index (authorizations_pending,
// authorizations_failed), so that the sweep reads only those rows.
var staleAuthz = [...]string{
	`status = 'pending' AND expires_at < ?`,
	`(status = 'invalid' OR (status = 'deactivated' AND validated_at = 0)) AND expires_at < ?`,
}

// deleteStaleOrdersSQL repeats orders_stale's condition.
const deleteStaleOrdersSQL = `DELETE FROM orders WHERE status IN ('pending', 'invalid') AND expires_at < ?`

// DeleteStale deletes what no client can use any more: orders whose stored
// status is pending or invalid and that expired before cutoff, and
// authorizations (see staleAuthz) that expired before cutoff, with their
// challenges. Valid orders, valid authorizations
// and certificates are kept (the inventory). It returns the number of
// orders and authorizations deleted.
func (s *Store) DeleteStale(ctx context.Context, cutoff time.Time) (orders, authzs int64, err error) {
	err = s.lazyTx(ctx, func(tx txConn) error {
		// The upstream orders recorded for them first (RecordRemoteOrder).
		if _, err := tx.ExecContext(ctx, `DELETE FROM remote_orders WHERE order_id IN (SELECT id FROM orders WHERE status IN ('pending', 'invalid') AND expires_at < ?)`,
			ts(cutoff)); err != nil {
			return fmt.Errorf("delete stale remote orders: %w", err)
		}
		res, err := tx.ExecContext(ctx, deleteStaleOrdersSQL, ts(cutoff))
		if err != nil {
			return fmt.Errorf("delete stale orders: %w", err)
		}
		orders, _ = res.RowsAffected()
		authzs = 0 // fn may run twice (writer.do)
		for _, cond := range staleAuthz {
			if _, err := tx.ExecContext(ctx, `DELETE FROM challenges WHERE authz_id IN
				(SELECT id FROM authorizations WHERE `+cond+`)`, ts(cutoff)); err != nil {
				return fmt.Errorf("delete stale challenges: %w", err)
			}
			res, err = tx.ExecContext(ctx, `DELETE FROM authorizations WHERE `+cond, ts(cutoff))
			if err != nil {
				return fmt.Errorf("delete stale authorizations: %w", err)
			}
			n, _ := res.RowsAffected()
			authzs += n
		}
		return nil
	})
	return orders, authzs, err
}
