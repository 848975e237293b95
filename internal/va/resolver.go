package va

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Resolver is the DNS client every validation lookup goes through: A/AAAA
// for http-01 and tls-alpn-01 (RFC 8555 §8.3, RFC 8737 §3) and TXT for
// dns-01 (RFC 8555 §8.4). Names are given without a trailing dot.
//
// Errors are *LookupError; a name that exists but has no records of the
// asked type is not an error for LookupTXT (it returns an empty slice).
// Implementations are safe for concurrent use.
type Resolver interface {
	// LookupIPs returns the IPv4 and IPv6 addresses of name (A and AAAA
	// records, CNAMEs followed). It fails when name has neither.
	LookupIPs(ctx context.Context, name string) ([]netip.Addr, error)
	// LookupTXT returns the TXT records at name, CNAME chains followed; the
	// character-strings of one record are concatenated (RFC 7208 §3.3
	// style), so each element of the result is one record.
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupCAA returns the CAA records at name itself (RFC 8659 §3: no
	// tree climbing here; CNAME chains followed). NOERROR without CAA
	// records gives an empty slice; NXDOMAIN is a *LookupError for which
	// IsNotFound is true.
	LookupCAA(ctx context.Context, name string) ([]CAARecord, error)
}

// CAARecord is one CAA resource record (RFC 8659 §4.1).
type CAARecord struct {
	Flag  uint8  // bit 128 is the Issuer Critical flag
	Tag   string // property tag as received, e.g. "issue"
	Value string // property value, e.g. "ca.example; accounturi=..."
}

// maxCNAMEHops bounds how many CNAMEs a lookup follows before it gives up.
const maxCNAMEHops = 10

// defaultQueryTimeout is the per-query timeout when NewResolver is given 0.
const defaultQueryTimeout = 5 * time.Second

// LookupError is the error of a failed DNS lookup. Detail returns a message
// that is safe to show to ACME clients (no resolver address, no internals).
type LookupError struct {
	Name string // queried name, no trailing dot
	Type string // query type: "A", "AAAA", "A/AAAA", "TXT", ...
	// Rcode is the DNS response code (RFC 1035 §4.1.1, e.g. dns.RcodeNameError
	// for NXDOMAIN) when a response was received and was not NOERROR;
	// -1 otherwise.
	Rcode int
	// Timeout is true when the lookup ran out of time: a query's own
	// timeout, or the deadline of the lookup's context.
	Timeout bool
	// Cancelled is true when the lookup was cut short because its
	// context was cancelled (not by its deadline, which is a Timeout):
	// the caller gave up, the DNS did not fail.
	Cancelled bool
	// Reason describes a failure that is not an rcode or timeout, e.g.
	// "CNAME loop" or "no A or AAAA records".
	Reason string
	// Via is the name the failure came from when it is not Name but the
	// end of the CNAME chain Name starts (no trailing dot), else "".
	Via string
	// NotFound is true for the system resolver's "not found": Go's
	// resolver answers NXDOMAIN and a name without records of the type
	// (NOERROR, no data) alike (a *net.DNSError with IsNotFound), so
	// which of the two it was is unknown and Rcode is -1.
	NotFound bool
	// Err is the underlying cause (network or parse error), may be nil.
	Err error
}

// Detail returns a short description such as
// "NXDOMAIN looking up A for example.com".
func (e *LookupError) Detail() string {
	if e.NotFound {
		// Not "NXDOMAIN": the name may exist without such records.
		return fmt.Sprintf("no %s record found for %s (no such name, or no %s records at it)", e.Type, e.Name, e.Type)
	}
	var what string
	switch {
	case e.Rcode > 0:
		what = dns.RcodeToString[e.Rcode]
		if what == "" {
			what = fmt.Sprintf("rcode %d", e.Rcode)
		}
	case e.Cancelled:
		what = "query cancelled"
	case e.Timeout:
		what = "query timed out"
	case e.Reason != "":
		what = e.Reason
	default:
		what = "networking error"
	}
	if e.Via != "" {
		return fmt.Sprintf("%s looking up %s for %s (at %s, where its CNAME chain leads)", what, e.Type, e.Name, e.Via)
	}
	return fmt.Sprintf("%s looking up %s for %s", what, e.Type, e.Name)
}

// Error implements error.
func (e *LookupError) Error() string {
	if e.Err != nil {
		return e.Detail() + ": " + e.Err.Error()
	}
	return e.Detail()
}

// Unwrap returns the underlying cause.
func (e *LookupError) Unwrap() error { return e.Err }

// IsNotFound reports whether the name does not exist (NXDOMAIN), or,
// from the system resolver, does not exist or has no records of the type
// (NotFound).
func (e *LookupError) IsNotFound() bool { return e.Rcode == dns.RcodeNameError || e.NotFound }

// NewResolver returns a Resolver. With server "" it uses the operating
// system's resolver (Go's net.Resolver: /etc/hosts, /etc/resolv.conf).
// Otherwise server is the "host:port" of a recursive DNS server, or
// several separated by commas, queried directly (see NewResolverWith).
// queryTimeout bounds each query (0 means 5s); the caller's context bounds
// the whole lookup.
func NewResolver(server string, queryTimeout time.Duration) (Resolver, error) {
	return NewResolverWith(ResolverOptions{Servers: SplitServers(server), QueryTimeout: queryTimeout})
}

// ResolverOptions configure NewResolverWith.
type ResolverOptions struct {
	// Servers are recursive DNS servers ("host:port"), asked in order: the
	// next one only when a server gives no answer (network error or
	// timeout), never because of what an answer says. Empty uses the
	// system resolver.
	Servers []string
	// QueryTimeout bounds one query to one server (0 means 5s).
	QueryTimeout time.Duration
	// DNSSEC asks for DNSSEC (EDNS0 DO bit, and AD in the query, RFC 6840
	// §5.7) and accepts an answer (including NXDOMAIN and no data) only
	// when the resolver marked it authenticated (AD bit, RFC 4035 §3.2.3);
	// a validating resolver answers SERVFAIL for bogus data, which fails
	// like any SERVFAIL. Needs Servers: the AD bit is trusted from a
	// validating resolver reached over a trusted path (RFC 4035 §4.9.3).
	DNSSEC bool
	// CAACacheTTL caps how long CAA answers of parent names are kept
	// (caacache.go): 0 means DefaultCAACacheTTL, a negative value
	// caches nothing. Answers are never kept longer than their TTL.
	CAACacheTTL time.Duration
}

// SplitServers splits a comma-separated list of "host:port" servers,
// dropping empty entries.
func SplitServers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// NewResolverWith returns a Resolver for opts. It fails when a server is
// not "host:port", or when DNSSEC is asked without servers.
func NewResolverWith(opts ResolverOptions) (Resolver, error) {
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = defaultQueryTimeout
	}
	if len(opts.Servers) == 0 {
		if opts.DNSSEC {
			return nil, errors.New("va: DNSSEC checking needs a validating DNS resolver (host:port); the system resolver does not report DNSSEC status")
		}
		return newSystemResolver(nil), nil
	}
	for _, s := range opts.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return nil, fmt.Errorf("va: DNS resolver %q is not host:port: %w", s, err)
		}
	}
	return newDNSResolver(opts, time.Now), nil
}

