package ra_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ra"
)

// TestOrderExpiresWithReusedAuthorization: an order that reuses a valid
// authorization expiring before the order's own lifetime ends expires
// with that authorization (RFC 8555 §7.1.3: "expires" is when the server
// considers the order invalid; OrderStatus makes it invalid once any
// authorization expired), not days after it already turned invalid.
func TestOrderExpiresWithReusedAuthorization(t *testing.T) {
	e := newPolicyEnvWith(t, ra.Config{AuthzReuse: 30 * 24 * time.Hour})
	ctx := context.Background()
	acct := e.account("", nil, nil)

	first, err := e.ra.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("old.test")})
	if err != nil {
		t.Fatal(err)
	}
	az, err := e.st.GetAuthorization(ctx, first.AuthzIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Valid for two more days: reusable (at least a day left), but shorter
	// than the 7-day order lifetime.
	authzExpires := e.now.Add(48 * time.Hour).Truncate(time.Second)
	c := az.Challenges[0]
	if err := e.st.StartChallenge(ctx, c.ID, e.now); err != nil {
		t.Fatal(err)
	}
	if err := e.st.FinishChallenge(ctx, &c, nil, e.now, authzExpires); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(time.Minute)

	o, authzs, err := e.ra.NewOrderAuthz(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("old.test", "fresh.test")})
	if err != nil {
		t.Fatal(err)
	}
	if o.AuthzIDs[0] != az.ID {
		t.Fatalf("the valid authorization was not reused: %v, want %s first", o.AuthzIDs, az.ID)
	}
	if o.Expires.After(authzExpires) {
		t.Errorf("order expires %s, after its reused authorization (%s)", o.Expires, authzExpires)
	}
	// Just before the order's expiry the order is not yet invalid; the
	// stored order says the same.
	stored, err := e.st.GetOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.Expires.Equal(o.Expires) {
		t.Errorf("stored expiry %s, handed back %s", stored.Expires, o.Expires)
	}
	if st := ra.OrderStatus(o, authzs, o.Expires.Add(-time.Second)); st == acme.StatusInvalid {
		t.Errorf("order is %s a second before its expiry", st)
	}
}
