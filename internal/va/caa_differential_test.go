package va

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/testenv/testdns"
	"github.com/miekg/dns"
)

// sequentialCAA is the climb of RFC 8659 §3 one name after the other, as
// relevantCAA did before its lookups ran side by side: the model the
// differential test compares it with.
func sequentialCAA(ctx context.Context, r Resolver, name string) (string, []CAARecord, error) {
	for cur := name; cur != ""; {
		recs, err := r.LookupCAA(ctx, cur)
		var le *LookupError
		switch {
		case err == nil && len(recs) > 0:
			return cur, recs, nil
		case err != nil && !(errors.As(err, &le) && le.IsNotFound()):
			return cur, nil, err
		}
		_, parent, _ := strings.Cut(cur, ".")
		cur = parent
	}
	return "", nil, nil
}

// caaOutcome summarises a climb's result for comparison.
func caaOutcome(at string, recs []CAARecord, err error) string {
	if err != nil {
		var le *LookupError
		if errors.As(err, &le) {
			return fmt.Sprintf("error at %s: rcode %d timeout %v", at, le.Rcode, le.Timeout)
		}
		return fmt.Sprintf("error at %s: %v", at, err)
	}
	return fmt.Sprintf("%s %v", at, recs)
}

// TestCAAClimbMatchesSequential: over random layouts of CAA records,
// empty answers, NXDOMAIN, SERVFAIL, dropped queries and CNAMEs along a
// name's climb, relevantCAA (every lookup at once, parents through the
// CAA cache) decides exactly as the sequential climb does, and leaves no
// goroutine behind once its lookups have ended.
func TestCAAClimbMatchesSequential(t *testing.T) {
	s := startDNS(t)
	r := newDNSResolver(ResolverOptions{Servers: []string{s.Addr()}, QueryTimeout: 200 * time.Millisecond}, time.Now)
	t.Cleanup(r.close)
	rng := rand.New(rand.NewPCG(28, uint64(time.Now().UnixNano())))
	base := runtime.NumGoroutine()
	for iter := range 60 {
		tld := fmt.Sprintf("t%d", iter)
		depth := 1 + rng.IntN(7)
		labels := make([]string, depth)
		for i := range labels {
			labels[i] = fmt.Sprintf("l%d", rng.IntN(3))
		}
		name := strings.Join(labels, ".") + "." + tld
		if rng.IntN(4) == 0 {
			name = "*." + name
		}
		var climb []string
		for cur := name; cur != ""; {
			climb = append(climb, cur)
			_, cur, _ = strings.Cut(cur, ".")
		}
		layout := make([]string, len(climb))
		for i, n := range climb {
			switch k := rng.IntN(12); {
			case k < 5: // nothing: NOERROR without data or NXDOMAIN
				layout[i] = "-"
			case k < 7:
				v := []string{caaUs, "other.test", ";"}[rng.IntN(3)]
				s.SetCAA(n, issue(v))
				layout[i] = "caa " + v
			case k < 8:
				s.SetRcode(n, dns.RcodeServerFailure)
				layout[i] = "servfail"
			case k < 9:
				s.SetRcode(n, dns.RcodeNameError)
				layout[i] = "nxdomain"
			case k < 10:
				s.SetRcode(n, testdns.Drop)
				layout[i] = "drop"
			default:
				target := fmt.Sprintf("target%d.%s", i, tld)
				s.SetCNAME(n, target)
				if rng.IntN(2) == 0 {
					s.SetCAA(target, issue("cname.test"))
				}
				layout[i] = "cname"
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		at, recs, err := relevantCAA(ctx, r, name)
		got := caaOutcome(at, recs, err)
		at, recs, err = sequentialCAA(ctx, r, name)
		want := caaOutcome(at, recs, err)
		cancel()
		if got != want {
			t.Fatalf("%s with %v: side by side %q, sequential %q", name, layout, got, want)
		}
	}
	// The lookups relevantCAA cancelled end within their query timeout.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<16)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines after the climbs, %d before:\n%s", n, base, buf)
	}
}

// TestCAAClimbManyLabels: a name of 124 labels (253 characters, the most
// a name has) is checked like any other: every name of its climb asked once,
// the records at its top found.
func TestCAAClimbManyLabels(t *testing.T) {
	s := startDNS(t)
	s.SetCAA("example", issue(caaUs))
	r := newDNSResolver(ResolverOptions{Servers: []string{s.Addr()}, QueryTimeout: 2 * time.Second}, time.Now)
	t.Cleanup(r.close)
	name := strings.Repeat("a.", 123) + "example"
	at, recs, err := relevantCAA(t.Context(), r, name)
	if err != nil || at != "example" || len(recs) != 1 {
		t.Fatalf("relevantCAA: %q %v %v", at, recs, err)
	}
	var asked []string
	for _, q := range s.Queries() {
		asked = append(asked, q.Name)
	}
	slices.Sort(asked)
	if len(asked) != 124 || len(slices.Compact(slices.Clone(asked))) != 124 {
		t.Fatalf("%d queries (%d names), want 124", len(asked), len(slices.Compact(slices.Clone(asked))))
	}
}

// TestCAAClimbBoundedFanOut: the climb of a name of 124 labels (the most a
// 253-character name has) keeps at most caaClimbWindow CAA queries in
// flight at once on a real loopback DNS server that answers each after a
// pause; before, it sent all 124 at once, so that one order of many such
// names made thousands of simultaneous queries. The answer is unchanged
// (the records at the top are found, every name asked once), and a name
// of a few labels still has all its lookups in flight together.
func TestCAAClimbBoundedFanOut(t *testing.T) {
	var mu sync.Mutex
	inFlight, most := 0, 0
	s := startFuncServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		m := new(dns.Msg)
		m.SetReply(req)
		if strings.EqualFold(req.Question[0].Name, "example.") {
			m.Answer = []dns.RR{&dns.CAA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeCAA, Class: dns.ClassINET, Ttl: 60},
				Tag: "issue", Value: caaUs}}
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		_ = w.WriteMsg(m)
	})
	for _, tc := range []struct {
		labels, wantMost int
	}{{124, caaClimbWindow}, {4, 4}} {
		r := newDNSResolver(ResolverOptions{Servers: []string{s.addr}, QueryTimeout: 5 * time.Second}, time.Now)
		mu.Lock()
		most = 0
		mu.Unlock()
		before := s.n.Load()
		name := strings.Repeat("a.", tc.labels-1) + "example"
		at, recs, err := relevantCAA(t.Context(), r, name)
		r.close()
		if err != nil || at != "example" || len(recs) != 1 {
			t.Fatalf("%d labels: relevantCAA: %q %v %v", tc.labels, at, recs, err)
		}
		if n := s.n.Load() - before; n != int64(tc.labels) {
			t.Errorf("%d labels: %d queries, want %d", tc.labels, n, tc.labels)
		}
		mu.Lock()
		got := most
		mu.Unlock()
		if got > caaClimbWindow || (tc.labels <= caaClimbWindow && got != tc.wantMost) {
			t.Errorf("%d labels: %d queries in flight at most, want %d", tc.labels, got, tc.wantMost)
		}
	}
}
