package ra

import (
	"context"

	"github.com/certgate/certgate/internal/acme"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/va/mpic"
)

// PerspectiveValidator is a Validator that corroborates each attempt from
// remote network perspectives (CA/B BR §3.2.2.9; *mpic.PrimaryValidator).
// The RA finds it by type assertion and then uses Check, which covers the
// challenge and CAA, instead of Validate and CheckCAA.
type PerspectiveValidator interface {
	// Check validates req's challenge and checks its CAA from this process
	// and the remote perspectives, and decides by the quorum; failures are
	// in the Outcome, not an error.
	Check(ctx context.Context, req mpic.Request) mpic.Outcome
}

// perspectiveRecorder is the store's optional record of perspective
// results (*store.Store).
type perspectiveRecorder interface {
	RecordPerspectives(ctx context.Context, authzID string, results []store.PerspectiveResult) error
}

// attempt runs one validation attempt of challenge c: the challenge and
// CAA (RFC 8659 §3; RFC 8657 needs the challenge type), from every
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
		return r.validateAndCheckCAA(ctx, v, az, c, keyAuth)
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

// validateAndCheckCAA runs v's challenge validation and CAA check of one
// attempt at the same time (the CAA lookups need nothing from the
// challenge's answer), so that the attempt takes the longer of the two
// instead of their sum. The outcome is what running them one after the
// other gives: the challenge's error when it fails (the CAA check is then
// cancelled), else the CAA check's, final when it is a refusal by the
// records (isCAARefusal). Both have ended when it returns.
func (r *RA) validateAndCheckCAA(ctx context.Context, v Validator, az *store.Authorization, c *store.Challenge, keyAuth string) (verr error, caaRefused bool) {
	caaCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	caa := make(chan error, 1)
	accountURIs := r.accountURIs(az.AccountID)
	go func() { caa <- v.CheckCAA(caaCtx, az.Identifier, az.Wildcard, c.Type, accountURIs) }()
	if verr = v.Validate(ctx, az.Identifier, c.Type, c.Token, keyAuth); verr != nil {
		cancel()
		<-caa
		return verr, false
	}
	if cerr := <-caa; cerr != nil {
		return cerr, isCAARefusal(cerr)
	}
	return nil, false
}

// isCAARefusal reports whether err, from a CAA check, is a refusal by the
// records (a caa problem): final, not worth another attempt. A failed
// lookup (a dns problem) is not: a later attempt may read the records.
func isCAARefusal(err error) bool {
	p, ok := acme.AsProblem(err)
	return ok && p.Type == acme.CAA
}
