package main

import (
	"strings"
	"testing"
)

// TestRateLimitDomainOverrideForIPAddresses: certificates-per-domain counts
// an IPv4 address identifier under its canonical form (IPv4-mapped ones as
// IPv4) and an IPv6 one under its /64, so an override given for an IP
// address (or an IPv6 /64) with --domain is stored under that form: an IPv6
// address was refused as "not a DNS name", and could not be exempted at all.
func TestRateLimitDomainOverrideForIPAddresses(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for _, c := range []struct{ value, want string }{
		{"2001:DB8:0::1", "domain:2001:db8::/64"},
		{"2001:db8:0:7::/64", "domain:2001:db8:0:7::/64"},
		{"::ffff:192.0.2.10", "domain:192.0.2.10"},
		{"192.0.2.11", "domain:192.0.2.11"},
	} {
		out, _, err := runCLI(t, nil, "ratelimit", "set", "certificates-per-domain", "--domain", c.value, "--rate", "0", "--data", data)
		if err != nil {
			t.Fatalf("--domain %s: %v", c.value, err)
		}
		if !strings.Contains(out, " "+c.want+":") {
			t.Errorf("--domain %s: %q, want the subject %s", c.value, out, c.want)
		}
	}
}

// TestRateLimitDomainOverrideRefusesNonHostNames: --domain refuses, in one
// line, a value no newOrder identifier can be (a dotted-decimal form that is
// not an IP address, such as 192.0.2.01 with its leading zero), which was
// stored as a subject nothing is ever counted under.
func TestRateLimitDomainOverrideRefusesNonHostNames(t *testing.T) {
	data := t.TempDir()
	initDataDir(t, data)
	for _, v := range []string{"192.0.2.01", "a.123"} {
		out, _, err := runCLI(t, nil, "ratelimit", "set", "certificates-per-domain", "--domain", v, "--rate", "0", "--data", data)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "not a DNS name newOrder accepts") {
			t.Errorf("--domain %s: %q, %v; want one line refusing it", v, out, err)
		}
	}
}
