package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// testReplacement: CreateReplacementOrder claims a certificate by
// compare-and-swap (RFC 9773 §5) and FinishOrder of the replacing order
// marks it replaced.
func testReplacement(t *testing.T, e storetest.Engine) {
	s := e.Open(t)
	ctx := context.Background()
	a, o, _ := seed(t, s)
	issue(t, s, o.ID, a.ID, "abc")

	repl := &store.Order{ID: "ord2", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
		Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "a.example.test"}}, AuthzIDs: []string{"az2"}, Replaces: "AKI.SERIAL"}
	az2 := newAuthz(a.ID, "az2", "a.example.test", false, acme.ChallengeHTTP01)
	wantErr(t, "claim of a missing certificate", s.CreateReplacementOrder(ctx, repl, []*store.Authorization{az2}, "nope", ""), store.ErrStale)
	if _, err := s.GetOrder(ctx, "ord2"); err == nil {
		t.Fatal("a refused replacement left its order behind")
	}
	must(t, s.CreateReplacementOrder(ctx, repl, []*store.Authorization{az2}, "abc", ""))
	got, err := s.GetOrder(ctx, "ord2")
	must(t, err)
	if got.Replaces != "AKI.SERIAL" {
		t.Fatalf("order replaces = %q", got.Replaces)
	}
	c, err := s.GetCertificate(ctx, "abc")
	must(t, err)
	if c.ReplacedBy != "ord2" || !c.ReplacedAt.IsZero() {
		t.Fatalf("claimed certificate: replacedBy %q replacedAt %v", c.ReplacedBy, c.ReplacedAt)
	}

	// A second claim that expects the certificate unclaimed loses.
	third := &store.Order{ID: "ord3", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
		Identifiers: repl.Identifiers, AuthzIDs: []string{"az2"}, Replaces: "AKI.SERIAL"}
	wantErr(t, "second claim", s.CreateReplacementOrder(ctx, third, nil, "abc", ""), store.ErrStale)
	// Taking over from a known (invalid) claimant succeeds.
	must(t, s.SetOrderStatus(ctx, "ord2", acme.StatusPending, acme.StatusInvalid, nil, now))
	must(t, s.CreateReplacementOrder(ctx, third, nil, "abc", "ord2"))

	// Issuing the replacement marks the certificate replaced.
	issue(t, s, "ord3", a.ID, "def")
	c, err = s.GetCertificate(ctx, "abc")
	must(t, err)
	if c.ReplacedBy != "ord3" || !c.ReplacedAt.Equal(now) {
		t.Fatalf("replaced certificate: replacedBy %q replacedAt %v", c.ReplacedBy, c.ReplacedAt)
	}
	if c2, _ := s.GetCertificate(ctx, "def"); c2.ReplacedBy != "" || !c2.ReplacedAt.IsZero() || c2.Replaces != "abc" {
		t.Fatalf("new certificate marked replaced or not recording the one it replaces: %+v", c2)
	}
}