// newDNSResolver returns a dnsResolver for opts (servers checked, timeout
// set) with socket reuse and, unless opts.CAACacheTTL < 0, a CAA cache,
// both reading the time from now.
func newDNSResolver(opts ResolverOptions, now func() time.Time) *dnsResolver {
	r := &dnsResolver{
		servers: opts.Servers,
		timeout: opts.QueryTimeout,
		dnssec:  opts.DNSSEC,
		udp:     &dns.Client{Net: "udp", Timeout: opts.QueryTimeout},
		tcp:     &dns.Client{Net: "tcp", Timeout: opts.QueryTimeout},
		pools:   make(map[string]*udpPool, len(opts.Servers)),
	}
	for _, s := range opts.Servers {
		if reuseSockets(s) {
			r.pools[s] = newUDPPool(s, now)
		}
	}
	ttl := opts.CAACacheTTL
	if ttl == 0 {
		ttl = DefaultCAACacheTTL
	}
	if ttl > 0 {
		r.caa = newCAACache(ttl, now)
	}
	return r
}

// dnsResolver queries recursive servers with miekg/dns. Its query method
// is generic over the record type so CAA (RFC 8659) can be added with the
// same chain-following logic.
type dnsResolver struct {
	servers []string
	timeout time.Duration
	dnssec  bool
	udp     *dns.Client // nil: a new one per query
	tcp     *dns.Client // nil: a new one per query
	// pools hold reusable UDP sockets per server (udppool.go); nil
	// opens a socket per query.
	pools map[string]*udpPool
	// caa caches CAA answers of parent names (caacache.go); nil caches
	// nothing.
	caa *caaCache
}

