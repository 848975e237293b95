package store

import (
	"context"
	"time"
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
