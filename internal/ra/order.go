package ra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// challengeTypes lists the challenges offered for an authorization: dns-01
// only for wildcards (RFC 8555 §7.1.3), no dns-01 for IP identifiers
// (RFC 8738 §7).
func challengeTypes(id acme.Identifier, wildcard bool) []string {
	switch {
	case wildcard:
		return []string{acme.ChallengeDNS01}
	case id.Type == acme.IdentifierIP:
		return []string{acme.ChallengeHTTP01, acme.ChallengeTLSALPN01}
	default:
		return []string{acme.ChallengeHTTP01, acme.ChallengeDNS01, acme.ChallengeTLSALPN01}
	}
}

// NewOrder creates an order for account a (RFC 8555 §7.4). Identifiers are
// normalised; a valid authorization of the same account for the same
// identifier and profile, validated within the reuse window and valid for at least
// another day, is reused (the order then expires no later than it); otherwise a pending one is created with its
// challenges, or, for an identifier the profile pre-authorizes, a valid one
// once CAA allows it (checkPreAuthorizedCAA: a caa or dns problem refuses
// the order). notBefore/notAfter, when given (RFC 3339), must lie within
// the maximum validity. With "replaces" (RFC 9773 §5) the order claims
// the named certificate, checked by checkReplaces; a certificate already
// claimed by a live order is alreadyReplaced.
func (r *RA) NewOrder(ctx context.Context, a *store.Account, req acme.NewOrderRequest) (*store.Order, error) {
	o, _, err := r.NewOrderAuthz(ctx, a, req)
	return o, err
}

// NewOrderAuthz is NewOrder returning also the order's authorizations, in
// the order of its AuthzIDs, as they were stored (fresh ones) or read
// (reused ones, with their challenges): what a read of them right after
// the order's creation returns (a fresh one's challenges in the order they
// were made, where a read orders them by type), so that the response is
// rendered without reading them back.
func (r *RA) NewOrderAuthz(ctx context.Context, a *store.Account, req acme.NewOrderRequest) (*store.Order, []*store.Authorization, error) {
	ids, err := NormalizeIdentifiers(req.Identifiers)
	if err != nil {
		return nil, nil, err
	}
	pol, err := r.newOrderPolicy(ctx, a, req, ids)
	if err != nil {
		return nil, nil, err
	}
	now := r.now()
	o := &store.Order{ID: newID(), AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(r.cfg.OrderLifetime),
		Identifiers: ids, CreatedAt: now, UpdatedAt: now, Profile: pol.profile.Name, Attributes: pol.attrs}
	if o.NotBefore, o.NotAfter, err = r.orderValidity(req, now, pol.profile); err != nil {
		return nil, nil, err
	}
	var replacedSerial, prevClaim string
	domainIDs := ids // what certificates-per-domain counts
	if req.Replaces != "" {
		if replacedSerial, prevClaim, domainIDs, err = r.checkReplaces(ctx, a, ids, req.Replaces); err != nil {
			return nil, nil, err
		}
		o.Replaces = req.Replaces
	}
	// The rate limits' reads run while the reusable authorizations are
	// looked for.
	limited := r.limitNewOrder(ctx, a, domainIDs)
	var fresh, authzs []*store.Authorization
	reuse := pol.authzReuse(r.cfg.AuthzReuse)
	for _, id := range ids {
		aid, wildcard := authzIdentifier(id)
		if reuse > 0 {
			// With its challenges, which reusable checks.
			reused, err := r.store.FindValidAuthorization(ctx, a.ID, o.Profile, aid, wildcard, now.Add(24*time.Hour), now.Add(-reuse))
			if err == nil && pol.reusable(reused) {
				o.AuthzIDs = append(o.AuthzIDs, reused.ID)
				authzs = append(authzs, reused)
				continue
			}
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, nil, r.internal(ctx, "authorization lookup", err)
			}
		}
		az := &store.Authorization{ID: newID(), AccountID: a.ID, Identifier: aid, Wildcard: wildcard,
			Status: acme.StatusPending, Expires: now.Add(r.cfg.PendingAuthzLifetime), CreatedAt: now, Profile: o.Profile}
		if pol.preAuthorized(aid, wildcard) {
			// Valid at once, without a challenge (RFC 8555 §7.1.4 allows
			// authorizations the server considers valid out of band).
			az.Status, az.ValidatedAt, az.Expires = acme.StatusValid, now, now.Add(r.cfg.ValidAuthzLifetime)
			fresh = append(fresh, az)
			o.AuthzIDs = append(o.AuthzIDs, az.ID)
			authzs = append(authzs, az)
			continue
		}
		for _, typ := range pol.challengeTypes(aid, wildcard) {
			az.Challenges = append(az.Challenges, store.Challenge{ID: newID(), AuthzID: az.ID, Type: typ, Token: newToken(),
				Status: acme.StatusPending, UpdatedAt: now})
		}
		fresh = append(fresh, az)
		o.AuthzIDs = append(o.AuthzIDs, az.ID)
		authzs = append(authzs, az)
	}
	// Pre-authorized names skip the challenge, not CAA.
	if err := r.checkPreAuthorizedCAA(ctx, a.ID, o.Profile, fresh); err != nil {
		return nil, nil, err
	}
	pending := 0 // pre-authorized ones are valid already
	for _, az := range fresh {
		if az.Status == acme.StatusPending {
			pending++
		}
	}
	spend, refused, err := limited(pending)
	if err != nil {
		return nil, nil, err
	}
	if o.Expires.After(now.Add(r.cfg.PendingAuthzLifetime)) {
		o.Expires = now.Add(r.cfg.PendingAuthzLifetime)
	}
	// The order turns invalid when any of its authorizations expires
	// (OrderStatus), so it expires no later than the first of them: a
	// reused one may have only a day left (RFC 8555 §7.1.3 "expires").
	for _, az := range authzs {
		if az.Expires.Before(o.Expires) {
			o.Expires = az.Expires
		}
	}
	if o.Replaces != "" {
		err = r.store.CreateReplacementOrder(ctx, o, fresh, replacedSerial, prevClaim, spend)
		if errors.Is(err, store.ErrStale) {
			return nil, nil, alreadyReplaced() // another order claimed it meanwhile
		}
	} else {
		err = r.store.CreateOrder(ctx, o, fresh, spend)
	}
	if p := rateRefusal(err, refused); p != nil {
		return nil, nil, p
	}
	if errors.Is(err, store.ErrAccountNotValid) {
		return nil, nil, accountNoLongerValid()
	}
	if err != nil {
		return nil, nil, r.internal(ctx, "order creation", err)
	}
	return o, authzs, nil
}

