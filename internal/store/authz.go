package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// authzWithChallengesQuery reads an authorization and its challenges in
// one statement: one row per challenge, ordered by type. An authorization
// without challenges yields no row.
const authzWithChallengesQuery = `SELECT a.id, a.account_id, a.ident_type, a.ident_value, a.wildcard, a.status, a.expires_at, a.validated_at, a.created_at, a.profile,
	c.id, c.type, c.token, c.status, c.validated_at, c.error, c.attempts, c.updated_at
	FROM authorizations a JOIN challenges c ON c.authz_id = a.id WHERE a.id = ? ORDER BY c.type`

// getAuthorization is GetAuthorization in one query for the authorization
// and its challenges; only when that finds no row (no such authorization,
// or one without challenges) does a second query read the authorization
// alone.
func (s *Store) getAuthorization(ctx context.Context, id string) (a *Authorization, err error) {
	err = s.hot(ctx, func(q querier) error {
		a, err = getAuthorization(ctx, q, id)
		return err
	})
	return a, err
}

func getAuthorization(ctx context.Context, q querier, id string) (*Authorization, error) {
	a, err := scanAuthzWithChallenges(ctx, q, authzWithChallengesQuery, id)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return scanAuthz(q.QueryRowContext(ctx, `SELECT `+authzCols+` FROM authorizations WHERE id = ?`, id))
	}
	return a, nil
}

// challengeAuthzQuery is authzWithChallengesQuery for the authorization
// of the challenge with the given ID.
const challengeAuthzQuery = `SELECT a.id, a.account_id, a.ident_type, a.ident_value, a.wildcard, a.status, a.expires_at, a.validated_at, a.created_at, a.profile,
	c.id, c.type, c.token, c.status, c.validated_at, c.error, c.attempts, c.updated_at
	FROM authorizations a JOIN challenges c ON c.authz_id = a.id WHERE a.id = (SELECT authz_id FROM challenges WHERE id = ?) ORDER BY c.type`

