package va

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

const (
	testToken   = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
	testKeyAuth = testToken + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
)

// startDNS starts a test DNS server that lives as long as the test.
func startDNS(t *testing.T) *testdns.Server {
	t.Helper()
	s, err := testdns.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// cancelOnQuery returns a context, ended with the test, that is
// cancelled once srv has received a query for name: for a name srv drops
// (testdns.Drop), while the lookup waits for its answer.
func cancelOnQuery(t *testing.T, srv *testdns.Server, name string) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	asked := func() bool {
		return slices.ContainsFunc(srv.Queries(), func(q testdns.Query) bool { return q.Name == name })
	}
	go func() {
		for !asked() && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	return ctx
}

func newVA(t *testing.T, cfg Config) *VA {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	v, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func dnsID(name string) acme.Identifier {
	return acme.Identifier{Type: acme.IdentifierDNS, Value: name}
}
func ipID(ip string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierIP, Value: ip} }

// checkResult asserts err is nil (want == "") or a problem of type want
// whose detail contains every one of details, with the identifier set.
func checkResult(t *testing.T, err error, id acme.Identifier, want acme.ProblemType, details ...string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want %s problem, got success", want)
	}
	p, ok := err.(*acme.Problem)
	if !ok {
		t.Fatalf("error is %T, want *acme.Problem: %v", err, err)
	}
	if p.Type != want {
		t.Fatalf("problem type %s, want %s (detail %q)", p.Type, want, p.Detail)
	}
	if p.Identifier == nil || *p.Identifier != id {
		t.Fatalf("problem identifier %v, want %v", p.Identifier, id)
	}
	if p.Status == 0 {
		t.Fatalf("problem status not set")
	}
	for _, d := range details {
		if !strings.Contains(p.Detail, d) {
			t.Fatalf("detail %q does not contain %q", p.Detail, d)
		}
	}
}

// freePort returns a loopback TCP port nobody listens on (best effort).
func freePort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", host, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

func TestNewDefaults(t *testing.T) {
	v, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.cfg.HTTPPort != 80 || v.cfg.TLSPort != 443 || v.cfg.Timeout != 10*time.Second {
		t.Fatalf("defaults: %+v", v.cfg)
	}
	if _, ok := v.Resolver().(*systemResolver); !ok {
		t.Fatalf("resolver %T, want system resolver", v.Resolver())
	}
	for _, cfg := range []Config{{HTTPPort: 70000}, {TLSPort: -1}, {DNSResolver: "no-port"}} {
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestValidateBadInput(t *testing.T) {
	v := newVA(t, Config{DNSResolver: "127.0.0.1:1"})
	ctx := t.Context()
	tests := []struct {
		name  string
		id    acme.Identifier
		typ   string
		token string
		want  acme.ProblemType
	}{
		{"unknown challenge", dnsID("example.com"), "tls-sni-01", testToken, acme.Malformed},
		{"unknown identifier type", acme.Identifier{Type: "email", Value: "a@b"}, "http-01", testToken, acme.UnsupportedIdentifier},
		{"wildcard not stripped", dnsID("*.example.com"), "dns-01", testToken, acme.Malformed},
		{"bad dns name", dnsID("exa mple.com"), "http-01", testToken, acme.Malformed},
		{"bad ip", ipID("300.1.1.1"), "http-01", testToken, acme.Malformed},
		{"ip with zone", ipID("fe80::1%lo"), "http-01", testToken, acme.Malformed},
		{"bad token", dnsID("example.com"), "http-01", "../../etc/passwd", acme.Malformed},
		{"dns-01 for ip", ipID("127.0.0.1"), "dns-01", testToken, acme.Malformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Validate(ctx, tc.id, tc.typ, tc.token, tc.token+".x")
			checkResult(t, err, tc.id, tc.want)
		})
	}
}

func TestResolver(t *testing.T) {
	srv := startDNS(t)
	r, err := NewResolver(srv.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	srv.SetA("dual.example", net.ParseIP("127.0.0.2"))
	srv.SetAAAA("dual.example", net.ParseIP("::1"))
	addrs, err := r.LookupIPs(ctx, "dual.example")
	if err != nil {
		t.Fatal(err)
	}
	got := orderAddrs(addrs)
	if len(got) != 2 || got[0] != netip.MustParseAddr("::1") || got[1] != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("LookupIPs = %v", got)
	}

	// CNAME to an A record, server not chasing: the resolver re-queries.
	srv.SetCNAMEChasing(false)
	srv.SetCNAME("www.example", "dual.example")
	if addrs, err = r.LookupIPs(ctx, "www.example"); err != nil || len(addrs) != 2 {
		t.Fatalf("LookupIPs via CNAME = %v, %v", addrs, err)
	}
	srv.SetCNAMEChasing(true)

	// NXDOMAIN comes from the configured server.
	srv.SetDefaultA(nil)
	_, err = r.LookupIPs(ctx, "nowhere.example")
	var le *LookupError
	if !errors.As(err, &le) || !le.IsNotFound() {
		t.Fatalf("want NXDOMAIN LookupError, got %v", err)
	}
	if want := "NXDOMAIN looking up A for nowhere.example"; le.Detail() != want {
		t.Fatalf("Detail = %q, want %q", le.Detail(), want)
	}
	seen := false
	for _, q := range srv.Queries() {
		if q.Name == "nowhere.example" && q.Type == "A" {
			seen = true
		}
	}
	if !seen {
		t.Fatal("the test DNS server never saw the query")
	}

	// TCP fallback on truncation.
	var many []string
	for range 20 {
		many = append(many, strings.Repeat("z", 200))
	}
	srv.SetTXT("big.example", append(many, "needle")...)
	txts, err := r.LookupTXT(ctx, "big.example")
	if err != nil || len(txts) != 21 {
		t.Fatalf("LookupTXT big = %d records, %v", len(txts), err)
	}
	tcp := false
	for _, q := range srv.Queries() {
		if q.Name == "big.example" && q.Net == "tcp" {
			tcp = true
		}
	}
	if !tcp {
		t.Fatal("no TCP retry after truncation")
	}

	// SERVFAIL and timeout.
	srv.SetRcode("broken.example", dns.RcodeServerFailure)
	if _, err = r.LookupTXT(ctx, "broken.example"); !errors.As(err, &le) || le.Rcode != dns.RcodeServerFailure {
		t.Fatalf("want SERVFAIL, got %v", err)
	}
	srv.SetRcode("silent.example", testdns.Drop)
	r2, _ := NewResolver(srv.Addr(), 200*time.Millisecond)
	if _, err = r2.LookupTXT(ctx, "silent.example"); !errors.As(err, &le) || !le.Timeout {
		t.Fatalf("want timeout, got %v", err)
	}
	if !strings.HasPrefix(le.Detail(), "query timed out") {
		t.Fatalf("timeout detail %q", le.Detail())
	}

	// Long CNAME chain.
	for i := range 15 {
		srv.SetCNAME(chainName(i), chainName(i+1))
	}
	srv.SetTXT(chainName(15), "end")
	if _, err = r.LookupTXT(ctx, chainName(0)); !errors.As(err, &le) || le.Reason != "too many CNAMEs" {
		t.Fatalf("want too many CNAMEs, got %v", err)
	}
	if txts, err = r.LookupTXT(ctx, chainName(8)); err != nil || len(txts) != 1 || txts[0] != "end" {
		t.Fatalf("chain of 7: %v %v", txts, err)
	}
}

func chainName(i int) string { return "c" + string(rune('a'+i)) + ".example" }
