package store

import (
	"context"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// PerspectiveResult is what one network perspective saw at one validation
// attempt of an authorization (multi-perspective validation, CA/B BR
// §3.2.2.9; internal/va/mpic).
type PerspectiveResult struct {
	Attempt     int           // 0-based attempt of the challenge
	Perspective string        // "primary" or a remote perspective's name
	Status      string        // valid | invalid | unreachable
	Problem     *acme.Problem // why, when not valid; nil when valid
	CheckedAt   time.Time     // UTC
}

// RecordPerspectives stores the results of one attempt for authorization
// authzID, replacing those of the same attempt and perspective (an attempt
// run again after a node died).
func (s *Store) RecordPerspectives(ctx context.Context, authzID string, results []PerspectiveResult) error {
	return s.pointTx(ctx, func(tx txConn) error {
		for _, r := range results {
			prob, err := marshalProblem(r.Problem)
			if err != nil {
				return fmt.Errorf("perspective problem: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO authorization_perspectives (authz_id, attempt, perspective, status, problem, checked_at)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (authz_id, attempt, perspective) DO UPDATE SET status = excluded.status,
				problem = excluded.problem, checked_at = excluded.checked_at`,
				authzID, r.Attempt, r.Perspective, r.Status, prob, ts(r.CheckedAt)); err != nil {
				return fmt.Errorf("record perspective result: %w", err)
			}
		}
		return nil
	})
}

// AuthorizationPerspectives returns the perspective results recorded for
// authorization authzID, by attempt, with the primary first and the
// remote perspectives by name.
func (s *Store) AuthorizationPerspectives(ctx context.Context, authzID string) ([]PerspectiveResult, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT attempt, perspective, status, problem, checked_at FROM authorization_perspectives
		WHERE authz_id = ? ORDER BY attempt, CASE WHEN perspective = 'primary' THEN 0 ELSE 1 END, perspective`, authzID)
	if err != nil {
		return nil, fmt.Errorf("perspective results: %w", err)
	}
	defer rows.Close()
	var out []PerspectiveResult
	for rows.Next() {
		var r PerspectiveResult
		var prob *string
		var at int64
		if err := rows.Scan(&r.Attempt, &r.Perspective, &r.Status, &prob, &at); err != nil {
			return nil, fmt.Errorf("scan perspective result: %w", err)
		}
		if r.Problem, err = unmarshalProblem(prob); err != nil {
			return nil, fmt.Errorf("perspective problem: %w", err)
		}
		r.CheckedAt = fromTS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