// exchange sends one query to the servers in order, moving on only when
// a server does not answer; with each, over UDP first and over TCP when
// the UDP answer is truncated (RFC 1035 §4.2.1, RFC 7766 §5).
func (r *dnsResolver) exchange(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(1232, r.dnssec) // DNS flag day 2020 buffer size; DO bit for DNSSEC
	m.AuthenticatedData = r.dnssec
	var errs []error
	for _, server := range r.servers {
		resp, err := r.exchangeOne(ctx, m, server)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// exchangeOne asks server, over UDP and over TCP when the UDP answer is
// truncated, both within r.timeout from now and ctx's deadline. The
// deadline is set on the pooled socket itself (udpConn.exchange); a
// context that carries it is made only for the other paths, which take
// their bound from a context.
func (r *dnsResolver) exchangeOne(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	deadline := time.Now().Add(r.timeout)
	resp, err := r.exchangeUDP(ctx, m, server, deadline)
	if err == nil && resp.Truncated {
		tcp := r.tcp
		if tcp == nil {
			tcp = &dns.Client{Net: "tcp", Timeout: r.timeout}
		}
		qctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		resp, err = exchangeCancellable(qctx, tcp, m, server)
		if err == nil {
			err = checkQuestion(m, resp)
		}
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// reuseSockets reports whether queries to server ("host:port") may share
// UDP sockets (udppool.go): only when host is a loopback or private
// (RFC 1918, RFC 4193) address. A reused socket keeps its source port for
// several queries, which leaves an off-path attacker only the 16-bit
// query ID to guess (RFC 5452 §9.2 asks for a random port per query);
// spoofed datagrams from outside cannot reach a loopback address, and a
// private network is the CA's own. A resolver anywhere else, or named by
// a host name, gets a fresh socket (and port) per query.
func reuseSockets(server string) bool {
	host, _, err := net.SplitHostPort(server)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate()
}

// exchangeUDP sends m to server over UDP, on a pooled socket when the
// resolver keeps them for server (reuseSockets), and waits for the
// answer until deadline or ctx's deadline, whichever is earlier.
func (r *dnsResolver) exchangeUDP(ctx context.Context, m *dns.Msg, server string, deadline time.Time) (*dns.Msg, error) {
	pool := r.pools[server]
	if pool == nil {
		udp := r.udp
		if udp == nil {
			udp = &dns.Client{Net: "udp", Timeout: r.timeout}
		}
		qctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		resp, err := exchangeCancellable(qctx, udp, m, server)
		if err == nil {
			err = checkQuestion(m, resp)
		}
		return resp, err
	}
	c, err := pool.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.exchange(ctx, m, time.Until(deadline))
	if err == nil {
		err = checkQuestion(m, resp)
	}
	pool.put(c, err == nil)
	return resp, err
}

// query looks up name/qtype and follows CNAMEs (inside one answer and across
// further queries) up to maxCNAMEHops. It returns the records of qtype owned
// by the end of the chain; an empty result means NOERROR with no data.
func (r *dnsResolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	rrs, _, err := r.queryTTL(ctx, name, qtype)
	return rrs, err
}

// queryTTL is query that also returns for how long the result may be
// cached, in seconds: the smallest TTL of the records returned and of the
// CNAMEs followed to them; for no data and for NXDOMAIN (a *LookupError
// for which IsNotFound is true) the smallest of the CNAMEs' TTLs and the
// negative TTL of RFC 2308 §5 (0 without an SOA record of the zone). It
// is 0 for other errors.
func (r *dnsResolver) queryTTL(ctx context.Context, name string, qtype uint16) ([]dns.RR, uint32, error) {
	typeName := dns.TypeToString[qtype]
	cur := strings.ToLower(dns.Fqdn(name))
	start := cur
	// failAt is the error of a lookup that failed at name at (the end
	// of a CNAME chain, or the name asked).
	failAt := func(at string, le LookupError) error {
		le.Name, le.Type = name, typeName
		if le.Rcode == 0 {
			le.Rcode = -1
		}
		if at != start {
			le.Via = strings.TrimSuffix(at, ".")
		}
		return &le
	}
	fail := func(le LookupError) error { return failAt(cur, le) }
	seen := map[string]bool{cur: true}
	hops := 0
	ttl := uint32(math.MaxUint32)
	for {
		resp, err := r.exchange(ctx, cur, qtype)
		if err != nil {
			timeout, cancelled := interruption(ctx, err)
			return nil, 0, fail(LookupError{Timeout: timeout, Cancelled: cancelled, Err: fmt.Errorf("query %s %s: %w", cur, typeName, err)})
		}
		if r.dnssec && !resp.AuthenticatedData && (resp.Rcode == dns.RcodeSuccess || resp.Rcode == dns.RcodeNameError) {
			return nil, 0, fail(LookupError{Reason: "answer not authenticated by DNSSEC (" + dns.RcodeToString[resp.Rcode] + " without the AD bit)"})
		}
		if resp.Rcode != dns.RcodeSuccess {
			if resp.Rcode == dns.RcodeNameError {
				// The rcode is that of the end of a CNAME chain in the
				// answer (RFC 6604 §2): its SOA is of that name's zone,
				// and the CNAMEs bound how long the answer holds.
				end, cnameTTL := answerChainEnd(resp, cur)
				return nil, min(ttl, cnameTTL, negativeTTL(resp, end)), failAt(strings.ToLower(end), LookupError{Rcode: resp.Rcode})
			}
			return nil, 0, fail(LookupError{Rcode: resp.Rcode})
		}
		// Walk the chain inside this answer.
		for {
			var next string
			var found []dns.RR
			cnameTTL := uint32(math.MaxUint32)
			for _, rr := range resp.Answer {
				h := rr.Header()
				if !strings.EqualFold(h.Name, cur) {
					continue
				}
				if h.Rrtype == qtype {
					found = append(found, rr)
					ttl = min(ttl, h.Ttl)
				} else if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
					next = strings.ToLower(c.Target)
					cnameTTL = min(cnameTTL, h.Ttl)
				}
			}
			if len(found) > 0 {
				return found, ttl, nil
			}
			if next == "" {
				if len(resp.Question) == 0 || strings.EqualFold(cur, resp.Question[0].Name) {
					return nil, min(ttl, negativeTTL(resp, cur)), nil // NOERROR, no data
				}
				break // chain leaves this answer: ask for the target
			}
			ttl = min(ttl, cnameTTL)
			hops++
			if seen[next] {
				return nil, 0, fail(LookupError{Reason: "CNAME loop"})
			}
			if hops > maxCNAMEHops {
				return nil, 0, fail(LookupError{Reason: "too many CNAMEs"})
			}
			seen[next] = true
			cur = next
		}
	}
}

// answerChainEnd follows the CNAMEs of resp's answer section from name
// (fully qualified, lower case) and returns the last name reached, lower
// case, and the smallest TTL of the CNAMEs followed (math.MaxUint32 when
// there are none; 0, not to be cached, for a loop or a chain longer than
// maxCNAMEHops).
func answerChainEnd(resp *dns.Msg, name string) (string, uint32) {
	ttl := uint32(math.MaxUint32)
	seen := map[string]bool{name: true}
	for range maxCNAMEHops + 1 {
		next := ""
		for _, rr := range resp.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, name) {
				next = strings.ToLower(c.Target)
				ttl = min(ttl, c.Hdr.Ttl)
			}
		}
		if next == "" {
			return name, ttl
		}
		if seen[next] {
			break
		}
		seen[next] = true
		name = next
	}
	return name, 0
}

// LookupIPs implements Resolver: A and AAAA are queried in parallel.
func (r *dnsResolver) LookupIPs(ctx context.Context, name string) ([]netip.Addr, error) {
	type result struct {
		rrs []dns.RR
		err error
	}
	var wg sync.WaitGroup
	var res [2]result
	wg.Go(func() {
		rrs, err := r.query(ctx, name, dns.TypeAAAA)
		res[1] = result{rrs, err}
	})
	rrs, err := r.query(ctx, name, dns.TypeA) // meanwhile, in this goroutine
	res[0] = result{rrs, err}
	wg.Wait()
	var addrs []netip.Addr
	for _, x := range res {
		for _, rr := range x.rrs {
			switch v := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
					addrs = append(addrs, a)
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
					addrs = append(addrs, a)
				}
			}
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	// Prefer the A error (it is the common case), then AAAA, then "no data".
	for _, x := range res {
		if x.err != nil {
			return nil, x.err
		}
	}
	return nil, &LookupError{Name: name, Type: "A/AAAA", Rcode: -1, Reason: "no A or AAAA records"}
}

// LookupTXT implements Resolver.
func (r *dnsResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}

// LookupCAA implements Resolver.
func (r *dnsResolver) LookupCAA(ctx context.Context, name string) ([]CAARecord, error) {
	rrs, err := r.query(ctx, name, dns.TypeCAA)
	if err != nil {
		return nil, err
	}
	return caaRecords(rrs), nil
}

// parentCAAResolver is implemented by resolvers that may answer the CAA
// lookups of a requested name's parents (RFC 8659 §3 tree climbing) from
// a cache; relevantCAA uses it for every name but the requested one.
type parentCAAResolver interface {
	lookupParentCAA(ctx context.Context, name string) ([]CAARecord, error)
}

// lookupParentCAA is LookupCAA for a parent of the requested name,
// answered from the resolver's CAA cache while an earlier answer's TTL
// (capped) lasts; see caacache.go.
func (r *dnsResolver) lookupParentCAA(ctx context.Context, name string) ([]CAARecord, error) {
	if r.caa == nil {
		return r.LookupCAA(ctx, name)
	}
	key := strings.ToLower(dns.Fqdn(name))
	if e, ok := r.caa.get(key); ok {
		if e.notFound {
			return nil, &LookupError{Name: name, Type: "CAA", Rcode: dns.RcodeNameError}
		}
		return e.recs, nil
	}
	rrs, ttl, err := r.queryTTL(ctx, name, dns.TypeCAA)
	ttlDur := time.Duration(ttl) * time.Second
	if err != nil {
		var le *LookupError
		if errors.As(err, &le) && le.IsNotFound() {
			r.caa.put(key, caaEntry{notFound: true}, ttlDur)
		}
		return nil, err
	}
	recs := caaRecords(rrs)
	r.caa.put(key, caaEntry{recs: recs}, ttlDur)
	return recs, nil
}

// close drops the resolver's idle sockets; queries still running finish
// and close theirs, later queries open a socket each.
func (r *dnsResolver) close() {
	for _, p := range r.pools {
		p.close()
	}
}

func caaRecords(rrs []dns.RR) []CAARecord {
	out := make([]CAARecord, 0, len(rrs))
	for _, rr := range rrs {
		if c, ok := rr.(*dns.CAA); ok {
			out = append(out, CAARecord{Flag: c.Flag, Tag: c.Tag, Value: c.Value})
		}
	}
	return out
}

// systemResolver uses Go's resolver (hosts file, resolv.conf). The upstream
// recursive resolver follows CNAME chains; Go concatenates the strings of
// one TXT record.
type systemResolver struct {
	r *net.Resolver
	// conf returns the name servers LookupCAA asks; nil reads
	// /etc/resolv.conf (resolvConf).
	conf func() (*dns.ClientConfig, error)
}

// dialFunc is the signature of net.Dialer.DialContext and net.Resolver.Dial.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// newSystemResolver returns the system resolver whose queries, made by
// Go's resolver to a name server it dials with dial (nil: a net.Dialer),
// end as soon as their context is cancelled. Go's resolver gives the
// context's cancellation to the dial only: once connected it waits for an
// answer until the query's deadline (resolv.conf's timeout, 5 s by
// default), so a cancelled TXT lookup would wait that long (address
// lookups return at once but leave the query running). The connection is
// therefore closed when the query's context is cancelled; a deadline that
// passes is left to the socket's deadline, which Go's resolver sets, so
// that it still fails as a timeout.
func newSystemResolver(dial dialFunc) *systemResolver {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	return &systemResolver{r: &net.Resolver{Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		// Closing, not a deadline in the past (closeOnCancel): Go's
		// resolver sets the socket's deadline after the dial returns,
		// which would undo one set by a cancellation in between. The
		// function also runs when the query ends (Go's resolver
		// cancels the query's context then), on the closed socket.
		context.AfterFunc(ctx, func() {
			if errors.Is(ctx.Err(), context.Canceled) {
				_ = c.Close()
			}
		})
		return c, nil
	}}}
}

