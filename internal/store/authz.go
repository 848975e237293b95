package store

import (
	"context"
	"fmt"
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
