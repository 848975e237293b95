package va

import (
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Caching of CAA answers for parent names.
//
// A CAA check climbs from the requested name towards the root (RFC 8659
// §3), so the orders of many names under one domain ask for the CAA
// records of the same parents again and again. RFC 8659 §3 lets a CA use
// answers it has cached within their TTL, and the CA/B Forum Baseline
// Requirements (§3.2.2.8) let it use CAA records it retrieved up to eight
// hours before issuance. A resolver keeps the answers to its CAA lookups
// of parent names (never of the requested name itself, and never A, AAAA
// or TXT, which prove control) for their TTL, capped:
//
//   - records: the smallest TTL of the CAA RRset and of the CNAMEs
//     followed to it;
//   - no records (NOERROR without data, or NXDOMAIN): the negative TTL of
//     RFC 2308 §5, the smaller of the TTL and the MINIMUM field of the
//     SOA record in the authority section, when that SOA is the zone of
//     the name (an ancestor of it or the name itself); without such an
//     SOA the answer is not cached (RFC 2308 §5);
//   - failures (SERVFAIL, timeouts, DNSSEC refusals) are never cached;
//   - every entry is kept at most Config.CAACacheTTL (default
//     DefaultCAACacheTTL) and the cache holds at most caaCacheMaxEntries.
//
// The cache belongs to one resolver, that is, to one set of DNS settings
// (servers, timeout, DNSSEC): a profile with its own resolvers
// (DNSSettings) has its own cache.

// DefaultCAACacheTTL is how long a cached CAA answer of a parent name is
// used at most when Config.CAACacheTTL is 0: one minute, far within the
// eight hours of the Baseline Requirements §3.2.2.8, so a domain holder's
// change takes effect as fast as the record's own TTL or a minute allows.
const DefaultCAACacheTTL = time.Minute

// caaCacheMaxEntries bounds the CAA cache of one resolver. When it is full,
// expired entries are removed; if none has expired, new answers are not
// cached until some do.
const caaCacheMaxEntries = 4096

// caaCache is a resolver's cache of CAA answers, keyed by the lower-case
// fully qualified name asked. It is safe for concurrent use.
type caaCache struct {
	maxTTL time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]caaEntry
}

// caaEntry is one cached answer: records, or NXDOMAIN when notFound.
type caaEntry struct {
	recs     []CAARecord
	notFound bool
	expires  time.Time
}

func newCAACache(maxTTL time.Duration, now func() time.Time) *caaCache {
	return &caaCache{maxTTL: maxTTL, now: now, entries: map[string]caaEntry{}}
}

// get returns the unexpired entry of name.
func (c *caaCache) get(name string) (caaEntry, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[name]
	if !ok {
		return caaEntry{}, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, name)
		return caaEntry{}, false
	}
	e.recs = slices.Clone(e.recs)
	return e, true
}

// put caches an answer for ttl (capped at maxTTL); ttl 0 caches nothing.
func (c *caaCache) put(name string, e caaEntry, ttl time.Duration) {
	ttl = min(ttl, c.maxTTL)
	if ttl <= 0 {
		return
	}
	now := c.now()
	e.expires = now.Add(ttl)
	e.recs = slices.Clone(e.recs)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[name]; !ok && len(c.entries) >= caaCacheMaxEntries {
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= caaCacheMaxEntries {
			return
		}
	}
	c.entries[name] = e
}

// negativeTTL returns the RFC 2308 §5 TTL of a negative answer to a query
// for name (fully qualified, the end of any CNAME chain): the smaller of
// the TTL and MINIMUM of an SOA record in the authority section that is
// the zone of name, or 0 (do not cache) without one.
func negativeTTL(resp *dns.Msg, name string) uint32 {
	for _, rr := range resp.Ns {
		soa, ok := rr.(*dns.SOA)
		if !ok || !dns.IsSubDomain(soa.Hdr.Name, name) {
			continue
		}
		return min(soa.Hdr.Ttl, soa.Minttl)
	}
	return 0
}