// maxBackdate is how far in the past a newOrder's notBefore may lie (CA/B
// BR 7.1.2.7: notBefore within 48 hours of the signing operation).
const maxBackdate = 48 * time.Hour

// orderValidity checks the requested notBefore/notAfter against profile
// p's maximum validity. A date is requested when its member is present
// (not empty), whatever its value: 0001-01-01T00:00:00Z is time.Time's
// zero, which the order keeps as "not requested", so a present date is
// never tested with IsZero but checked like any other (a zero one is
// refused as in the past).
func (r *RA) orderValidity(req acme.NewOrderRequest, now time.Time, p *policy.Profile) (nb, na time.Time, err error) {
	parse := func(field, s string) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, acme.NewProblem(acme.Malformed, "%s is not an RFC 3339 date-time: %q", field, s)
		}
		return t.UTC(), nil
	}
	if req.NotBefore != "" || req.NotAfter != "" {
		if iss, ierr := r.issuerFor(p); ierr == nil {
			if _, ok := iss.(issuer.Remote); ok {
				// The CA elsewhere decides the validity: a certificate
				// with another one than requested would break RFC
				// 8555 §7.4 ("the requested contents").
				return nb, na, acme.NewProblem(acme.Malformed, "profile %s is issued by upstream CA %s, which sets the validity itself: "+
					"send the newOrder without notBefore and notAfter", p.Name, iss.Name())
			}
		}
	}
	if nb, err = parse("notBefore", req.NotBefore); err != nil {
		return
	}
	if na, err = parse("notAfter", req.NotAfter); err != nil {
		return
	}
	hasNB, hasNA := req.NotBefore != "", req.NotAfter != ""
	start, end := nb, na
	if !hasNB {
		start = now
	}
	validity, maxValidity := p.ValidityAt(start)
	if !hasNA {
		end = start.Add(validity - time.Second)
	}
	switch {
	case !hasNB && !end.After(now):
		// Without a notBefore the period starts now: say what is wrong
		// with the one date the client sent.
		err = acme.NewProblem(acme.Malformed, "notAfter is in the past")
	case !end.Truncate(time.Second).After(start.Truncate(time.Second)):
		// X.509 encodes whole seconds (the issued period is measured so).
		err = acme.NewProblem(acme.Malformed, "notAfter must be at least one second later than notBefore, counted in whole seconds")
	case periodExceeds(start, end, maxValidity):
		// The period as issued: whole seconds, its notAfter second
		// included (RFC 5280 §4.1.2.5; the BR count it so). A longer one
		// could only be issued shortened, and RFC 8555 §7.4 forbids a
		// certificate with other contents than requested.
		err = acme.NewProblem(acme.Malformed, "requested validity exceeds the maximum of %s of profile %s (the period includes its notAfter second: notAfter may be at most notBefore + %s - 1s)",
			config.FormatDuration(maxValidity), p.Name, config.FormatDuration(maxValidity))
	case !end.After(now):
		err = acme.NewProblem(acme.Malformed, "notAfter is in the past")
	case hasNB && nb.Before(now.Add(-maxBackdate)):
		err = acme.NewProblem(acme.Malformed, "notBefore may be at most %s in the past (CA/B BR 7.1.2.7)", config.FormatDuration(maxBackdate))
	case start.After(now.Add(r.cfg.OrderLifetime)):
		err = acme.NewProblem(acme.Malformed, "notBefore is too far in the future")
	}
	if err == nil {
		if iss, ierr := r.issuerFor(p); ierr == nil {
			err = checkIssuerNotAfter(iss, p, nb, na, "")
		}
	}
	return
}

