package ra_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
)

// TestNotBeforeBackdating: a newOrder may not ask for a notBefore more
// than 48 hours in the past (CA/B BR 7.1.2.7: within 48 hours of
// signing), even when the lifetime stays within maxValidity.
func TestNotBeforeBackdating(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "long", Validity: days(30), MaxValidity: days(90)})
	ctx := context.Background()
	a := e.account("", nil, nil)
	for _, tc := range []struct {
		name string
		nb   time.Duration // from now
		ok   bool
	}{
		{"now", 0, true},
		{"47h ago", -47 * time.Hour, true},
		{"just under 48h ago", -48*time.Hour + time.Second, true},
		{"49h ago", -49 * time.Hour, false},
		{"20 days ago", -20 * 24 * time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "long", Identifiers: dnsIDs("a.test"),
				NotBefore: e.now.Add(tc.nb).Format(time.RFC3339)})
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok {
				wantProblem(t, err, acme.Malformed, "notBefore")
			}
		})
	}
}
