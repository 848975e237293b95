package ra

import (
	"context"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/va/mpic"
)

// PerspectiveValidator is a Validator that corroborates each attempt from
// remote network perspectives (CA/B BR §3.2.2.9; *mpic.PrimaryValidator).
// The RA finds it by type assertion and then uses Check, which covers the
// challenge and CAA, instead of Validate and CheckCAA.
type PerspectiveValidator interface {
	Check(ctx context.Context, req mpic.Request) mpic.Outcome
}

// perspectiveRecorder is the store's optional record of perspective
// results (*store.Store).
type perspectiveRecorder interface {
	RecordPerspectives(ctx context.Context, authzID string, results []store.PerspectiveResult) error
}

// attempt runs one validation attempt of challenge c: the challenge and
// then CAA (RFC 8659 §3; RFC 8657 needs the challenge type), from every
// perspective when the validator corroborates, recording what each saw on
// the authorization. caaRefused reports a final CAA refusal.
//
// The validator is the one of the authorization's profile (validatorFor:
// its own DNS resolvers when it has them).
func (r *RA) attempt(ctx context.Context, az *store.Authorization, c *store.Challenge, keyAuth string, attempt int) (verr error, caaRefused bool) {
	v, err := r.validatorFor(ctx, az.Profile)
	if err != nil {
		return err, false
	}
	pv, ok := v.(PerspectiveValidator)
	if !ok {
		verr = v.Validate(ctx, az.Identifier, c.Type, c.Token, keyAuth)
		if verr == nil {
			verr = v.CheckCAA(ctx, az.Identifier, az.Wildcard, c.Type, r.accountURIs(az.AccountID))
			caaRefused = verr != nil
		}
		return verr, caaRefused
	}
	out := pv.Check(ctx, mpic.Request{Identifier: az.Identifier, Wildcard: az.Wildcard, Type: c.Type, Token: c.Token,
		KeyAuthorization: keyAuth, AccountURIs: r.accountURIs(az.AccountID)})
	if rec, ok := r.store.(perspectiveRecorder); ok && ctx.Err() == nil {
		now := r.now()
		results := make([]store.PerspectiveResult, len(out.Results))
		for i, res := range out.Results {
			results[i] = store.PerspectiveResult{Attempt: attempt, Perspective: res.Perspective, Status: res.Status, Problem: res.Problem, CheckedAt: now}
		}
		if err := rec.RecordPerspectives(ctx, az.ID, results); err != nil {
			r.log.ErrorContext(ctx, "validation: record perspective results", "authorization", az.ID, "err", err)
		}
	}
	return out.Err, out.Final
}
