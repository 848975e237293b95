package ra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
)

// Rate limits (internal/ratelimit, docs/rate-limits.md). Each check is one
// function called from the request path it guards, so that the account
// and order logic stays readable.

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the client's address (host:port or
// bare IP, as http.Request.RemoteAddr), which the new-accounts-per-ip
// limit counts and the RA's audit events record as their Source.
// Request-scoped, set by the front end.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// clientAddrString returns the address WithClientAddr stored as given
// (host:port), or "": the Source of the audit events of the request.
func clientAddrString(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}

// clientAddr returns the address WithClientAddr stored, if any.
func clientAddr(ctx context.Context) (netip.Addr, bool) {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// rateLimitSubjects are the override subjects of account a, most specific
// first: the account itself, then the external account binding key it was
// created with (RFC 8555 §7.3.4), so that an override for the key applies
// to every account bound with it.
func rateLimitSubjects(a *store.Account) []string {
	subjects := []string{ratelimit.AccountSubject(a.ID)}
	if a.EABKid != "" {
		subjects = append(subjects, ratelimit.EABSubject(a.EABKid))
	}
	return subjects
}

// limitNewAccount prepares the spend of the client address's
// new-accounts-per-ip bucket for the write that creates the account
// (store.CreateAccountSpend, CreateAccountEAB), so that it is spent only
// when an account is created: not by a request that gets the account a
// concurrent one with the same key created (on any node). See
// limitNewOrder for sp and refused.
func (r *RA) limitNewAccount(ctx context.Context) (sp *store.RateSpend, refused func() error, err error) {
	if r.limits == nil {
		return nil, nil, nil
	}
	addr, ok := clientAddr(ctx)
	if !ok {
		return nil, nil, nil
	}
	key := ratelimit.IPKey(addr)
	sp, refused, err = r.limits.SpendIn(ctx, ratelimit.Request{Limit: ratelimit.NewAccountsPerIP, Key: key,
		Subjects: []string{ratelimit.IPSubject(key)}})
	return sp, refused, r.rateLimitErr(ctx, err)
}

// limitNewOrder guards newOrder: failed-validations-per-account and
// certificates-per-domain (for the registered domains of domainIDs: the
// order's identifiers, or for an order replacing a certificate, RFC 9773,
// those it does not renew) are checked (not spent), pending
// authorizations counted with the fresh ones the order adds, then
// new-orders-per-account prepared for spending in the order's transaction.
//
// It starts the checks' reads and returns at once, so that they run while
// newOrder looks for reusable authorizations; finish, called once with
// the number of fresh pending authorizations the order adds, waits for
// them and returns the spend for CreateOrder (nil: nothing to spend) and,
// for when that fails with store.ErrRateLimited, refused, which gives the
// problem.
func (r *RA) limitNewOrder(ctx context.Context, a *store.Account, domainIDs []acme.Identifier) (finish func(fresh int) (sp *store.RateSpend, refused func() error, err error)) {
	if r.limits == nil {
		return func(int) (*store.RateSpend, func() error, error) { return nil, nil, nil }
	}
	subjects := rateLimitSubjects(a)
	spend := ratelimit.Request{Limit: ratelimit.NewOrdersPerAccount, Key: a.ID, Subjects: subjects}
	// new-orders-per-account is checked with the others too, so that a
	// refusal reports the longest wait of all that refuse.
	checks := []ratelimit.Request{{Limit: ratelimit.FailedValidationsPerAccount, Key: a.ID, Subjects: subjects}, spend}
	checks = append(checks, r.domainRequests(subjects, domainIDs)...)
	wait := r.limits.StartNewOrderChecks(ctx, checks, a.ID, subjects)
	return func(fresh int) (sp *store.RateSpend, refused func() error, err error) {
		if err := wait(fresh); err != nil {
			return nil, nil, r.rateLimitErr(ctx, err)
		}
		sp, refused, err = r.limits.SpendIn(ctx, spend)
		return sp, refused, r.rateLimitErr(ctx, err)
	}
}

// limitCertificate prepares the spend of certificates-per-domain for every
// registered domain of order o that it counts (domainCounted: a
// replacement's renewed domains are exempt), all or none, in the
// transaction that starts its issuance or, for an order that waits for
// approval, requests the approval (see limitNewOrder for sp and refused).
func (r *RA) limitCertificate(ctx context.Context, a *store.Account, o *store.Order) (sp *store.RateSpend, refused func() error, err error) {
	if r.limits == nil {
		return nil, nil, nil
	}
	ids, err := r.domainCounted(ctx, o)
	if err != nil || len(ids) == 0 {
		return nil, nil, err
	}
	sp, refused, err = r.limits.SpendIn(ctx, r.domainRequests(rateLimitSubjects(a), ids)...)
	return sp, refused, r.rateLimitErr(ctx, err)
}

// rateRefusal returns the rateLimited problem of a write that failed with
// store.ErrRateLimited, nil for any other outcome.
func rateRefusal(err error, refused func() error) error {
	if refused == nil || !errors.Is(err, store.ErrRateLimited) {
		return nil
	}
	return refused()
}

// chargeFailedValidation charges the account's failed-validations bucket
// for a challenge that ended invalid for a reason the client answers for
// (any problem but serverInternal; the caller decides).
func (r *RA) chargeFailedValidation(ctx context.Context, accountID string) {
	if r.limits == nil {
		return
	}
	subjects := []string{ratelimit.AccountSubject(accountID)}
	if a, err := r.store.GetAccount(ctx, accountID); err == nil {
		subjects = rateLimitSubjects(a)
	}
	if err := r.limits.Charge(ctx, ratelimit.Request{Limit: ratelimit.FailedValidationsPerAccount, Key: accountID, Subjects: subjects}); err != nil {
		r.log.ErrorContext(ctx, "rate limits: charge failed validation", "account", accountID, "err", err)
	}
}

// domainRequests returns one certificates-per-domain request per distinct
// registered domain of ids; the account's subjects come before the
// domain's own for overrides.
func (r *RA) domainRequests(subjects []string, ids []acme.Identifier) []ratelimit.Request {
	seen := map[string]bool{}
	var out []ratelimit.Request
	for _, id := range ids {
		d := ratelimit.RegisteredDomain(id.Value)
		if seen[d] {
			continue
		}
		seen[d] = true
		out = append(out, ratelimit.Request{Limit: ratelimit.CertificatesPerDomain, Key: d,
			Subjects: append(append([]string{}, subjects...), ratelimit.DomainSubject(d))})
	}
	return out
}

// rateLimitErr passes rateLimited problems and nil through and turns
// storage errors into serverInternal.
func (r *RA) rateLimitErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := acme.AsProblem(err); ok {
		return err
	}
	return r.internal(ctx, "rate limit check", err)
}

// rateBucketPruner is the store's optional pruning of full rate buckets.
type rateBucketPruner interface {
	PruneRateBuckets(ctx context.Context, now time.Time) (int64, error)
}

// pruneRateBuckets deletes rate buckets that are full again (sweep).
func (r *RA) pruneRateBuckets(ctx context.Context, now time.Time) error {
	p, ok := r.store.(rateBucketPruner)
	if !ok || r.limits == nil {
		return nil
	}
	if _, err := p.PruneRateBuckets(ctx, now); err != nil {
		return fmt.Errorf("prune rate buckets: %w", err)
	}
	return nil
}
