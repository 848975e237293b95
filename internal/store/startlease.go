package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// StartChallengeLeased is StartChallenge that also gives owner the
// challenge's validation lease until until, in the same statement: the
// node that starts a challenge validates it, and no other node's sweep
// sees it as abandoned (processing with an expired lease) in between.
// ErrStale when the challenge is not pending or its authorization is not
// pending and unexpired at now (RFC 8555 §7.5.1).
func (s *Store) StartChallengeLeased(ctx context.Context, id, owner string, now, until time.Time) error {
	res, err := s.pointExec(ctx, startChallengeLeasedSQL, ts(now), owner, ts(until), id, ts(now))
	return checkOne(res, err, "start challenge")
}

const startChallengeLeasedSQL = `UPDATE challenges SET status = 'processing', updated_at = ?, lease_owner = ?, lease_until = ?
	WHERE id = ? AND status = 'pending' AND ` + authzPendingAt

// RespondChallenge reads challenge id with its authorization (as
// GetChallengeAuthorization) and, when decide says so, starts it as
// StartChallengeLeased does, all in one point write: on SQLite one turn of
// the writer goroutine instead of a read and then a write (RFC 8555 §7.5.1,
// the client's response to a challenge).
//
// decide gets the challenge and its authorization as read. It returns
// whether to start the challenge, or an error, which RespondChallenge
// returns as is with nothing changed. On SQLite it runs on the writer
// goroutine inside its transaction: it must be quick and must not use the
// store. It may be called more than once (see writer.do).
//
// It returns the challenge as it stands afterwards (processing, updated at
// now, when started is true; when the conditional start found it changed
// meanwhile, as it was then read again), and its authorization as read.
// Errors: ErrNotFound when there is no such challenge, decide's error, or
// the database's.
func (s *Store) RespondChallenge(ctx context.Context, id, owner string, now, until time.Time,
	decide func(c *Challenge, a *Authorization) (bool, error)) (c *Challenge, a *Authorization, started bool, err error) {
	err = s.pointTx(ctx, func(tx txConn) error {
		c, a, started = nil, nil, false
		cur, az, err := challengeIn(ctx, tx, id)
		if err != nil {
			return err
		}
		c, a = cur, az
		start, err := decide(cur, az)
		if err != nil || !start {
			return err
		}
		res, err := tx.ExecContext(ctx, startChallengeLeasedSQL, ts(now), owner, ts(until), id, ts(now))
		switch err := checkOne(res, err, "start challenge"); {
		case err == nil:
			st := *cur
			st.Status, st.UpdatedAt = acme.StatusProcessing, now
			c, started = &st, true
			return nil
		case errors.Is(err, ErrStale):
			// Not pending any more, or its authorization no longer
			// pending: answer the challenge as it now stands.
			c, _, err = challengeIn(ctx, tx, id)
			return err
		default:
			return err
		}
	})
	if err != nil {
		return nil, nil, false, err
	}
	return c, a, started, nil
}

// challengeIn reads challenge id and its authorization with q, as
// GetChallengeAuthorization does; ErrNotFound when there is none.
func challengeIn(ctx context.Context, q querier, id string) (*Challenge, *Authorization, error) {
	a, err := scanAuthzWithChallenges(ctx, q, challengeAuthzQuery, id)
	if err != nil {
		return nil, nil, err
	}
	if a != nil {
		for i := range a.Challenges {
			if a.Challenges[i].ID == id {
				c := a.Challenges[i]
				return &c, a, nil
			}
		}
	}
	return nil, nil, fmt.Errorf("challenge %s: %w", id, ErrNotFound)
}
