package va

import (
	"context"
	"net"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestNoTXTRecordSameProblem: dns-01 for a name that exists without TXT
// records gives the same problem type with the configured resolver
// (va-dns-resolver) as with the system resolver: unauthorized "no TXT
// record found at NAME", as Boulder answers it (va/dns.go validateTXT:
// berrors.UnauthorizedError("No TXT record found at %s")). It was
// incorrectResponse with the one, dns with the other.
func TestNoTXTRecordSameProblem(t *testing.T) {
	srv := startDNS(t)
	srv.SetDefaultA(nil) // unknown names: NXDOMAIN
	const rr = "_acme-challenge.nodata.example"
	srv.SetA(rr, net.ParseIP("127.0.0.1")) // the name exists, without TXT records
	id := dnsID("nodata.example")

	configured := newVA(t, Config{DNSResolver: srv.Addr()})
	system := newVA(t, Config{})
	system.resolver = newSystemResolver(func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	})
	for name, v := range map[string]*VA{"configured resolver": configured, "system resolver": system} {
		err := v.Validate(t.Context(), id, acme.ChallengeDNS01, testToken, testKeyAuth)
		p, _ := acme.AsProblem(err)
		if p == nil || p.Type != acme.Unauthorized {
			t.Errorf("%s: %v, want an unauthorized problem", name, err)
			continue
		}
		checkResult(t, err, id, acme.Unauthorized, "no TXT record found at "+rr)
	}
}