// interruption reports whether a query that failed with err (no answer)
// ran out of time or was cancelled. When ctx was cancelled, the likely
// cause of err (a socket's deadline set in the past, a dial given up), the
// query was cancelled, whatever err says; when ctx's deadline has passed
// (contextDone), or err is a timeout, it timed out.
func interruption(ctx context.Context, err error) (timeout, cancelled bool) {
	switch cerr := contextDone(ctx); {
	case errors.Is(cerr, context.Canceled):
		return false, true
	case cerr != nil, errors.Is(err, context.DeadlineExceeded):
		return true, false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout(), false
}

// systemError is the *LookupError of a failed lookup of name/typ by Go's
// resolver under ctx.
func systemError(ctx context.Context, name, typ string, err error) error {
	le := &LookupError{Name: name, Type: typ, Rcode: -1, Err: err}
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		le.NotFound = true
		return le
	}
	le.Timeout, le.Cancelled = interruption(ctx, err)
	if !le.Cancelled && errors.As(err, &de) && de.IsTimeout {
		le.Timeout = true
	}
	return le
}

// rooted returns name with a trailing dot. Go's resolver completes a
// name without one with the resolv.conf search list (or the host name's
// domain) when it does not exist, or when it has fewer dots than ndots;
// a validation must look up the identifier's own name and no other.
func rooted(name string) string {
	if strings.HasSuffix(name, ".") {
		return name
	}
	return name + "."
}

