package ra_test

import (
	"context"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/va"
)

// TestNewOrderIPInDeniedNetwork: an ip identifier whose address
// validation never connects to (va-deny-networks) is refused at newOrder
// with rejectedIdentifier, as an always-denied one is: no challenge
// could validate it (http-01 and tls-alpn-01 connect to the address
// itself, RFC 8738 §3, §6; dns-01 is not for ip identifiers, §7), and an
// authorization for it would only fail its attempts and count against
// the account's failed validations. A name is not refused: its
// addresses can change. A pre-authorized ip needs no challenge.
func TestNewOrderIPInDeniedNetwork(t *testing.T) {
	deny, err := va.ParseDenyNetworks("private,loopback")
	if err != nil {
		t.Fatal(err)
	}
	v, err := va.New(va.Config{DenyNetworks: deny}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newPolicyEnvWith(t, ra.Config{IPDenied: v.AddressDenied},
		policy.Profile{Name: "eab", RequireEAB: true, Validity: days(30), PreAuthorized: []string{"10.9.0.0/16"}})
	ctx := context.Background()
	acct := e.account("", nil, nil)

	_, err = e.ra.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: []acme.Identifier{{Type: acme.IdentifierIP, Value: "10.1.2.3"}}})
	p := wantProblem(t, err, acme.RejectedIdentifier, "1 identifiers cannot be validated")
	if len(p.Subproblems) != 1 || p.Subproblems[0].Detail != "10.1.2.3 is a private address, which this server does not connect to for validation: no challenge can validate it" {
		t.Fatalf("subproblems %+v", p.Subproblems)
	}
	_, err = e.ra.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: []acme.Identifier{
		{Type: acme.IdentifierIP, Value: "127.0.0.2"}, {Type: acme.IdentifierIP, Value: "192.0.2.7"}, {Type: acme.IdentifierIP, Value: "::1"}}})
	p = wantProblem(t, err, acme.RejectedIdentifier, "2 identifiers cannot be validated")
	if len(p.Subproblems) != 2 || p.Subproblems[0].Identifier.Value != "127.0.0.2" || !strings.Contains(p.Subproblems[0].Detail, "loopback") ||
		p.Subproblems[1].Identifier.Value != "::1" || p.Subproblems[0].Type != acme.RejectedIdentifier {
		t.Fatalf("subproblems %+v", p.Subproblems)
	}

	// Allowed addresses and names (whatever they resolve to) are ordered.
	if _, err := e.ra.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: []acme.Identifier{
		{Type: acme.IdentifierIP, Value: "192.0.2.7"}, {Type: acme.IdentifierDNS, Value: "internal.test"}}}); err != nil {
		t.Fatalf("allowed identifiers refused: %v", err)
	}
	// Pre-authorized: valid without a challenge, so not refused.
	bound := e.account("eab", nil, nil)
	if _, err := e.ra.NewOrder(ctx, bound, acme.NewOrderRequest{Profile: "eab", Identifiers: []acme.Identifier{{Type: acme.IdentifierIP, Value: "10.9.1.1"}}}); err != nil {
		t.Fatalf("pre-authorized ip refused: %v", err)
	}
}
