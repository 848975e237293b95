package va

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

func dns01Value(keyAuth string) string {
	sum := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func TestDNS01(t *testing.T) {
	good := dns01Value(testKeyAuth)
	const rr = "_acme-challenge.example.com"
	tests := []struct {
		name    string
		setup   func(*testdns.Server)
		want    acme.ProblemType
		details []string
	}{
		{
			name:  "success",
			setup: func(s *testdns.Server) { s.SetTXT(rr, good) },
		},
		{
			name:  "success among other records",
			setup: func(s *testdns.Server) { s.SetTXT(rr, "v=spf1 -all", good, "other") },
		},
		{
			name:    "missing TXT (name exists)",
			setup:   func(*testdns.Server) {},
			want:    acme.Unauthorized,
			details: []string{"no TXT record found at " + rr},
		},
		{
			name:    "missing TXT (NXDOMAIN)",
			setup:   func(s *testdns.Server) { s.SetDefaultA(nil) },
			want:    acme.DNS,
			details: []string{"NXDOMAIN looking up TXT for " + rr},
		},
		{
			name:    "wrong value",
			setup:   func(s *testdns.Server) { s.SetTXT(rr, dns01Value("other")) },
			want:    acme.IncorrectResponse,
			details: []string{"incorrect TXT record", good},
		},
		{
			name: "CNAME chain followed",
			setup: func(s *testdns.Server) {
				s.SetCNAME(rr, "step1.example.net")
				s.SetCNAME("step1.example.net", "_acme-challenge.validation.example.org")
				s.SetTXT("_acme-challenge.validation.example.org", good)
			},
		},
		{
			name: "CNAME chain followed by re-querying",
			setup: func(s *testdns.Server) {
				s.SetCNAMEChasing(false)
				s.SetCNAME(rr, "step1.example.net")
				s.SetCNAME("step1.example.net", "final.example.org")
				s.SetTXT("final.example.org", good)
			},
		},
		{
			name: "CNAME loop",
			setup: func(s *testdns.Server) {
				s.SetCNAME(rr, "a.example.net")
				s.SetCNAME("a.example.net", rr)
			},
			want:    acme.DNS,
			details: []string{"CNAME loop"},
		},
		{
			name: "CNAME loop without server chasing",
			setup: func(s *testdns.Server) {
				s.SetCNAMEChasing(false)
				s.SetCNAME(rr, "a.example.net")
				s.SetCNAME("a.example.net", "b.example.net")
				s.SetCNAME("b.example.net", rr)
			},
			want:    acme.DNS,
			details: []string{"CNAME loop"},
		},
		{
			name: "multi-string TXT concatenated",
			setup: func(s *testdns.Server) {
				s.SetTXTRecords(rr, []string{good[:10], good[10:30], good[30:]})
			},
		},
		{
			name: "large answer needs TCP",
			setup: func(s *testdns.Server) {
				vals := []string{}
				for range 20 {
					vals = append(vals, strings.Repeat("q", 200))
				}
				s.SetTXT(rr, append(vals, good)...)
			},
		},
		{
			name:    "SERVFAIL",
			setup:   func(s *testdns.Server) { s.SetRcode(rr, 2) },
			want:    acme.DNS,
			details: []string{"SERVFAIL looking up TXT"},
		},
		// A failure at the end of a CNAME chain names where it happened:
		// the name asked is an alias that resolves fine.
		{
			name: "CNAME to a missing name",
			setup: func(s *testdns.Server) {
				s.SetCNAME(rr, "nowhere.test")
				s.SetRcode("nowhere.test", 3)
			},
			want:    acme.DNS,
			details: []string{"NXDOMAIN looking up TXT for " + rr + " (at nowhere.test, where its CNAME chain leads)"},
		},
		{
			name: "CNAME to a failing name",
			setup: func(s *testdns.Server) {
				s.SetCNAME(rr, "broken.test")
				s.SetRcode("broken.test", 2)
			},
			want:    acme.DNS,
			details: []string{"SERVFAIL looking up TXT for " + rr + " (at broken.test, where its CNAME chain leads)"},
		},
		{
			name:    "timeout",
			setup:   func(s *testdns.Server) { s.SetRcode(rr, testdns.Drop) },
			want:    acme.DNS,
			details: []string{"query timed out"},
		},
	}
	id := dnsID("example.com")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDNS(t)
			tc.setup(srv)
			v := newVA(t, Config{DNSResolver: srv.Addr(), Timeout: 500 * time.Millisecond})
			err := v.Validate(t.Context(), id, acme.ChallengeDNS01, testToken, testKeyAuth)
			checkResult(t, err, id, tc.want, tc.details...)
		})
	}
}
