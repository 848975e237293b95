package ra

import (
	"context"
	"errors"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// recheckAtSigning checks order o of account a again just before its
// certificate is signed at now, with profile prof as it is now, at
// finalize and before an approved order is issued:
//
//   - its identifiers and account against the profile (identifierPolicy,
//     the newOrder check): allow/deny rules, identifier types, the
//     wildcard flag and requireEAB may have been tightened after the
//     order was created. The error is the newOrder problem
//     (rejectedIdentifier with subproblems, or externalAccountRequired)
//     saying that the profile changed;
//   - its custom attributes against the profile's declarations
//     (recheckAttributes): an attribute may have become required, or a
//     value no longer allowed;
//   - its notBefore/notAfter against the signing time
//     (checkSigningValidity);
//   - a requested notAfter against the profile's maximum validity now
//     (checkProfileValidity): the maximum may have been lowered after
//     the order was created;
//   - a requested notAfter (or notBefore) against the notAfter of the
//     intermediate that signs now (checkIssuerNotAfter): a certificate
//     never outlives its issuer.
//
// An order that can no longer be issued whatever CSR is sent — refused
// identifiers, a notBefore now too far in the past, a passed notAfter, a
// requested period longer than the profile now allows, a requested
// notAfter after the intermediate's —
// becomes invalid with the problem as its error (RFC 8555 §7.1.6: "the
// certificate will not be issued"); at finalize (o stored pending) this
// function makes it so, after an approval the caller does (failProcessing).
// A notBefore still too far ahead leaves the order as it is: the client
// may finalize again later.
func (r *RA) recheckAtSigning(ctx context.Context, a *store.Account, o *store.Order, prof *policy.Profile, now time.Time) error {
	final := true
	err := r.recheckIdentifiers(ctx, a, o, prof)
	if err == nil {
		err = recheckAttributes(o, prof)
	}
	if err == nil {
		final, err = checkSigningValidity(o, now)
	}
	if err == nil {
		final, err = true, checkProfileValidity(o, prof, now)
	}
	if err == nil {
		// The intermediate as it is now: newOrder saw the one of its time.
		if iss, ierr := r.issuerFor(prof); ierr == nil {
			err = checkIssuerNotAfter(iss, prof, o.NotBefore, o.NotAfter, "; create a new order")
		}
	}
	if err == nil || !final || o.Status != acme.StatusPending {
		return err
	}
	p, ok := acme.AsProblem(err)
	if !ok {
		return err // internal: the order stays as it is
	}
	serr := r.store.SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusInvalid, p, r.now())
	if serr != nil && !errors.Is(serr, store.ErrStale) {
		r.log.ErrorContext(ctx, "mark order invalid", "order", o.ID, "err", serr)
	}
	return p
}

// recheckIdentifiers runs identifierPolicy for o's identifiers under
// prof and marks a refusal as caused by a profile change.
func (r *RA) recheckIdentifiers(ctx context.Context, a *store.Account, o *store.Order, prof *policy.Profile) error {
	_, _, err := r.identifierPolicy(ctx, a, prof, o.Identifiers)
	p, ok := acme.AsProblem(err)
	if !ok || (p.Type != acme.RejectedIdentifier && p.Type != acme.ExternalAccountRequired) {
		return err
	}
	changed := *p
	changed.Detail = "profile " + prof.Name + " changed after the order was created: " + p.Detail
	return &changed
}

// recheckAttributes checks o's custom attributes, merged at newOrder,
// against prof as it is now (policy.Profile.CheckAttributes), so that no
// certificate record breaks its profile's attribute rules; the error is
// the malformed problem saying that the profile changed and to create a
// new order.
func recheckAttributes(o *store.Order, prof *policy.Profile) error {
	err := prof.CheckAttributes(o.Attributes)
	p, ok := acme.AsProblem(err)
	if !ok {
		return err
	}
	changed := *p
	changed.Detail = "profile " + prof.Name + " changed after the order was created: " + p.Detail + "; create a new order"
	return &changed
}

// checkProfileValidity refuses an order whose requested notAfter (RFC 8555
// §7.1.3, §7.4) makes the period its certificate would get at now longer
// than profile prof's maximum validity as it is now: from the requested
// notBefore, or from now when none was requested, to notAfter, in whole
// seconds with the notAfter second included (as orderValidity measures
// it at newOrder, which refused such an order then). It happens when the
// profile's maximum was lowered after the order was created. Issuing
// the certificate shortened would give it another notAfter than the
// order's (RFC 8555 §7.4: the certificate has the requested contents
// or is not issued), so the problem is malformed, naming the change and
// asking for a new order. An order without a requested notAfter gets the
// profile's validity as it is at signing, never above its maximum
// (issue), and is not refused.
func checkProfileValidity(o *store.Order, prof *policy.Profile, now time.Time) error {
	if o.NotAfter.IsZero() {
		return nil
	}
	start := o.NotBefore
	if start.IsZero() {
		start = now
	}
	start = start.Truncate(time.Second)
	_, maxValidity := prof.ValidityAt(start)
	if !periodExceeds(start, o.NotAfter, maxValidity) {
		return nil
	}
	return acme.NewProblem(acme.Malformed,
		"profile %s changed after the order was created: the order's notAfter %s is beyond its maximum validity of %s (notAfter may be at most notBefore + %s - 1s); create a new order",
		prof.Name, o.NotAfter.UTC().Format(time.RFC3339), config.FormatDuration(maxValidity), config.FormatDuration(maxValidity))
}

// checkSigningValidity checks the order's requested notBefore/notAfter
// (RFC 8555 §7.4) against the signing time now. The newOrder check
// (orderValidity) saw the time of the newOrder; by finalize or approval a
// notBefore may have fallen more than 48 hours into the past, or may
// still lie more than 48 hours ahead (CA/B BR §7.1.2.7: notBefore within
// 48 hours of the signing operation), or notAfter may have passed. The
// error is a malformed problem saying which and what to do; final is
// false when only waiting helps (notBefore too far ahead).
func checkSigningValidity(o *store.Order, now time.Time) (final bool, err error) {
	const layout = time.RFC3339
	switch {
	case !o.NotBefore.IsZero() && o.NotBefore.Before(now.Add(-maxBackdate)):
		return true, acme.NewProblem(acme.Malformed,
			"the order's notBefore %s is now more than 48 hours before the signing time (CA/B BR 7.1.2.7); create a new order",
			o.NotBefore.UTC().Format(layout))
	case !o.NotBefore.IsZero() && o.NotBefore.After(now.Add(maxBackdate)):
		return false, acme.NewProblem(acme.Malformed,
			"the order's notBefore %s is more than 48 hours after the signing time (CA/B BR 7.1.2.7); finalize again from %s",
			o.NotBefore.UTC().Format(layout), o.NotBefore.Add(-maxBackdate).UTC().Format(layout))
	case !o.NotAfter.IsZero() && !o.NotAfter.After(now):
		return true, acme.NewProblem(acme.Malformed, "the order's notAfter %s has passed; create a new order", o.NotAfter.UTC().Format(layout))
	}
	return false, nil
}
