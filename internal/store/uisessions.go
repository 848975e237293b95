package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// UISession is a signed-in session of the web dashboard (table
// ui_sessions, internal/web): who signed in, with an admin API token or
// with OpenID Connect (SSO). Only the hash of the session's secret (the
// cookie's value) is stored.
type UISession struct {
	SecretHash string    // hex SHA-256 of the session secret (the cookie value)
	ID         string    // public name, 16 hex digits (audit object ID)
	TokenID    string    // the API token signed in with (api_tokens.id); "" for an SSO session
	CreatedAt  time.Time // UTC
	LastSeen   time.Time // last request seen, UTC (updated at most once a minute)
	ExpiresAt  time.Time // absolute end, UTC
	// Role is the dashboard role of an SSO session, mapped from its ID
	// token at sign-in; "" for a token's session (it has its token's).
	Role string
	// SSOIssuer and SSOSubject are the ID token's iss and sub claims
	// (OpenID Connect Core 1.0 §2); "" for a token's session.
	SSOIssuer, SSOSubject string
	// DisplayName names the person of an SSO session (email,
	// preferred_username, name or sub); "" for a token's session.
	DisplayName string
}

// IsSSO reports whether the session was signed in with OpenID Connect.
func (u *UISession) IsSSO() bool { return u.TokenID == "" }

const uiSessionCols = `s.secret_hash, s.id, s.token_id, s.created_at, s.last_seen, s.expires_at, s.role, s.sso_issuer, s.sso_subject, s.display_name`

// CreateUISession inserts sess and appends ev (may be nil: none) to the
// audit log in the same transaction.
func (s *Store) CreateUISession(ctx context.Context, sess *UISession, ev *AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		if (sess.TokenID == "") == (sess.SSOSubject == "") {
			return fmt.Errorf("insert UI session: a session has either a token or an SSO subject")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ui_sessions (secret_hash, id, token_id, created_at, last_seen, expires_at, role, sso_issuer, sso_subject, display_name)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sess.SecretHash, sess.ID, sess.TokenID, ts(sess.CreatedAt), ts(sess.LastSeen), ts(sess.ExpiresAt), sess.Role, sess.SSOIssuer, sess.SSOSubject,
			sess.DisplayName); err != nil {
			return fmt.Errorf("insert UI session: %w", err)
		}
		return appendAudit(ctx, tx, ev)
	})
}

// GetUISession returns the session whose secret hashes to secretHash and
// the API token it was signed in with (nil for an SSO session), in one
// statement; ErrNotFound when there is no such session (or its token is
// gone). Whether either has ended is the caller's to judge.
func (s *Store) GetUISession(ctx context.Context, secretHash string) (*UISession, *APIToken, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+uiSessionCols+`, t.id, t.name, t.role, t.secret_hash, t.created_at, t.created_by, t.expires_at, t.revoked_at
		FROM ui_sessions s LEFT JOIN api_tokens t ON t.id = s.token_id WHERE s.secret_hash = ?`, secretHash)
	var u UISession
	var tID, tName, tRole, tHash, tBy sql.NullString
	var created, seen, expires int64
	var tCreated, tExpires, tRevoked sql.NullInt64
	if err := row.Scan(&u.SecretHash, &u.ID, &u.TokenID, &created, &seen, &expires, &u.Role, &u.SSOIssuer, &u.SSOSubject, &u.DisplayName,
		&tID, &tName, &tRole, &tHash, &tCreated, &tBy, &tExpires, &tRevoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, ErrNotFound
		}
		return nil, nil, fmt.Errorf("get UI session: %w", err)
	}
	u.CreatedAt, u.LastSeen, u.ExpiresAt = fromTS(created), fromTS(seen), fromTS(expires)
	if u.IsSSO() {
		return &u, nil, nil
	}
	if !tID.Valid {
		return nil, nil, ErrNotFound
	}
	t := &APIToken{ID: tID.String, Name: tName.String, Role: tRole.String, SecretHash: tHash.String, CreatedBy: tBy.String,
		CreatedAt: fromTS(tCreated.Int64), ExpiresAt: fromTS(tExpires.Int64), RevokedAt: fromTS(tRevoked.Int64)}
	return &u, t, nil
}

// TouchUISession records a request of the session at now (its idle time
// starts again). Not durable on SQLite (a power failure may roll it back:
// the session then looks idle since its previous touch).
func (s *Store) TouchUISession(ctx context.Context, secretHash string, now time.Time) error {
	if _, err := s.lazyExec(ctx, `UPDATE ui_sessions SET last_seen = ? WHERE secret_hash = ?`, ts(now), secretHash); err != nil {
		return fmt.Errorf("touch UI session: %w", err)
	}
	return nil
}

// DeleteUISession deletes the session whose secret hashes to secretHash
// and appends ev (may be nil) in the same transaction; ErrNotFound when
// there is no such session (ev is then not appended).
func (s *Store) DeleteUISession(ctx context.Context, secretHash string, ev *AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM ui_sessions WHERE secret_hash = ?`, secretHash)
		if err != nil {
			return fmt.Errorf("delete UI session: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return fmt.Errorf("delete UI session: %w", err)
			}
			return ErrNotFound
		}
		return appendAudit(ctx, tx, ev)
	})
}

// PruneUISessions deletes the sessions that ended before now: past their
// expires_at, or last seen before idleSince. It returns how many.
func (s *Store) PruneUISessions(ctx context.Context, now, idleSince time.Time) (int64, error) {
	res, err := s.lazyExec(ctx, `DELETE FROM ui_sessions WHERE expires_at <= ? OR last_seen < ?`, ts(now), ts(idleSince))
	if err != nil {
		return 0, fmt.Errorf("prune UI sessions: %w", err)
	}
	return res.RowsAffected()
}

// CertificateCounts are the inventory's certificates by status at one
// time (CountCertificatesByStatus).
type CertificateCounts struct {
	Valid    int64 // not revoked, not expired
	Expiring int64 // of Valid, those whose notAfter is at or before the horizon
	Expired  int64 // not revoked, notAfter passed
	Revoked  int64 // revoked (expired or not)
}

// CountCertificatesByStatus counts the inventory's certificates (issued,
// imported and discovered) by status at now, and the valid ones expiring
// at or before horizon: one statement of four range counts on the
// certificates_status_not_after index (no certificate row is read).
func (s *Store) CountCertificatesByStatus(ctx context.Context, now, horizon time.Time) (CertificateCounts, error) {
	var c CertificateCounts
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM certificates WHERE status = 'valid' AND not_after > ?),
		(SELECT COUNT(*) FROM certificates WHERE status = 'valid' AND not_after > ? AND not_after <= ?),
		(SELECT COUNT(*) FROM certificates WHERE status = 'valid' AND not_after <= ?),
		(SELECT COUNT(*) FROM certificates WHERE status = 'revoked')`, ts(now), ts(now), ts(horizon), ts(now)).
		Scan(&c.Valid, &c.Expiring, &c.Expired, &c.Revoked)
	if err != nil {
		return c, fmt.Errorf("count certificates by status: %w", err)
	}
	return c, nil
}
