package ra_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
)

// TestAbsurdNotAfterMalformed: a newOrder whose notAfter lies thousands of
// years ahead (year 9999, the largest RFC 3339 year) is refused as
// malformed (RFC 8555 §7.4), not accepted: the requested period exceeds
// the profile's maximum validity. The period is compared as times; as a
// time.Duration it saturates (about 292 years), and adding the notAfter
// second to it overflowed into a negative period that passed the check.
func TestAbsurdNotAfterMalformed(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "long", Validity: days(30), MaxValidity: days(90)})
	ctx := context.Background()
	a := e.account("", nil, nil)
	for _, tc := range []struct{ name, nb, na string }{
		{"notAfter 9999", "", "9999-12-31T23:59:59Z"},
		{"notBefore now, notAfter 9999", e.now.Format(time.RFC3339), "9999-12-31T23:59:59Z"},
		{"notAfter 300 years ahead", "", e.now.AddDate(300, 0, 0).Format(time.RFC3339)},
		{"notAfter 293 years ahead, offset", "", e.now.AddDate(293, 0, 0).Format("2006-01-02T15:04:05-07:00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "long", Identifiers: dnsIDs("a.test"), NotBefore: tc.nb, NotAfter: tc.na})
			if err == nil {
				t.Fatalf("order accepted with notAfter %s", o.NotAfter)
			}
			wantProblem(t, err, acme.Malformed, "exceeds the maximum")
		})
	}
	// The longest period allowed is still accepted: notAfter = notBefore + 90d - 1s.
	nb := e.now.Truncate(time.Second)
	if _, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "long", Identifiers: dnsIDs("a.test"),
		NotBefore: nb.Format(time.RFC3339), NotAfter: nb.Add(90*24*time.Hour - time.Second).Format(time.RFC3339)}); err != nil {
		t.Fatalf("maximum period refused: %v", err)
	}
	_, err := e.ra.NewOrder(ctx, a, acme.NewOrderRequest{Profile: "long", Identifiers: dnsIDs("a.test"),
		NotBefore: nb.Format(time.RFC3339), NotAfter: nb.Add(90 * 24 * time.Hour).Format(time.RFC3339)})
	wantProblem(t, err, acme.Malformed, "exceeds the maximum")
}