// errHostsOnly fails the name server dial of hostsOnly.
var errHostsOnly = errors.New("va: hosts file lookup only")

// hostsOnly looks names up in the hosts file (/etc/hosts) and nowhere
// else: its name server can never be dialled.
var hostsOnly = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errHostsOnly
}}

// LookupIPs implements Resolver. The name is looked up as given (rooted),
// never completed with the search list; a single-label name is first
// looked up in the hosts file alone (Go's hosts lookup matches it only
// without the trailing dot).
func (s *systemResolver) LookupIPs(ctx context.Context, name string) ([]netip.Addr, error) {
	if !strings.Contains(strings.TrimSuffix(name, "."), ".") {
		if addrs, err := hostsOnly.LookupNetIP(ctx, "ip", strings.TrimSuffix(name, ".")); err == nil && len(addrs) > 0 {
			for i, a := range addrs {
				addrs[i] = a.Unmap()
			}
			return addrs, nil
		}
	}
	addrs, err := s.r.LookupNetIP(ctx, "ip", rooted(name))
	if err != nil {
		return nil, systemError(ctx, name, "A/AAAA", err)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	if len(addrs) == 0 {
		return nil, &LookupError{Name: name, Type: "A/AAAA", Rcode: -1, Reason: "no A or AAAA records"}
	}
	return addrs, nil
}

// LookupTXT implements Resolver. The name is looked up as given (rooted),
// never completed with the search list.
func (s *systemResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	txts, err := s.r.LookupTXT(ctx, rooted(name))
	if err != nil {
		// Go reports NODATA as "not found" like NXDOMAIN and does not
		// expose the rcode: a NotFound LookupError that claims neither.
		return nil, systemError(ctx, name, "TXT", err)
	}
	return txts, nil
}

// LookupCAA implements Resolver. Go's resolver cannot ask for CAA, so the
// query goes with miekg/dns to the name servers of /etc/resolv.conf, in
// order, moving to the next only when one does not answer.
func (s *systemResolver) LookupCAA(ctx context.Context, name string) ([]CAARecord, error) {
	readConf := s.conf
	if readConf == nil {
		readConf = func() (*dns.ClientConfig, error) { return dns.ClientConfigFromFile(resolvConf) }
	}
	conf, err := readConf()
	if err != nil || len(conf.Servers) == 0 {
		return nil, &LookupError{Name: name, Type: "CAA", Rcode: -1, Reason: "no DNS server configured", Err: err}
	}
	timeout := time.Duration(conf.Timeout) * time.Second
	var last error
	for _, srv := range conf.Servers {
		r := &dnsResolver{servers: []string{net.JoinHostPort(srv, conf.Port)}, timeout: timeout}
		rrs, err := r.query(ctx, name, dns.TypeCAA)
		if err == nil {
			return caaRecords(rrs), nil
		}
		last = err
		var le *LookupError
		if errors.As(err, &le) && (le.Rcode > 0 || le.Reason != "") || ctx.Err() != nil {
			break // an answer (NXDOMAIN, SERVFAIL, CNAME loop): not a server outage
		}
	}
	return nil, last
}

// resolvConf is the system resolver configuration LookupCAA reads.
const resolvConf = "/etc/resolv.conf"