// GetChallengeAuthorization returns the challenge with id and its
// authorization with all of its challenges (as GetAuthorization), read in
// one statement; ErrNotFound when there is no such challenge. The
// challenge returned is a copy of its entry in the authorization's
// Challenges.
func (s *Store) GetChallengeAuthorization(ctx context.Context, id string) (c *Challenge, a *Authorization, err error) {
	err = s.hot(ctx, func(q querier) error {
		c, a, err = challengeIn(ctx, q, id)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return c, a, nil
}

// scanAuthzWithChallenges runs query (one of the queries above, one row
// per challenge) with arg and returns the authorization with its
// challenges; nil when it found no row.
func scanAuthzWithChallenges(ctx context.Context, q querier, query, arg string) (*Authorization, error) {
	rows, err := q.QueryContext(ctx, query, arg)
	if err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	defer rows.Close()
	var a Authorization
	for rows.Next() {
		var c Challenge
		var exp, val, created, cval, cupd int64
		var perr *string
		if err := rows.Scan(&a.ID, &a.AccountID, &a.Identifier.Type, &a.Identifier.Value, &a.Wildcard, &a.Status, &exp, &val, &created, &a.Profile,
			&c.ID, &c.Type, &c.Token, &c.Status, &cval, &perr, &c.Attempts, &cupd); err != nil {
			return nil, fmt.Errorf("scan authorization: %w", err)
		}
		a.Expires, a.ValidatedAt, a.CreatedAt = fromTS(exp), fromTS(val), fromTS(created)
		c.AuthzID, c.ValidatedAt, c.UpdatedAt = a.ID, fromTS(cval), fromTS(cupd)
		if c.Error, err = unmarshalProblem(perr); err != nil {
			return nil, fmt.Errorf("challenge error: %w", err)
		}
		a.Challenges = append(a.Challenges, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	if len(a.Challenges) == 0 {
		return nil, nil
	}
	return &a, nil
}

const authzCols = `id, account_id, ident_type, ident_value, wildcard, status, expires_at, validated_at, created_at, profile`

func scanAuthz(row interface{ Scan(...any) error }) (*Authorization, error) {
	var a Authorization
	var exp, val, created int64
	if err := row.Scan(&a.ID, &a.AccountID, &a.Identifier.Type, &a.Identifier.Value, &a.Wildcard, &a.Status, &exp, &val, &created, &a.Profile); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan authorization: %w", err)
	}
	a.Expires, a.ValidatedAt, a.CreatedAt = fromTS(exp), fromTS(val), fromTS(created)
	return &a, nil
}

const challengeCols = `id, authz_id, type, token, status, validated_at, error, attempts, updated_at`

func scanChallenge(row interface{ Scan(...any) error }) (*Challenge, error) {
	var c Challenge
	var val, upd int64
	var perr *string
	if err := row.Scan(&c.ID, &c.AuthzID, &c.Type, &c.Token, &c.Status, &val, &perr, &c.Attempts, &upd); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan challenge: %w", err)
	}
	c.ValidatedAt, c.UpdatedAt = fromTS(val), fromTS(upd)
	p, err := unmarshalProblem(perr)
	if err != nil {
		return nil, fmt.Errorf("challenge error: %w", err)
	}
	c.Error = p
	return &c, nil
}

// GetAuthorization returns the authorization with id and its challenges
// (ordered by type), or ErrNotFound.
func (s *Store) GetAuthorization(ctx context.Context, id string) (*Authorization, error) {
	return s.getAuthorization(ctx, id)
}

// GetAuthorizations returns the authorizations with the given ids, in that
// order, without challenges. ErrNotFound if any is missing.
func (s *Store) GetAuthorizations(ctx context.Context, ids []string) (out []*Authorization, err error) {
	if len(ids) == 0 {
		return nil, nil
	}
	err = s.hot(ctx, func(q querier) error {
		out, err = getAuthorizations(ctx, q, ids)
		return err
	})
	return out, err
}

func getAuthorizations(ctx context.Context, q querier, ids []string) ([]*Authorization, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, `SELECT `+authzCols+` FROM authorizations WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("authorizations: %w", err)
	}
	defer rows.Close()
	byID := make(map[string]*Authorization, len(ids))
	for rows.Next() {
		a, err := scanAuthz(rows)
		if err != nil {
			return nil, err
		}
		byID[a.ID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("authorizations: %w", err)
	}
	out := make([]*Authorization, len(ids))
	for i, id := range ids {
		a, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("authorization %s: %w", id, ErrNotFound)
		}
		out[i] = a
	}
	return out, nil
}

// FindValidAuthorization returns the newest valid authorization of
// accountID for the identifier (and wildcard flag), created for profile
// (Authorization.Profile), that expires after minExpires and was validated
// after validatedAfter, with its challenges (as GetAuthorization), or
// ErrNotFound. The challenges are read in the same read job, and only when
// there is such an authorization.
func (s *Store) FindValidAuthorization(ctx context.Context, accountID, profile string, id acme.Identifier, wildcard bool, minExpires, validatedAfter time.Time) (a *Authorization, err error) {
	err = s.hot(ctx, func(q querier) error {
		a, err = scanAuthz(q.QueryRowContext(ctx, findValidAuthzSQL, accountID, id.Type, id.Value, wildcard, ts(minExpires), ts(validatedAfter), profile))
		if err != nil {
			return err
		}
		a, err = getAuthorization(ctx, q, a.ID)
		return err
	})
	return a, err
}

// ValidAuthorizationsFor reports whether accountID holds, for every
// identifier in ids, a valid unexpired authorization at now (used to
// authorize revocation, RFC 8555 §7.6). A dns identifier whose value starts
// with "*." (a wildcard name of a certificate) is held only by an
// authorization for the wildcard (RFC 8555 §7.1.4: the name without "*.",
// wildcard true, which only dns-01 validates); any other by an
// authorization for its value, wildcard or not.
func (s *Store) ValidAuthorizationsFor(ctx context.Context, accountID string, ids []acme.Identifier, now time.Time) (bool, error) {
	for _, id := range ids {
		var n int
		q, args := countValidAuthzSQL, []any{accountID, id.Type, id.Value, ts(now)}
		if base, ok := strings.CutPrefix(id.Value, "*."); ok && id.Type == acme.IdentifierDNS {
			q, args = countValidWildcardAuthzSQL, []any{accountID, id.Type, base, true, ts(now)}
		}
		if err := s.r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			return false, fmt.Errorf("authorizations: %w", err)
		}
		if n == 0 {
			return false, nil
		}
	}
	return true, nil
}

// DeactivateAuthorization moves authorization id to deactivated, at the
// client's request (RFC 8555 §7.5.2), only while it is pending or valid
// and has not expired by now: an expired authorization is in a final
// state (RFC 8555 §7.1.6; ra.AuthorizationStatus serves it as expired).
// ErrStale otherwise, also when there is no such authorization.
func (s *Store) DeactivateAuthorization(ctx context.Context, id string, now time.Time) error {
	res, err := s.pointExec(ctx, `UPDATE authorizations SET status = 'deactivated' WHERE id = ? AND status IN ('pending', 'valid') AND expires_at > ?`, id, ts(now))
	return checkOne(res, err, "deactivate authorization")
}

// SetAuthorizationStatus moves authorization id from one of the stored
// statuses in from to to. ErrStale when it is in none of them.
func (s *Store) SetAuthorizationStatus(ctx context.Context, id string, from []string, to string) error {
	if len(from) == 0 {
		return fmt.Errorf("set authorization status: no source status: %w", ErrStale)
	}
	args := []any{to, id}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := s.pointExec(ctx, `UPDATE authorizations SET status = ? WHERE id = ? AND status IN (?`+strings.Repeat(",?", len(from)-1)+`)`, args...)
	return checkOne(res, err, "set authorization status")
}

// GetChallenge returns the challenge with id, or ErrNotFound.
func (s *Store) GetChallenge(ctx context.Context, id string) (c *Challenge, err error) {
	err = s.hot(ctx, func(q querier) error {
		c, err = scanChallenge(q.QueryRowContext(ctx, `SELECT `+challengeCols+` FROM challenges WHERE id = ?`, id))
		return err
	})
	return c, err
}

// authzPendingAt is the condition of an UPDATE of challenges that the
// challenge's authorization is pending and unexpired at its argument: a
// lookup of that one authorization by primary key (an IN over a subquery
// would list every pending authorization first). The status test is
// written "(... = 'pending') IS TRUE" (see below).
const authzPendingAt = `EXISTS (SELECT 1 FROM authorizations a WHERE a.id = challenges.authz_id AND (a.status = 'pending') IS TRUE AND a.expires_at > ?)`

// A row read or changed by its primary key only in a given status tests
// the status as "(status = 'pending') IS TRUE", not "status = 'pending'"
// (status is never NULL, so both mean the same): PostgreSQL proves from
// the plain form that a partial index on that status (orders_stale,
// authorizations_pending) holds the row, and, where its statistics say
// that index is nearly empty (taken before a backlog of abandoned orders
// or authorizations built up, until the next ANALYZE), it scanned the
// whole index for the one id instead of looking the id up: with 60,000
// pending orders and statistics taken without them, StartIssuance's
// UPDATE read all 60,000 entries (23.8 ms, against 0.38 ms by the primary
// key; docs/performance.md, "PostgreSQL throughput (session 16)"). The
// IS TRUE form proves nothing about the partial indexes, so the plan is
// the primary key's whatever the statistics. SQLite reads such a row by
// its primary key either way.

// StartChallenge moves challenge id from pending to processing, only while
// its authorization is pending. ErrStale otherwise (RFC 8555 §7.5.1).
func (s *Store) StartChallenge(ctx context.Context, id string, now time.Time) error {
	res, err := s.pointExec(ctx, `UPDATE challenges SET status = 'processing', updated_at = ?
		WHERE id = ? AND status = 'pending' AND `+authzPendingAt, ts(now), id, ts(now))
	return checkOne(res, err, "start challenge")
}

// RecordAttempt counts one failed validation attempt of a processing
// challenge and stores its last error, keeping it processing for a retry.
func (s *Store) RecordAttempt(ctx context.Context, id string, perr *acme.Problem, now time.Time) error {
	pj, err := marshalProblem(perr)
	if err != nil {
		return err
	}
	res, err := s.pointExec(ctx, `UPDATE challenges SET attempts = attempts + 1, error = ?, updated_at = ? WHERE id = ? AND status = 'processing'`, pj, ts(now), id)
	return checkOne(res, err, "record attempt")
}

// finishChallengeSQL writes a processing challenge's result.
const finishChallengeSQL = `UPDATE challenges SET status = ?, error = ?, validated_at = ?, updated_at = ? WHERE id = ? AND status = 'processing'`

// EndChallenge ends a processing challenge whose authorization is no
// longer pending (another of its challenges, a deactivation or its expiry
// decided it while the challenge was validated, where FinishChallenge
// refuses): the challenge row becomes FinishedChallenge(c, perr, now) and
// the authorization is left as it is. Without it such a challenge would
// stay processing and be validated again at every sweep. ErrStale when the
// challenge is no longer processing.
func (s *Store) EndChallenge(ctx context.Context, c *Challenge, perr *acme.Problem, now time.Time) error {
	f := FinishedChallenge(c, perr, now)
	pj, err := marshalProblem(f.Error)
	if err != nil {
		return err
	}
	res, err := s.pointExec(ctx, finishChallengeSQL, f.Status, pj, ts(f.ValidatedAt), ts(f.UpdatedAt), c.ID)
	return checkOne(res, err, "end challenge")
}

// FinishChallenge ends a processing challenge: valid (perr nil) also makes
// its authorization valid with expiry authzExpires; invalid makes the
// authorization invalid. One transaction; ErrStale when the challenge is no
// longer processing or the authorization no longer pending.
// The challenge row it writes is FinishedChallenge(c, perr, now).
func (s *Store) FinishChallenge(ctx context.Context, c *Challenge, perr *acme.Problem, now, authzExpires time.Time) error {
	f := FinishedChallenge(c, perr, now)
	pj, err := marshalProblem(f.Error)
	if err != nil {
		return err
	}
	return s.pointTx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, finishChallengeSQL, f.Status, pj, ts(f.ValidatedAt), ts(f.UpdatedAt), c.ID)
		if err := checkOne(res, err, "finish challenge"); err != nil {
			return err
		}
		if perr == nil {
			res, err = tx.ExecContext(ctx, `UPDATE authorizations SET status = 'valid', validated_at = ?, expires_at = ? WHERE id = ? AND (status = 'pending') IS TRUE`,
				ts(now), ts(authzExpires), c.AuthzID)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE authorizations SET status = 'invalid' WHERE id = ? AND (status = 'pending') IS TRUE`, c.AuthzID)
		}
		return checkOne(res, err, "finish authorization")
	})
}

// FinishedChallenge returns a copy of c as FinishChallenge stores it when
// it ends c with perr at now: valid without an error (perr nil) or invalid
// with perr, validated and updated at now. What a read of the challenge
// returns after a FinishChallenge that succeeded.
func FinishedChallenge(c *Challenge, perr *acme.Problem, now time.Time) *Challenge {
	f := *c
	f.Status, f.Error, f.ValidatedAt, f.UpdatedAt = acme.StatusValid, nil, now, now
	if perr != nil {
		f.Status, f.Error = acme.StatusInvalid, perr
	}
	return &f
}