// notAfterLimit is the latest notAfter iss gives a certificate signed now
// (issuer.NotAfterLimiter: the built-in CA's intermediate's notAfter);
// zero when iss has no such limit.
func notAfterLimit(iss issuer.Issuer) time.Time {
	if l, ok := iss.(issuer.NotAfterLimiter); ok {
		return l.MaxNotAfter()
	}
	return time.Time{}
}

// checkIssuerNotAfter refuses (malformed) a requested notAfter na after
// the notAfter of the CA certificate that signs profile p's certificates
// (notAfterLimit of iss), and a requested notBefore nb not before it
// (zero: not requested): a certificate cannot outlive its issuer, and one
// cut to end with it would not have the requested notAfter (RFC 8555
// §7.4). The detail names the intermediate's notAfter and
// `certgate ca rotate`; then is appended to it.
func checkIssuerNotAfter(iss issuer.Issuer, p *policy.Profile, nb, na time.Time, then string) error {
	limit := notAfterLimit(iss)
	if limit.IsZero() {
		return nil
	}
	const layout = time.RFC3339
	// Only for a refusal: this runs at every newOrder and finalize.
	what := func() string {
		return fmt.Sprintf("the intermediate CA that signs the certificates of profile %s expires on %s, and a certificate cannot outlive its issuer", p.Name, limit.UTC().Format(layout))
	}
	switch {
	case !na.IsZero() && na.Truncate(time.Second).After(limit):
		return acme.NewProblem(acme.Malformed, "notAfter %s is too late: %s; request an earlier notAfter, or none (the certificate then ends with the intermediate), "+
			"or ask the operator to make a new intermediate (certgate ca rotate)%s", na.UTC().Format(layout), what(), then)
	case !nb.IsZero() && !nb.Truncate(time.Second).Before(limit):
		return acme.NewProblem(acme.Malformed, "notBefore %s is too late: %s; ask the operator to make a new intermediate (certgate ca rotate)%s",
			nb.UTC().Format(layout), what(), then)
	}
	return nil
}

// periodExceeds reports whether the period from start to end, in whole
// seconds with its end second included (RFC 5280 §4.1.2.5; the CA/B BR
// count it so), is longer than max. It compares times: end - start as a
// time.Duration saturates at about 292 years, and adding the end second
// to the saturated value overflowed into a negative period, so that a
// notAfter in the year 9999 passed as short enough.
func periodExceeds(start, end time.Time, max time.Duration) bool {
	return end.Truncate(time.Second).After(start.Truncate(time.Second).Add(max - time.Second))
}

// DeactivateAuthorization deactivates a pending or valid authorization of
// account a (RFC 8555 §7.5.2) that has not expired: an expired one stays
// expired, a final state (RFC 8555 §7.1.6), as invalid, deactivated and
// revoked ones are (malformed). An account no longer valid (a may be a
// cached copy; checkAccountStillValid) is unauthorized.
func (r *RA) DeactivateAuthorization(ctx context.Context, a *store.Account, id string) (*store.Authorization, error) {
	if err := r.checkAccountStillValid(ctx, a); err != nil {
		return nil, err
	}
	err := r.store.DeactivateAuthorization(ctx, id, r.now())
	if errors.Is(err, store.ErrStale) {
		return nil, acme.NewProblem(acme.Malformed, "only pending or valid authorizations that have not expired can be deactivated")
	}
	if err != nil {
		return nil, r.internal(ctx, "authorization deactivation", err)
	}
	return r.store.GetAuthorization(ctx, id)
}
