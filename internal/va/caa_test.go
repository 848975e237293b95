package va

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

const (
	caaUs      = "certgate.test"
	caaAccount = "https://ca.test/acme/account/42"
)

func issue(v string) testdns.CAA     { return testdns.CAA{Tag: "issue", Value: v} }
func issueWild(v string) testdns.CAA { return testdns.CAA{Tag: "issuewild", Value: v} }

func TestCheckCAA(t *testing.T) {
	tests := []struct {
		name       string
		id         string // default www.example.com
		wildcard   bool
		method     string // default http-01
		identities []string
		timeout    time.Duration
		setup      func(*testdns.Server)
		want       acme.ProblemType // "" = issuance allowed
		details    []string
	}{
		{name: "no CAA anywhere", setup: func(*testdns.Server) {}},
		{name: "issue names us", setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs)) }},
		{name: "issuer compared case-insensitively",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue("CertGate.TEST")) }},
		{name: "whitespace around issuer",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(" \tcertgate.test ")) }},
		{name: "issue names another CA",
			setup:   func(s *testdns.Server) { s.SetCAA("www.example.com", issue("other.test")) },
			want:    acme.CAA,
			details: []string{"CAA records at www.example.com do not authorize this CA (certgate.test) to issue for www.example.com", `0 issue "other.test": names another CA`}},
		{name: "one of several issue records names us",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue("other.test"), issue(caaUs)) }},
		{name: "empty issuer forbids issuance",
			setup:   func(s *testdns.Server) { s.SetCAA("www.example.com", issue(";")) },
			want:    acme.CAA,
			details: []string{`0 issue ";": no CA may issue`}},

		// Tree climbing (RFC 8659 §3).
		{name: "climb: parent record applies", id: "www.sub.example.com",
			setup:   func(s *testdns.Server) { s.SetCAA("example.com", issue("other.test")) },
			want:    acme.CAA,
			details: []string{"CAA records at example.com (inherited by www.sub.example.com)"}},
		{name: "climb: parent record names us", id: "www.sub.example.com",
			setup: func(s *testdns.Server) { s.SetCAA("example.com", issue(caaUs)) }},
		{name: "climb: closest non-empty RRset wins (ours)", id: "www.sub.example.com",
			setup: func(s *testdns.Server) {
				s.SetCAA("sub.example.com", issue(caaUs))
				s.SetCAA("example.com", issue("other.test"))
			}},
		{name: "climb: closest non-empty RRset wins (theirs)", id: "www.sub.example.com",
			setup: func(s *testdns.Server) {
				s.SetCAA("sub.example.com", issue("other.test"))
				s.SetCAA("example.com", issue(caaUs))
			},
			want: acme.CAA, details: []string{"CAA records at sub.example.com"}},
		{name: "climb: iodef-only RRset ends the climb without restriction", id: "www.sub.example.com",
			setup: func(s *testdns.Server) {
				s.SetCAA("sub.example.com", testdns.CAA{Tag: "iodef", Value: "mailto:sec@example.com"})
				s.SetCAA("example.com", issue("other.test"))
			}},
		{name: "climb: NXDOMAIN is empty, climbing goes on (refuse)",
			setup: func(s *testdns.Server) {
				s.SetRcode("www.example.com", dns.RcodeNameError)
				s.SetCAA("example.com", issue("other.test"))
			},
			want: acme.CAA, details: []string{"CAA records at example.com (inherited by www.example.com)"}},
		{name: "climb: NXDOMAIN is empty, climbing goes on (allow)",
			setup: func(s *testdns.Server) {
				s.SetRcode("www.example.com", dns.RcodeNameError)
				s.SetCAA("example.com", issue(caaUs))
			}},
		{name: "CNAME followed",
			setup: func(s *testdns.Server) {
				s.SetCNAME("www.example.com", "cdn.example.net")
				s.SetCAA("cdn.example.net", issue("other.test"))
				s.SetCAA("example.com", issue(caaUs))
			},
			want: acme.CAA, details: []string{"CAA records at www.example.com", "other.test"}},
		{name: "CNAME to a missing name counts as empty",
			setup: func(s *testdns.Server) {
				s.SetDefaultA(nil)
				s.SetCNAME("www.example.com", "gone.example.net")
				s.SetCAA("example.com", issue("other.test"))
			},
			want: acme.CAA, details: []string{"CAA records at example.com"}},

		// issue vs issuewild (RFC 8659 §4.2, §4.3).
		{name: "wildcard: issuewild takes precedence over issue (refuse)", id: "example.com", wildcard: true,
			setup:   func(s *testdns.Server) { s.SetCAA("example.com", issue(caaUs), issueWild("other.test")) },
			want:    acme.CAA,
			details: []string{"CAA records at example.com (for *.example.com)", `0 issuewild "other.test"`}},
		{name: "wildcard: issuewild takes precedence over issue (allow)", id: "example.com", wildcard: true,
			setup: func(s *testdns.Server) { s.SetCAA("example.com", issue("other.test"), issueWild(caaUs)) }},
		{name: "wildcard: issue applies without issuewild", id: "example.com", wildcard: true,
			setup: func(s *testdns.Server) { s.SetCAA("example.com", issue(caaUs)) }},
		{name: "wildcard: issue of another CA applies without issuewild", id: "example.com", wildcard: true,
			setup: func(s *testdns.Server) { s.SetCAA("example.com", issue("other.test")) },
			want:  acme.CAA},
		{name: "wildcard: issuewild \";\" forbids wildcards", id: "example.com", wildcard: true,
			setup: func(s *testdns.Server) { s.SetCAA("example.com", issue(caaUs), issueWild(";")) },
			want:  acme.CAA, details: []string{"no CA may issue"}},
		{name: "non-wildcard: issuewild ignored", id: "example.com",
			setup: func(s *testdns.Server) { s.SetCAA("example.com", issue(caaUs), issueWild(";")) }},
		{name: "non-wildcard: only issuewild, no restriction", id: "example.com",
			setup: func(s *testdns.Server) { s.SetCAA("example.com", issueWild("other.test")) }},
		{name: "property tag compared case-insensitively", id: "example.com",
			setup: func(s *testdns.Server) { s.SetCAA("example.com", testdns.CAA{Tag: "ISSUE", Value: "other.test"}) },
			want:  acme.CAA},

		// Flags and unknown properties (RFC 8659 §4.1).
		{name: "critical unknown tag refuses",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs), testdns.CAA{Flag: 128, Tag: "tbs", Value: "x"})
			},
			want: acme.CAA, details: []string{`128 tbs "x", an unknown property marked critical`}},
		{name: "non-critical unknown tag ignored",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs), testdns.CAA{Tag: "tbs", Value: "x"})
			}},
		{name: "only unknown non-critical and iodef: no restriction",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", testdns.CAA{Tag: "tbs", Value: "x"}, testdns.CAA{Flag: 128, Tag: "iodef", Value: "mailto:a@example.com"})
			}},

		// RFC 8657 parameters.
		{name: "accounturi matches",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; accounturi="+caaAccount)) }},
		{name: "accounturi under another host of this server",
			// The URL a client reaching the server by IP address was
			// given: never matched, as only hostname's URLs were ours.
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs+"; accounturi=https://127.0.0.1:14000/acme/account/42"))
			}},
		{name: "accounturi over http",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs+"; accounturi=http://ca.test/acme/account/42"))
			},
			want: acme.CAA, details: []string{"accounturi is not this account's URL", "this account's is https://other.test/acct/42"}},
		{name: "accounturi with an empty fragment",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs+"; accounturi=https://ca.test/acme/account/42#"))
			},
			want: acme.CAA, details: []string{"accounturi is not this account's URL"}},
		{name: "accounturi of a path below the account",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs+"; accounturi=https://ca.test/acme/account/42/orders"))
			},
			want: acme.CAA, details: []string{"accounturi is not this account's URL"}},
		{name: "accounturi mismatch",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs+"; accounturi=https://ca.test/acme/account/43"))
			},
			want:    acme.CAA,
			details: []string{"accounturi is not this account's URL"}},
		{name: "accounturi duplicated makes the record unusable",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs+"; accounturi="+caaAccount+"; accounturi="+caaAccount))
			},
			want: acme.CAA, details: []string{"more than one accounturi"}},
		{name: "accounturi mixed-case tag matches",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; AccountURI="+caaAccount)) }},
		{name: "accounturi mixed-case tag mismatch",
			setup:   func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+";ACCOUNTURI=https://x.test/acct/1")) },
			want:    acme.CAA,
			details: []string{"accounturi is not this account's URL"}},
		{name: "accounturi mixed-case duplicate",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs+"; accounturi="+caaAccount+"; AccountUri="+caaAccount))
			},
			want: acme.CAA, details: []string{"more than one accounturi"}},
		{name: "accounturi of another record does not help",
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue("other.test; accounturi="+caaAccount), issue(caaUs+"; accounturi=https://x.test/1"))
			},
			want: acme.CAA},
		{name: "validationmethods allows dns-01, used dns-01", method: acme.ChallengeDNS01,
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; validationmethods=dns-01")) }},
		{name: "validationmethods allows dns-01, used http-01", method: acme.ChallengeHTTP01,
			setup:   func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; validationmethods=dns-01")) },
			want:    acme.CAA,
			details: []string{"validationmethods does not allow http-01"}},
		{name: "validationmethods list and accounturi", method: acme.ChallengeTLSALPN01,
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs+"; validationmethods=dns-01,tls-alpn-01 ; accounturi="+caaAccount))
			}},
		{name: "validationmethods mixed-case tag", method: acme.ChallengeHTTP01,
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; ValidationMethods=dns-01")) },
			want:  acme.CAA},
		{name: "validationmethods malformed list", method: acme.ChallengeDNS01,
			setup: func(s *testdns.Server) {
				s.SetCAA("www.example.com", issue(caaUs+"; validationmethods=dns-01,,http-01"))
			},
			want: acme.CAA, details: []string{"malformed validationmethods"}},
		{name: "unknown parameter ignored",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; policy=ev")) }},
		{name: "trailing semicolon tolerated",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; accounturi="+caaAccount+";")) }},
		{name: "issuer with parameters only (\"; x=y\") forbids",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue("; accounturi="+caaAccount)) },
			want:  acme.CAA, details: []string{"no CA may issue"}},

		// Malformed records authorize no one (RFC 8659 §4.2).
		{name: "malformed: parameter without value",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; accounturi")) },
			want:  acme.CAA, details: []string{"malformed"}},
		{name: "malformed: issuer with trailing dot",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+".")) },
			want:  acme.CAA, details: []string{"malformed (bad issuer domain name"}},
		{name: "malformed: space inside the issuer",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue("certgate .test")) },
			want:  acme.CAA, details: []string{"malformed"}},
		{name: "malformed: empty parameter between semicolons",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; a=b;; c=d")) },
			want:  acme.CAA, details: []string{"malformed (empty parameter)"}},
		{name: "malformed record next to a good one",
			setup: func(s *testdns.Server) { s.SetCAA("www.example.com", issue(caaUs+"; =x"), issue(caaUs)) }},

		// Lookup failures refuse; they are not an empty answer. They are dns
		// problems (RFC 8555 §6.7): the records could not be read.
		{name: "SERVFAIL at the name refuses",
			setup: func(s *testdns.Server) { s.SetRcode("www.example.com", dns.RcodeServerFailure) },
			want:  acme.DNS, details: []string{"DNS problem while checking CAA: SERVFAIL looking up CAA for www.example.com"}},
		{name: "SERVFAIL at a parent refuses",
			setup: func(s *testdns.Server) { s.SetRcode("example.com", dns.RcodeServerFailure) },
			want:  acme.DNS, details: []string{"SERVFAIL looking up CAA for example.com"}},
		{name: "REFUSED at a parent refuses and says it is a parent",
			setup: func(s *testdns.Server) { s.SetRcode("com", dns.RcodeRefused) },
			want:  acme.DNS, details: []string{"REFUSED looking up CAA for com (a parent of www.example.com: CAA is looked up at every parent name, RFC 8659 §3)"}},
		{name: "timeout refuses", timeout: 300 * time.Millisecond,
			setup: func(s *testdns.Server) { s.SetRcode("www.example.com", testdns.Drop) },
			want:  acme.DNS, details: []string{"query timed out looking up CAA for www.example.com"}},
		{name: "CNAME loop refuses",
			setup: func(s *testdns.Server) {
				s.SetCNAMEChasing(false)
				s.SetCNAME("www.example.com", "a.example.net")
				s.SetCNAME("a.example.net", "www.example.com")
			},
			want: acme.DNS, details: []string{"CNAME loop"}},

		// Identities.
		{name: "no identities configured, no records", identities: []string{}, setup: func(*testdns.Server) {}},
		{name: "no identities configured, issue record refuses", identities: []string{},
			setup:   func(s *testdns.Server) { s.SetCAA("example.com", issue(caaUs)) },
			want:    acme.CAA,
			details: []string{"this CA (it has no CAA identities configured)"}},
		{name: "second identity matches", identities: []string{"ca.example.org", "certgate.test"},
			setup: func(s *testdns.Server) { s.SetCAA("example.com", issue(caaUs)) }},

		// IP identifiers are not subject to CAA.
		{name: "ip identifier skips CAA", id: "192.0.2.1",
			setup: func(s *testdns.Server) { s.SetRcode("1.2.0.192.in-addr.arpa", dns.RcodeServerFailure) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startDNS(t)
			tc.setup(s)
			ids := tc.identities
			if ids == nil {
				ids = []string{caaUs}
			}
			v := newVA(t, Config{DNSResolver: s.Addr(), CAAIdentities: ids, Timeout: tc.timeout})
			idv := tc.id
			if idv == "" {
				idv = "www.example.com"
			}
			id := dnsID(idv)
			if idv == "192.0.2.1" {
				id = ipID(idv)
			}
			method := tc.method
			if method == "" {
				method = acme.ChallengeHTTP01
			}
			err := v.CheckCAA(t.Context(), id, tc.wildcard, method, []string{"https://other.test/acct/42", caaAccount})
			checkResult(t, err, id, tc.want, tc.details...)
			if id.Type == acme.IdentifierIP && len(s.Queries()) > 0 {
				t.Errorf("ip identifier: CAA queries sent: %v", s.Queries())
			}
		})
	}
}

