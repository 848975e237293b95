package ra

import (
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

// AuthorizationStatus is the status served for a at now (RFC 8555 §7.1.6):
// the stored status, except that a pending or valid authorization past its
// expiry is "expired".
func AuthorizationStatus(a *store.Authorization, now time.Time) string {
	if (a.Status == acme.StatusPending || a.Status == acme.StatusValid) && !now.Before(a.Expires) {
		return acme.StatusExpired
	}
	return a.Status
}

// OrderStatus is the status served for o at now, a pure function of its
// stored stage, expiry and authorizations (RFC 8555 §7.1.6):
//   - a stored valid, invalid or processing stage is final for this function;
//   - an order awaiting approval is processing;
//   - a pending order past its expiry, or with any authorization invalid,
//     deactivated, revoked or expired, is invalid;
//   - a pending order whose authorizations are all valid is ready;
//   - otherwise pending.
func OrderStatus(o *store.Order, authzs []*store.Authorization, now time.Time) string {
	if o.Status == store.OrderAwaitingApproval {
		return acme.StatusProcessing // waiting for an approver
	}
	if o.Status != acme.StatusPending {
		return o.Status
	}
	if !now.Before(o.Expires) {
		return acme.StatusInvalid
	}
	pending := false
	for _, a := range authzs {
		switch AuthorizationStatus(a, now) {
		case acme.StatusValid:
		case acme.StatusPending:
			pending = true
		default:
			return acme.StatusInvalid
		}
	}
	if pending {
		return acme.StatusPending
	}
	return acme.StatusReady
}

// OrderError explains an invalid order: its stored error, or a problem
// derived from why OrderStatus made it invalid. Nil for other statuses.
func OrderError(o *store.Order, authzs []*store.Authorization, now time.Time) *acme.Problem {
	if o.Error != nil {
		return o.Error
	}
	if OrderStatus(o, authzs, now) != acme.StatusInvalid {
		return nil
	}
	if p := unusableAuthz(authzs, now); p != nil {
		return p
	}
	return acme.NewProblem(acme.Malformed, "order expired before it was finalized")
}

// unusableAuthz returns, for the first of authzs that is invalid,
// deactivated, revoked or expired at now (RFC 8555 §7.1.6: its order is
// then invalid), the unauthorized problem naming it with the order's
// identifier ("authorization for *.example.com is deactivated"); nil when
// none is. A pending one is not unusable.
func unusableAuthz(authzs []*store.Authorization, now time.Time) *acme.Problem {
	for _, a := range authzs {
		switch st := AuthorizationStatus(a, now); st {
		case acme.StatusInvalid, acme.StatusDeactivated, acme.StatusRevoked, acme.StatusExpired:
			return authzProblem(a, st)
		}
	}
	return nil
}

// authzsStillValid returns nil when every one of authzs is valid at now;
// otherwise the problem of the first that is not (authzProblem), its
// detail completed with what it means for an order that was finalized
// while they were valid and waits to be issued (an approved order): the
// order becomes invalid (RFC 8555 §7.1.6) and no certificate is issued.
func authzsStillValid(authzs []*store.Authorization, now time.Time) *acme.Problem {
	for _, a := range authzs {
		if st := AuthorizationStatus(a, now); st != acme.StatusValid {
			p := authzProblem(a, st)
			p.Detail += " (it became " + st + " after the order was finalized): no certificate is issued for the order; please create a new order"
			return p
		}
	}
	return nil
}

// authzProblem is the unauthorized problem of an order whose authorization
// a is in status st (invalid, deactivated, revoked or expired).
func authzProblem(a *store.Authorization, st string) *acme.Problem {
	// The order's identifier: "*." before a wildcard's name (RFC 8555
	// §7.1.3), as the client asked for it.
	id := orderIdentifier(a.Identifier, a.Wildcard)
	p := acme.NewProblem(acme.Unauthorized, "authorization for %s is %s", id.Value, st)
	p.Identifier = &id
	return p
}
