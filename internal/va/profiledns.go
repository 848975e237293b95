package va

import (
	"fmt"
	"strings"
	"sync"
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
//
// VAs derived from one VA share one resolver per distinct set of DNS
// settings (servers, timeout, DNSSEC), with its reusable sockets and its
// CAA cache; different settings never share a cache.
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
	r, err := v.resolvers.get(cfg.resolverOptions(servers))
	if err != nil {
		return nil, fmt.Errorf("va: profile DNS settings: %w", err)
	}
	nv := *v
	cfg.DNSResolver = strings.Join(servers, ",")
	nv.cfg = cfg
	nv.resolver = r
	return &nv, nil
}

// resolverOptions returns the options of a resolver for servers with
// cfg's timeout, DNSSEC and CAA cache settings.
func (cfg Config) resolverOptions(servers []string) ResolverOptions {
	return ResolverOptions{Servers: servers, QueryTimeout: cfg.DNSTimeout, DNSSEC: cfg.DNSSEC, CAACacheTTL: cfg.CAACacheTTL}
}

// maxSharedResolvers bounds how many resolvers (distinct DNS settings) a
// resolverSet keeps; beyond it an arbitrary one is dropped, its idle
// sockets closed (VAs still holding it keep working).
const maxSharedResolvers = 64

// resolverSet keeps one resolver per distinct ResolverOptions, so that the
// VAs WithDNS builds for every validation of a profile share sockets and
// CAA cache instead of each starting empty. It is safe for concurrent use.
type resolverSet struct {
	mu sync.Mutex
	m  map[resolverKey]Resolver
}

// resolverKey identifies a ResolverOptions.
type resolverKey struct {
	servers     string // comma-joined, in order
	timeout     time.Duration
	dnssec      bool
	caaCacheTTL time.Duration
}

// get returns the set's resolver for opts, built with NewResolverWith on
// first use.
func (s *resolverSet) get(opts ResolverOptions) (Resolver, error) {
	key := resolverKey{servers: strings.Join(opts.Servers, ","), timeout: opts.QueryTimeout, dnssec: opts.DNSSEC, caaCacheTTL: opts.CAACacheTTL}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.m[key]; ok {
		return r, nil
	}
	r, err := NewResolverWith(opts)
	if err != nil {
		return nil, err
	}
	if len(s.m) >= maxSharedResolvers {
		for k, old := range s.m {
			if d, ok := old.(*dnsResolver); ok {
				d.close()
			}
			delete(s.m, k)
			break
		}
	}
	s.m[key] = r
	return r, nil
}
