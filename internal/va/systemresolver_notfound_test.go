package va

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestSystemResolverTXTNotFound: Go's resolver reports a name without TXT
// records (NOERROR, no data) as "not found" like a name that does not
// exist, so the dns-01 problem of the system resolver (no --va-dns)
// claims neither: it said "NXDOMAIN looking up TXT" for a name that
// exists. IsNotFound stays; the type is unauthorized, as for a name
// without TXT records with the configured resolver (TestNoTXTRecordSameProblem).
func TestSystemResolverTXTNotFound(t *testing.T) {
	srv := startDNS(t)
	srv.SetDefaultA(nil) // unknown names: NXDOMAIN
	srv.SetA("_acme-challenge.nodata.example", net.ParseIP("127.0.0.1"))
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	}
	v := newVA(t, Config{})
	v.resolver = newSystemResolver(dial)
	for _, name := range []string{"nodata.example", "nx.example"} {
		id := dnsID(name)
		err := v.Validate(t.Context(), id, acme.ChallengeDNS01, testToken, testKeyAuth)
		checkResult(t, err, id, acme.Unauthorized, "no TXT record found at _acme-challenge."+name+" (no such name, or no TXT records at it)")
		if strings.Contains(err.Error(), "NXDOMAIN") {
			t.Errorf("%s: %v claims NXDOMAIN", name, err)
		}
		_, lerr := v.resolver.LookupTXT(t.Context(), "_acme-challenge."+name)
		if le := (*LookupError)(nil); !errors.As(lerr, &le) || !le.IsNotFound() {
			t.Errorf("%s: LookupTXT error %v, want a not-found LookupError", name, lerr)
		}
	}
}
