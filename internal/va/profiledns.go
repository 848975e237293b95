package va

import (
	"fmt"
	"strings"
	"time"
)

// DNSSettings override a VA's DNS resolver settings for some validations
// (a certificate profile's, see policy.Validation). Zero fields keep the
// VA's own Config.DNSResolver, Config.DNSTimeout and Config.DNSSEC.
type DNSSettings struct {
	// Servers are recursive DNS servers ("host:port"), asked in order.
	Servers []string
	// QueryTimeout bounds one query to one server.
	QueryTimeout time.Duration
	// DNSSEC, when not nil, replaces Config.DNSSEC.
	DNSSEC *bool
}

// WithDNS returns a VA that is v with its resolver built from s over v's
// settings: every lookup of its Validate and CheckCAA (A/AAAA, TXT, CAA)
// goes to s's servers. v is unchanged. It fails when a server is not
// "host:port" or DNSSEC is asked without servers.
func (v *VA) WithDNS(s DNSSettings) (*VA, error) {
	cfg := v.cfg
	servers := SplitServers(cfg.DNSResolver)
	if len(s.Servers) > 0 {
		servers = s.Servers
	}
	if s.QueryTimeout > 0 {
		cfg.DNSTimeout = s.QueryTimeout
	}
	if s.DNSSEC != nil {
		cfg.DNSSEC = *s.DNSSEC
	}
	r, err := NewResolverWith(ResolverOptions{Servers: servers, QueryTimeout: cfg.DNSTimeout, DNSSEC: cfg.DNSSEC})
	if err != nil {
		return nil, fmt.Errorf("va: profile DNS settings: %w", err)
	}
	nv := *v
	cfg.DNSResolver = strings.Join(servers, ",")
	nv.cfg = cfg
	nv.resolver = r
	return &nv, nil
}