// TestCAAClimbStopsBeforeRoot: with no records anywhere every ancestor is
// asked once, the root never (in any order: the lookups run side by side,
// TestCAAClimbSideBySide).
func TestCAAClimbStopsBeforeRoot(t *testing.T) {
	s := startDNS(t)
	v := newVA(t, Config{DNSResolver: s.Addr(), CAAIdentities: []string{caaUs}})
	if err := v.CheckCAA(t.Context(), dnsID("A.B.Example.com"), false, acme.ChallengeDNS01, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range s.Queries() {
		if q.Type != "CAA" {
			t.Errorf("unexpected query %v", q)
		}
		got = append(got, q.Name)
	}
	slices.Sort(got)
	want := []string{"a.b.example.com", "b.example.com", "com", "example.com"}
	if !slices.Equal(got, want) {
		t.Fatalf("CAA queries %v, want %v", got, want)
	}
}

// TestCAAClimbSideBySide: the CAA lookups of a name and of its parents
// are all under way before the first is answered (as in Boulder's VA), so
// a climb takes as long as its slowest lookup, not the sum of them. The
// DNS server here answers no CAA query until every name of the climb has
// been asked; the former code asked one name after the other, so its
// first lookup waited in vain and the check failed on its timeout.
func TestCAAClimbSideBySide(t *testing.T) {
	const names = 4 // a.b.example.com, b.example.com, example.com, com
	var mu sync.Mutex
	asked := map[string]bool{}
	all := make(chan struct{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if len(req.Question) == 1 && req.Question[0].Qtype == dns.TypeCAA {
			mu.Lock()
			asked[req.Question[0].Name] = true
			if len(asked) == names {
				select {
				case <-all:
				default:
					close(all)
				}
			}
			mu.Unlock()
			select {
			case <-all:
			case <-time.After(5 * time.Second):
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	v := newVA(t, Config{DNSResolver: pc.LocalAddr().String(), CAAIdentities: []string{caaUs}})
	if err := v.CheckCAA(t.Context(), dnsID("a.b.example.com"), false, acme.ChallengeHTTP01, nil); err != nil {
		t.Fatalf("CheckCAA: %v (the lookups were not all under way at once)", err)
	}
	select {
	case <-all:
	default:
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("asked %v before any answer, want all %d names of the climb", asked, names)
	}
}

// TestCAAClimbOrder: the answers are taken in the order of the climb
// although the lookups run side by side: records at the name decide even
// when a parent's lookup fails, and a failed lookup of a parent decides
// (a dns problem) when the names below it have no records, whatever a
// farther name holds.
func TestCAAClimbOrder(t *testing.T) {
	s := startDNS(t)
	s.SetCAA("www.first.test", issue("other.test"))
	s.SetRcode("first.test", dns.RcodeServerFailure)
	s.SetRcode("second.test", dns.RcodeServerFailure)
	s.SetCAA("test", issue(caaUs))
	v := newVA(t, Config{DNSResolver: s.Addr(), CAAIdentities: []string{caaUs}})

	id := dnsID("www.first.test")
	checkResult(t, v.CheckCAA(t.Context(), id, false, acme.ChallengeHTTP01, nil), id, acme.CAA)
	id = dnsID("www.second.test")
	checkResult(t, v.CheckCAA(t.Context(), id, false, acme.ChallengeHTTP01, nil), id, acme.DNS)
}

func TestParseIssueValue(t *testing.T) {
	tests := []struct {
		in     string
		issuer string
		params []caaParam
		bad    bool
	}{
		{in: "ca.example", issuer: "ca.example"},
		{in: ";", issuer: ""},
		{in: "", issuer: ""},
		{in: "  ca.example  ;  a=b ; c-d=e=f  ", issuer: "ca.example", params: []caaParam{{"a", "b"}, {"c-d", "e=f"}}},
		{in: "ca.example;a=", issuer: "ca.example", params: []caaParam{{"a", ""}}},
		{in: "ca.example; a=b;", issuer: "ca.example", params: []caaParam{{"a", "b"}}},
		{in: "ca.example; a = b", issuer: "ca.example", params: []caaParam{{"a", "b"}}},
		{in: "-ca.example", bad: true},
		{in: "ca..example", bad: true},
		{in: "ca_x.example", bad: true},
		{in: "ca.example; a", bad: true},
		{in: "ca.example; -a=b", bad: true},
		{in: "ca.example; a=b c", bad: true},
		{in: "ca.example; a=\u00e9", bad: true},
		{in: "ca.example;; a=b", bad: true},
	}
	for _, tc := range tests {
		v, err := parseIssueValue(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: parsed as %+v, want error", tc.in, v)
			}
			continue
		}
		if err != nil || v.issuer != tc.issuer || !slices.Equal(v.params, tc.params) {
			t.Errorf("%q: got %+v, %v; want issuer %q params %v", tc.in, v, err, tc.issuer, tc.params)
		}
	}
}

// TestCAANotQueriedForLocalhost: names under localhost (RFC 6761 §6.3)
// cannot hold CAA records; no query is sent for them, even to a resolver
// that would answer with a refusing record.
func TestCAANotQueriedForLocalhost(t *testing.T) {
	s := startDNS(t)
	v := newVA(t, Config{DNSResolver: s.Addr(), CAAIdentities: []string{caaUs}})
	for _, name := range []string{"localhost", "app.localhost"} {
		s.SetCAA(name, testdns.CAA{Tag: "issue", Value: "otherca.test"})
		if err := v.CheckCAA(t.Context(), dnsID(name), false, acme.ChallengeHTTP01, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if q := s.Queries(); len(q) != 0 {
		t.Fatalf("queries sent for localhost names: %v", q)
	}
}
