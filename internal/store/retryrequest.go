package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RequestChallengeRetry records at as the time of a client's request for
// a retry of challenge id (RFC 8555 §8.2: the response POSTed again to a
// processing challenge), for the node that validates it and reads it
// with ChallengeRetryRequestedAt while it waits between attempts. The
// stored time only moves forward: an earlier at (a node whose clock is
// behind) leaves a later one in place. One conditional UPDATE by primary
// key; ErrStale, with nothing changed, when the challenge is not
// processing (or does not exist).
func (s *Store) RequestChallengeRetry(ctx context.Context, id string, at time.Time) error {
	res, err := s.pointExec(ctx, `UPDATE challenges SET retry_requested_at = CASE WHEN retry_requested_at > ? THEN retry_requested_at ELSE ? END
		WHERE id = ? AND status = 'processing'`, ts(at), ts(at), id)
	return checkOne(res, err, "request challenge retry")
}

// ChallengeRetryRequestedAt returns the time of the latest request for a
// retry of challenge id that RequestChallengeRetry recorded, the zero time
// when there was none. One read by primary key; ErrNotFound when there is
// no such challenge.
func (s *Store) ChallengeRetryRequestedAt(ctx context.Context, id string) (time.Time, error) {
	var at int64
	err := s.hot(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, `SELECT retry_requested_at FROM challenges WHERE id = ?`, id).Scan(&at)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, fmt.Errorf("challenge %s: %w", id, ErrNotFound)
	case err != nil:
		return time.Time{}, fmt.Errorf("challenge retry request: %w", err)
	}
	return fromTS(at), nil
}
