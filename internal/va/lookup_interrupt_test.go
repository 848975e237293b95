package va

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// cancelledCtx returns a context that is already cancelled.
func cancelledCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// TestDNS01LookupInterrupted: a dns-01 validation whose TXT lookup is
// cancelled (while it waits for the answer, or before it starts) fails
// as a cancelled validation, a connection problem as http-01 reports
// one, not as a DNS problem of a query that timed out (which one whose
// deadline passes is: TestDNS01's "timeout").
func TestDNS01LookupInterrupted(t *testing.T) {
	const rr = "_acme-challenge.example.com"
	id := dnsID("example.com")
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		ctx     func(t *testing.T, srv *testdns.Server) context.Context
		want    acme.ProblemType
		detail  string
	}{
		{name: "cancelled while waiting", timeout: 5 * time.Second,
			ctx:  func(t *testing.T, srv *testdns.Server) context.Context { return cancelOnQuery(t, srv, rr) },
			want: acme.Connection, detail: "validation cancelled while looking up TXT for " + rr},
		{name: "cancelled before", timeout: 5 * time.Second,
			ctx:  func(t *testing.T, _ *testdns.Server) context.Context { return cancelledCtx(t) },
			want: acme.Connection, detail: "validation cancelled while looking up TXT for " + rr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDNS(t)
			srv.SetRcode(rr, testdns.Drop)
			v := newVA(t, Config{DNSResolver: srv.Addr(), Timeout: tc.timeout})
			err := v.Validate(tc.ctx(t, srv), id, acme.ChallengeDNS01, testToken, testKeyAuth)
			checkResult(t, err, id, tc.want, tc.detail)
		})
	}
}

// TestCAALookupInterrupted: a CAA check whose lookup is cancelled, at the
// name itself or at a parent (the cached path, lookupParentCAA), ends as
// a cancelled validation (a connection problem), not as a CAA refusal
// for a query that timed out; one whose deadline passes still refuses,
// as a timeout.
func TestCAALookupInterrupted(t *testing.T) {
	id := dnsID("www.example.com")
	for _, tc := range []struct {
		name    string
		drop    string
		timeout time.Duration
		ctx     func(t *testing.T, srv *testdns.Server) context.Context
		want    acme.ProblemType
		detail  string
	}{
		{name: "cancelled while waiting", drop: "www.example.com", timeout: 5 * time.Second,
			ctx: func(t *testing.T, srv *testdns.Server) context.Context {
				return cancelOnQuery(t, srv, "www.example.com")
			},
			want: acme.Connection, detail: "validation cancelled while looking up CAA for www.example.com"},
		{name: "cancelled before", drop: "www.example.com", timeout: 5 * time.Second,
			ctx:  func(t *testing.T, _ *testdns.Server) context.Context { return cancelledCtx(t) },
			want: acme.Connection, detail: "validation cancelled while looking up CAA for www.example.com"},
		{name: "deadline", drop: "example.com", timeout: 300 * time.Millisecond,
			ctx:  func(t *testing.T, _ *testdns.Server) context.Context { return t.Context() },
			want: acme.DNS, detail: "DNS problem while checking CAA: query timed out looking up CAA for example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDNS(t)
			srv.SetRcode(tc.drop, testdns.Drop)
			v := newVA(t, Config{DNSResolver: srv.Addr(), CAAIdentities: []string{caaUs}, Timeout: tc.timeout})
			err := v.CheckCAA(tc.ctx(t, srv), id, false, acme.ChallengeDNS01, []string{caaAccount})
			checkResult(t, err, id, tc.want, tc.detail)
		})
	}
}

// TestCAALookupCancelledAtParent: a CAA check cancelled while it waits
// for a parent's answer (the cached path, lookupParentCAA), the name
// itself answered without records, ends as a cancelled validation naming
// the parent. The lookups run side by side, so the cancellation waits
// for the name's own lookup to have returned: cancelled as soon as the
// parent was asked, the check could find the name's lookup still running
// and (rightly) name it instead, about once in 200 runs.
func TestCAALookupCancelledAtParent(t *testing.T) {
	id := dnsID("www.example.com")
	srv := startDNS(t)
	srv.SetRcode("example.com", testdns.Drop)
	v := newVA(t, Config{DNSResolver: srv.Addr(), CAAIdentities: []string{caaUs}, Timeout: 5 * time.Second})
	w := &nameAnswered{Resolver: v.resolver, name: "www.example.com", done: make(chan struct{})}
	v.resolver = w
	asked := cancelOnQuery(t, srv, "example.com") // done once the parent is asked
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		<-w.done
		<-asked.Done()
		cancel()
	}()
	err := v.CheckCAA(ctx, id, false, acme.ChallengeDNS01, []string{caaAccount})
	checkResult(t, err, id, acme.Connection, "validation cancelled while looking up CAA for example.com")
}

// nameAnswered is the VA's resolver, which closes done once its CAA
// lookup of name has returned.
type nameAnswered struct {
	Resolver
	name string
	done chan struct{}
	once sync.Once
}

