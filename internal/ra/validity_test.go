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

// TestZeroTimeRequested: a notBefore or notAfter that is time.Time's zero
// (0001-01-01T00:00:00Z, in any offset) is a requested date like any other
// and refused as malformed, as one second later is; it is not taken for an
// absent member and the order created with the default validity (RFC 8555
// §7.4).
func TestZeroTimeRequested(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "long", Validity: days(30), MaxValidity: days(90)})
	ctx := context.Background()
	a := e.account("", nil, nil)
	soon := e.now.Add(24 * time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		name, nb, na, detail string
	}{
		{"notAfter zero", "", "0001-01-01T00:00:00Z", "notAfter is in the past"},
		{"notAfter zero in +01:00", "", "0001-01-01T01:00:00+01:00", "notAfter is in the past"},
		{"notAfter one second after zero", "", "0001-01-01T00:00:01Z", "notAfter is in the past"},
		// The default validity from a zero notBefore ends in the past.
		{"notBefore zero", "0001-01-01T00:00:00Z", "", "in the past"},
		{"notBefore zero in +01:00", "0001-01-01T01:00:00+01:00", "", "in the past"},
		{"notBefore zero with notAfter", "0001-01-01T00:00:00Z", soon, "exceeds the maximum"},
		{"notAfter zero with notBefore", e.now.Format(time.RFC3339), "0001-01-01T00:00:00Z", "later than notBefore"},
		{"both zero", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "later than notBefore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "long", Identifiers: dnsIDs("a.test"),
				NotBefore: tc.nb, NotAfter: tc.na})
			if err == nil {
				t.Fatalf("order created (notBefore %v, notAfter %v)", o.NotBefore, o.NotAfter)
			}
			wantProblem(t, err, acme.Malformed, tc.detail)
		})
	}
}
