package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// APIToken is a stored admin API token (table api_tokens). Only the hash
// of the secret is stored; see internal/auth.
type APIToken struct {
	ID         string    // 16 hex digits, the ID part of the token
	Name       string    // unique among unrevoked tokens
	Role       string    // admin | approver | operator | auditor
	SecretHash string    // hex SHA-256 of the whole token string
	CreatedAt  time.Time // UTC
	CreatedBy  string    // actor that created it
	ExpiresAt  time.Time // zero: never
	RevokedAt  time.Time // zero: not revoked
}

const tokenCols = `id, name, role, secret_hash, created_at, created_by, expires_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (*APIToken, error) {
	var t APIToken
	var created, expires, revoked int64
	if err := row.Scan(&t.ID, &t.Name, &t.Role, &t.SecretHash, &created, &t.CreatedBy, &expires, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromTS(created), fromTS(expires), fromTS(revoked)
	return &t, nil
}

// CreateAPIToken inserts t and appends ev (may be nil) to the audit log in
// the same transaction. ErrConflict when an unrevoked token has t's name.
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken, ev *AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Role, t.SecretHash, ts(t.CreatedAt), t.CreatedBy, ts(t.ExpiresAt), ts(t.RevokedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("token name %q: %w", t.Name, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert token: %w", err)
		}
		return appendAudit(ctx, tx, ev)
	})
}

// GetAPIToken returns the token with id, or ErrNotFound.
func (s *Store) GetAPIToken(ctx context.Context, id string) (*APIToken, error) {
	return scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
}

// FindAPIToken returns the token whose ID is ref, else the unrevoked
// token named ref, or ErrNotFound.
func (s *Store) FindAPIToken(ctx context.Context, ref string) (*APIToken, error) {
	t, err := s.GetAPIToken(ctx, ref)
	if !errors.Is(err, ErrNotFound) {
		return t, err
	}
	return scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE name = ? AND revoked_at = 0`, ref))
}

// ListAPITokens returns the tokens ordered by name and creation time,
// revoked ones only when includeRevoked.
func (s *Store) ListAPITokens(ctx context.Context, includeRevoked bool) ([]*APIToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE ? OR revoked_at = 0 ORDER BY name, created_at, id`, includeRevoked)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAPIToken marks the token with id revoked at at and appends ev (may
// be nil) in the same transaction. ErrStale when it is already revoked,
// ErrNotFound when there is no such token.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, at time.Time, ev *AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, ts(at), id)
		if err := checkOne(res, err, "revoke token"); err != nil {
			return err
		}
		return appendAudit(ctx, tx, ev)
	})
}
