package va

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// searchChildEnv marks the run of TestSystemResolverNoSearchList inside
// its own UTS namespace.
const searchChildEnv = "CERTGATE_TEST_SEARCH_LIST_CHILD"

// TestSystemResolverNoSearchList: with the system resolver, the names a
// validation looks up are the identifier's own, never completed with the
// resolv.conf search list. Otherwise a name that does not exist
// (victim.example, NXDOMAIN) would be tried again as
// victim.example.corp.test, and a record there — in the CA's own domain,
// often open to DHCP or AD registrations — would prove control of
// victim.example: its _acme-challenge TXT (dns-01) or its address, where
// the applicant's server answers (http-01).
//
// Go's resolver searches the domain of the host name when resolv.conf
// has no search line (dnsDefaultSearch), so the test runs itself again
// in a UTS namespace (unshare -u) whose host name is vm.corp.test; the
// queries go to a test DNS server on loopback. It skips where unshare is
// not permitted.
func TestSystemResolverNoSearchList(t *testing.T) {
	if os.Getenv(searchChildEnv) == "" {
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			t.Skip("unshare (util-linux) not installed")
		}
		if err := exec.Command(unshare, "-u", "true").Run(); err != nil {
			t.Skipf("unshare -u not permitted here: %v", err)
		}
		cmd := exec.Command(unshare, "-u", "sh", "-c", `hostname vm.corp.test && exec "$0" "$@"`,
			os.Args[0], "-test.run=^TestSystemResolverNoSearchList$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), searchChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSystemResolverNoSearchList") {
			t.Fatalf("in a UTS namespace with host name vm.corp.test: %v\n%s", err, out)
		}
		return
	}

	if hn, _ := os.Hostname(); hn != "vm.corp.test" {
		t.Fatalf("host name %q, want vm.corp.test", hn)
	}
	srv := startDNS(t)
	srv.SetDefaultA(nil) // unknown names: NXDOMAIN
	var hits atomic.Int32
	port := startHTTP(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(testKeyAuth))
	}))
	srv.SetA("victim.example.corp.test", net.ParseIP("127.0.0.1"))
	srv.SetTXT("_acme-challenge.victim.example.corp.test", dns01Value(testKeyAuth))
	toSrv := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Addr())
	}

	// The control: Go's resolver does search corp.test here.
	if addrs, err := (&net.Resolver{PreferGo: true, Dial: toSrv}).LookupHost(t.Context(), "victim.example"); err != nil || len(addrs) == 0 {
		t.Fatalf("Go's resolver did not search corp.test (%v, %v): the test proves nothing", addrs, err)
	}

	asked := len(srv.Queries())

	v := newVA(t, Config{HTTPPort: port})
	sr := newSystemResolver(toSrv)
	v.resolver = sr
	id := dnsID("victim.example")
	err := v.Validate(t.Context(), id, acme.ChallengeDNS01, testToken, testKeyAuth)
	checkResult(t, err, id, acme.Unauthorized, "no TXT record found at _acme-challenge.victim.example")
	err = v.Validate(t.Context(), id, acme.ChallengeHTTP01, testToken, testKeyAuth)
	checkResult(t, err, id, acme.DNS, "no A/AAAA record found for victim.example")
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server at victim.example.corp.test got %d requests", n)
	}
	for _, q := range srv.Queries()[asked:] {
		if strings.HasSuffix(q.Name, "corp.test") {
			t.Errorf("queried %s %s: the search list was applied", q.Type, q.Name)
		}
	}
	// Names that exist still resolve, /etc/hosts included.
	srv.SetA("real.example", net.ParseIP("127.0.0.1"))
	if _, err := sr.LookupIPs(t.Context(), "real.example"); err != nil {
		t.Fatalf("real.example: %v", err)
	}
	if _, err := sr.LookupIPs(t.Context(), "localhost"); err != nil {
		t.Fatalf("localhost (hosts file): %v", err)
	}
	// A single-label name not in the hosts file is asked as it is, not
	// as intranet.corp.test.
	srv.SetA("intranet.corp.test", net.ParseIP("127.0.0.1"))
	if addrs, err := sr.LookupIPs(t.Context(), "intranet"); err == nil {
		t.Fatalf("intranet resolved to %v through the search list", addrs)
	}
	if txt, err := sr.LookupTXT(t.Context(), "_acme-challenge.victim.example.corp.test"); err != nil || len(txt) != 1 {
		t.Fatalf("TXT of an existing name: %v %v", txt, err)
	}
}