func (w *nameAnswered) LookupCAA(ctx context.Context, name string) ([]CAARecord, error) {
	recs, err := w.Resolver.LookupCAA(ctx, name)
	if name == w.name {
		w.once.Do(func() { close(w.done) })
	}
	return recs, err
}

func (w *nameAnswered) lookupParentCAA(ctx context.Context, name string) ([]CAARecord, error) {
	return w.Resolver.(parentCAAResolver).lookupParentCAA(ctx, name)
}

// TestAddressLookupCancelled: a tls-alpn-01 validation cancelled while
// the identifier's addresses are looked up fails as a cancelled
// validation, as http-01 does (TestHTTP01CancelledDuringLookup), not as
// a DNS problem of a query that timed out.
func TestAddressLookupCancelled(t *testing.T) {
	srv := startDNS(t)
	srv.SetRcode("example.com", testdns.Drop)
	v := newVA(t, Config{DNSResolver: srv.Addr(), TLSPort: freePort(t, "127.0.0.1"), Timeout: 5 * time.Second})
	id := dnsID("example.com")
	err := v.Validate(cancelOnQuery(t, srv, "example.com"), id, acme.ChallengeTLSALPN01, testToken, testKeyAuth)
	checkResult(t, err, id, acme.Connection, "validation cancelled while looking up A")
}

// TestLookupErrorCancelled: both resolvers report a lookup whose context
// is cancelled while it waits as Cancelled, not Timeout, with the detail
// "query cancelled", and end it then: the server never answers, and the
// lookup must return well before the query timeout (5 s: the direct
// resolver's here, resolv.conf's default for Go's resolver), which Go's
// resolver waited for on a TXT lookup. The query's own timeout stays a
// Timeout.
func TestLookupErrorCancelled(t *testing.T) {
	direct := func(srv *testdns.Server) Resolver {
		r, err := NewResolver(srv.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The system resolver, its queries (and CAA's name server) sent to srv.
	system := func(srv *testdns.Server) Resolver {
		r := newSystemResolver(func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Addr())
		})
		host, port, err := net.SplitHostPort(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		r.conf = func() (*dns.ClientConfig, error) {
			return &dns.ClientConfig{Servers: []string{host}, Port: port, Timeout: 5, Attempts: 1}, nil
		}
		return r
	}
	txt := func(ctx context.Context, r Resolver) error { _, err := r.LookupTXT(ctx, "silent.example"); return err }
	caa := func(ctx context.Context, r Resolver) error { _, err := r.LookupCAA(ctx, "silent.example"); return err }
	ips := func(ctx context.Context, r Resolver) error { _, err := r.LookupIPs(ctx, "silent.example"); return err }
	for _, tc := range []struct {
		name     string
		resolver func(*testdns.Server) Resolver
		lookup   func(context.Context, Resolver) error
		typ      string
	}{
		{"dns TXT", direct, txt, "TXT"},
		{"dns CAA", direct, caa, "CAA"},
		{"dns A/AAAA", direct, ips, "A"},
		{"system TXT", system, txt, "TXT"},
		{"system CAA", system, caa, "CAA"},
		{"system A/AAAA", system, ips, "A/AAAA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDNS(t)
			srv.SetRcode("silent.example", testdns.Drop)
			ctx, r := cancelOnQuery(t, srv, "silent.example"), tc.resolver(srv)
			done := make(chan error, 1)
			go func() { done <- tc.lookup(ctx, r) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(2 * time.Second):
				t.Fatal("lookup still waiting 2 s after the query was sent and cancelled (query timeout 5 s)")
			}
			var le *LookupError
			if !errors.As(err, &le) {
				t.Fatalf("error %v (%T), want a *LookupError", err, err)
			}
			if !le.Cancelled || le.Timeout {
				t.Errorf("Cancelled %v, Timeout %v; want a cancellation, not a timeout (%v)", le.Cancelled, le.Timeout, err)
			}
			if want := "query cancelled looking up " + tc.typ + " for silent.example"; le.Detail() != want {
				t.Errorf("detail %q, want %q", le.Detail(), want)
			}
		})
	}
	t.Run("query timeout", func(t *testing.T) {
		srv := startDNS(t)
		srv.SetRcode("silent.example", testdns.Drop)
		r, err := NewResolver(srv.Addr(), 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.LookupTXT(t.Context(), "silent.example")
		var le *LookupError
		if !errors.As(err, &le) || !le.Timeout || le.Cancelled || !strings.HasPrefix(le.Detail(), "query timed out") {
			t.Fatalf("want a timeout, got %v", err)
		}
	})
	t.Run("system deadline", func(t *testing.T) {
		srv := startDNS(t)
		srv.SetRcode("silent.example", testdns.Drop)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		err := txt(ctx, system(srv))
		var le *LookupError
		if !errors.As(err, &le) || !le.Timeout || le.Cancelled || !strings.HasPrefix(le.Detail(), "query timed out") {
			t.Fatalf("want a timeout, got %v", err)
		}
	})
}
