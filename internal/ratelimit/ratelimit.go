// Package ratelimit enforces certgate's ACME rate limits with the generic
// cell rate algorithm (GCRA), whose one number of state per bucket — the
// theoretical arrival time (TAT) — lives in the database, so every node
// sharing the database enforces one limit together. A rate of Count events
// per Period lets a full bucket take Count events at once and then one
// more every Period/Count (a token bucket of capacity Count).
//
// Limits (names as in settings, overrides and problem details):
//   - new-accounts-per-ip: newAccount requests creating an account, per
//     client IPv4 address or IPv6 /64;
//   - new-orders-per-account: newOrder requests per account;
//   - certificates-per-domain: certificates per registered domain (public
//     suffix + one label, golang.org/x/net/publicsuffix), checked at
//     newOrder and spent at finalize;
//   - failed-validations-per-account: challenges that ended invalid, per
//     account, checked at newOrder;
//   - pending-authorizations-per-account: a count, not a rate: pending
//     authorizations an account may hold.
//
// Refusals are rateLimited problems (RFC 8555 §6.7) carrying the wait
// after which the request would succeed, rounded up to whole seconds for
// Retry-After (RFC 9110 §10.2.3; none for a request that no wait helps:
// an order over the pending-authorizations limit by itself), and the policy document's URL for a
// Link rel="help" header (RFC 8555 §6.6).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/duration"
	"github.com/certgate/certgate/internal/store"
)

// Name names a limit.
type Name string

// The limits.
const (
	NewAccountsPerIP                Name = "new-accounts-per-ip"
	NewOrdersPerAccount             Name = "new-orders-per-account"
	CertificatesPerDomain           Name = "certificates-per-domain"
	FailedValidationsPerAccount     Name = "failed-validations-per-account"
	PendingAuthorizationsPerAccount Name = "pending-authorizations-per-account"
)

// Names lists every limit.
var Names = []Name{NewAccountsPerIP, NewOrdersPerAccount, CertificatesPerDomain, FailedValidationsPerAccount, PendingAuthorizationsPerAccount}

// Rate is Count events per Period. Count 0 (or Period 0) disables the
// limit. For pending-authorizations-per-account only Count is used.
type Rate struct {
	Count  int           // events allowed per Period
	Period time.Duration // the window the Count is spread over
}

// Enabled reports whether the rate limits anything.
func (r Rate) Enabled() bool { return r.Count > 0 && r.Period > 0 }

// interval is the GCRA emission interval: the time one event costs.
func (r Rate) interval() time.Duration { return r.Period / time.Duration(r.Count) }

// String formats r as ParseRate reads it: "300/3h", or "0" when disabled.
func (r Rate) String() string {
	if !r.Enabled() {
		return "0"
	}
	return strconv.Itoa(r.Count) + "/" + formatPeriod(r.Period)
}

func formatPeriod(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String() // "3h0m0s", "1m30s"
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// ErrZeroCount is the error (wrapped) of ParseRate for a count of 0 with a
// period ("0/1h"): it reads as a block ("none an hour"), but a count of 0
// is no limit at all, so only "0" alone is taken for unlimited.
var ErrZeroCount = errors.New("a count of 0 with a period does not block, it means unlimited (no limit)")

// MaxPeriod is the longest period of a rate: 36500 days, 100 years. A
// bucket's state is a time up to one period from now, stored in Unix
// nanoseconds (which end in 2262) and compared as a time.Duration (at
// most about 292 years); a longer period would be cut short there, the
// bucket refusing longer than the Retry-After it gives. A period of this
// length is exact until the year 2162.
const MaxPeriod = 36500 * 24 * time.Hour

// ParseRate reads "COUNT/PERIOD" (PERIOD a duration as duration.Parse
// takes it: a Go duration, whole days or weeks, e.g. "300/3h", "50/7d",
// "50/1w"), or "0" alone for unlimited (the limit disabled). Surrounding
// space is ignored. Count must be positive and Period positive and at
// most MaxPeriod; a count of 0 with a period is refused (ErrZeroCount).
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return Rate{}, nil
	}
	c, p, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(c)
	if ok && errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(c, "-") {
		return Rate{}, fmt.Errorf("invalid rate %q: count %s is too large (at most %d)", s, c, math.MaxInt)
	}
	if !ok || err != nil || n < 0 {
		return Rate{}, fmt.Errorf("invalid rate %q (want COUNT/PERIOD, e.g. 300/3h or 50/7d; 0 = unlimited)", s)
	}
	// The period is a duration as every setting takes it (duration.Parse:
	// "3h", "7d", "1w", "1d12h").
	d, err := duration.Parse(p)
	if errors.Is(err, duration.ErrTooLong) || err == nil && d > MaxPeriod {
		return Rate{}, fmt.Errorf("invalid rate %q: period %q is too long (at most %s, 100 years)", s, strings.TrimSpace(p), formatPeriod(MaxPeriod))
	}
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("invalid rate %q: period %q (want e.g. 3h, 7d or 1w)", s, p)
	}
	if n == 0 {
		return Rate{}, fmt.Errorf("invalid rate %q: %w; write 0 alone for unlimited", s, ErrZeroCount)
	}
	return Rate{Count: n, Period: d}, nil
}

// Config holds the limits. A zero Rate disables its limit.
type Config struct {
	NewAccountsPerIP            Rate // newAccount requests per client address (IPv6: per /64)
	NewOrdersPerAccount         Rate // newOrder requests per account
	CertificatesPerDomain       Rate // certificates per registered domain
	FailedValidationsPerAccount Rate // failed validations per account
	// PendingAuthorizationsPerAccount is the number of pending
	// authorizations an account may hold; 0 is unlimited.
	PendingAuthorizationsPerAccount int
	// PolicyURL is the rate limit policy document, sent as Link
	// rel="help" with every rateLimited problem.
	PolicyURL string
}

// Defaults are generous limits for a private PKI, where many machines
// behind one NAT address and automation at scale are normal.
func Defaults() Config {
	return Config{
		NewAccountsPerIP:                Rate{Count: 1000, Period: time.Hour},
		NewOrdersPerAccount:             Rate{Count: 100000, Period: time.Hour},
		CertificatesPerDomain:           Rate{Count: 1000000, Period: 7 * 24 * time.Hour},
		FailedValidationsPerAccount:     Rate{Count: 3600, Period: time.Hour},
		PendingAuthorizationsPerAccount: 100000,
		PolicyURL:                       DefaultPolicyURL,
	}
}

// DefaultPolicyURL is the rate limit documentation of this release.
const DefaultPolicyURL = "https://github.com/certgate/certgate/blob/main/docs/rate-limits.md"

func (c Config) rate(n Name) Rate {
	switch n {
	case NewAccountsPerIP:
		return c.NewAccountsPerIP
	case NewOrdersPerAccount:
		return c.NewOrdersPerAccount
	case CertificatesPerDomain:
		return c.CertificatesPerDomain
	case FailedValidationsPerAccount:
		return c.FailedValidationsPerAccount
	case PendingAuthorizationsPerAccount:
		return Rate{Count: c.PendingAuthorizationsPerAccount, Period: time.Hour}
	}
	return Rate{}
}

// Store is what the limiter needs from storage; *store.Store implements it.
type Store interface {
	// UpdateRateBuckets reads the GCRA theoretical arrival times of keys
	// (zero when unset), passes them to decide in order and, when it
	// returns ok, stores the times it returns, in one transaction with the
	// rows locked.
	UpdateRateBuckets(ctx context.Context, keys []string, decide func(tats []time.Time) ([]time.Time, bool)) (bool, error)
	// RateBuckets returns the theoretical arrival times of keys (zero when
	// unset), without locking.
	RateBuckets(ctx context.Context, keys []string) ([]time.Time, error)
	// SpendRateBucket is one GCRA step on bucket key in one statement
	// (interval and period are durations); it reports whether the spend
	// was allowed and returns the bucket's time after the step.
	SpendRateBucket(ctx context.Context, key string, now time.Time, interval, period time.Duration) (bool, time.Time, error)
	// ListRateLimitOverrides returns every override, by limit and subject.
	ListRateLimitOverrides(ctx context.Context) ([]store.RateLimitOverride, error)
	// PendingAuthorizations counts account's authorizations pending and
	// unexpired at now and returns the earliest of their expiries (zero
	// when none).
	PendingAuthorizations(ctx context.Context, account string, now time.Time) (int, time.Time, error)
	// PendingAuthorizationExpiry returns the k-th earliest (k >= 1) of
	// the expiries of account's authorizations pending and unexpired at
	// now (zero when it holds fewer than k): read only for a refusal
	// that needs more than one of them to expire.
	PendingAuthorizationExpiry(ctx context.Context, account string, now time.Time, k int) (time.Time, error)
}

// Limiter checks and spends rate limits. Safe for concurrent use, and for
// use by many processes sharing one database.
type Limiter struct {
	// OnRefuse, when set, is called with the name of the limit of every
	// refusal the limiter returns (for metrics). Set it before first use.
	OnRefuse func(Name)

	cfg   Config
	store Store
	now   func() time.Time

	mu        sync.Mutex
	overrides map[string]Rate // limit + " " + subject → rate
	loaded    time.Time       // when overrides were read (monotonic clock)
}

// OverrideRefresh is how often a limiter reads the overrides again: an
// override set or deleted (by any node or the CLI) applies within this.
const OverrideRefresh = 10 * time.Second

// New returns a limiter; now may be nil (time.Now).
func New(cfg Config, st Store, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	if cfg.PolicyURL == "" {
		cfg.PolicyURL = DefaultPolicyURL
	}
	return &Limiter{cfg: cfg, store: st, now: now}
}

// Config returns the limiter's configuration.
func (l *Limiter) Config() Config { return l.cfg }

// Request names one bucket: the limit, the key it counts for (a client
// address, an account ID, a registered domain), and the override subjects
// to look up, most specific first (see AccountSubject, EABSubject).
type Request struct {
	Limit    Name     // which limit
	Key      string   // what the bucket counts for: address, account ID or domain
	Subjects []string // override subjects, most specific first
}

// Subjects of overrides.

// AccountSubject is the override subject of an ACME account.
func AccountSubject(id string) string { return "account:" + id }

// EABSubject is the override subject of an external account binding key
// (RFC 8555 §7.3.4): every account bound with that key gets the override.
func EABSubject(keyID string) string { return "eab:" + keyID }

// IPSubject is the override subject of a client address key (see IPKey).
func IPSubject(key string) string { return "ip:" + key }

// DomainSubject is the override subject of a registered domain.
func DomainSubject(domain string) string { return "domain:" + domain }

// SubjectFlags returns the override subjects limit looks up, as the
// `certgate ratelimit` flags that name them ("account", "eab", "ip",
// "domain"): the RA asks new-accounts-per-ip for the client address only,
// the per-account limits for the account and its EAB key, and
// certificates-per-domain for the account, its EAB key and the registered
// domain. An override of another kind of subject is never looked up.
func SubjectFlags(limit Name) []string {
	switch limit {
	case NewAccountsPerIP:
		return []string{"ip"}
	case CertificatesPerDomain:
		return []string{"account", "eab", "domain"}
	case NewOrdersPerAccount, FailedValidationsPerAccount, PendingAuthorizationsPerAccount:
		return []string{"account", "eab"}
	}
	return nil
}

// IPKey is the bucket key of a client address: the IPv4 address, or the
// IPv6 /64 it lies in (one host usually holds a whole /64).
func IPKey(addr netip.Addr) string {
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}

// RegisteredDomain returns the registered domain of a DNS name: its
// public suffix plus one label ("www.example.co.uk" → "example.co.uk"),
// the name itself for a name that has none (a single label, a suffix).
// An IP address counts as what one holder is assigned (IPKey): an IPv4
// address as itself, an IPv6 address as the /64 it lies in
// ("2001:db8:1:2::7" → "2001:db8:1:2::/64"), since whoever controls one
// address of a /64 usually controls all 2^64 of them.
func RegisteredDomain(name string) string {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimPrefix(name, "*.")), ".")
	if addr, err := netip.ParseAddr(name); err == nil && addr.Zone() == "" {
		return IPKey(addr)
	}
	d, err := publicsuffix.EffectiveTLDPlusOne(name)
	if err != nil {
		return name
	}
	return d
}

// resolved is a request with its effective rate.
type resolved struct {
	Request
	rate Rate
	// override is the subject whose override set rate ("" for the
	// configured rate): its bucket is its own (bucketKey).
	override string
}

// resolve applies overrides and drops disabled limits.
func (l *Limiter) resolve(ctx context.Context, reqs []Request) ([]resolved, error) {
	out := make([]resolved, 0, len(reqs))
	for _, r := range reqs {
		rate, override := l.cfg.rate(r.Limit), ""
		if len(r.Subjects) > 0 {
			ovs, err := l.loadOverrides(ctx)
			if err != nil {
				return nil, err
			}
			for _, sub := range r.Subjects {
				if o, ok := ovs[string(r.Limit)+" "+sub]; ok {
					rate, override = o, sub
					break
				}
			}
		}
		// A longer period (an override stored by a version that took
		// one, a Config not read by ParseRate) would not be counted
		// exactly (MaxPeriod).
		rate.Period = min(rate.Period, MaxPeriod)
		if rate.Enabled() {
			out = append(out, resolved{Request: r, rate: rate, override: override})
		}
	}
	return out, nil
}

// loadOverrides returns the overrides, read again when older than
// OverrideRefresh.
func (l *Limiter) loadOverrides(ctx context.Context) (map[string]Rate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.overrides != nil && time.Since(l.loaded) < OverrideRefresh {
		return l.overrides, nil
	}
	list, err := l.store.ListRateLimitOverrides(ctx)
	if err != nil {
		return nil, fmt.Errorf("rate limit overrides: %w", err)
	}
	m := make(map[string]Rate, len(list))
	for _, o := range list {
		r := Rate{Count: o.Count, Period: o.Period}
		if o.Limit == string(PendingAuthorizationsPerAccount) && r.Count > 0 {
			r.Period = time.Hour
		}
		m[o.Limit+" "+o.Subject] = r
	}
	l.overrides, l.loaded = m, time.Now()
	return m, nil
}

// bucketKey is the key of r's bucket: the limit and r.Key, the subject of
// the override that applies, when one does, and the rate. An override's
// subject spends its own bucket: an account's override of
// certificates-per-domain throttles (or frees) that account only, not
// every account ordering the domain. And a bucket belongs to one rate: a
// rate set, changed (an override, or the configuration at a restart) or
// removed starts from a bucket that no other rate filled, where the debt
// of a slower rate (a day's, under 1/1d) held requests long after the new
// rate admitted them. Buckets of a rate no longer used are full again
// within its period and swept.
func bucketKey(r resolved) string { return BucketKey(r.Limit, r.Key, r.override, r.rate) }

// BucketKey is the key in the store (table rate_buckets) of the bucket of
// limit for key (an account ID, a registered domain, an IP key) under
// rate, set by the override of subject (AccountSubject, EABSubject...;
// "" for the configured rate): "LIMIT:KEY[@SUBJECT]#COUNT/PERIOD", e.g.
// "new-orders-per-account:Aa1#300/3h0m0s".
func BucketKey(limit Name, key, subject string, rate Rate) string {
	k := string(limit) + ":" + key
	if subject != "" {
		k += "@" + subject
	}
	return k + "#" + strconv.Itoa(rate.Count) + "/" + rate.Period.String()
}

// gcra is one GCRA step for an event of cost 1 at now on a bucket whose
// theoretical arrival time is tat: the new TAT, and when refused the wait
// until the event would be allowed.
func gcra(tat, now time.Time, r Rate) (next time.Time, ok bool, wait time.Duration) {
	if tat.Before(now) {
		tat = now
	}
	next = tat.Add(r.interval())
	if over := next.Sub(now) - r.Period; over > 0 {
		return tat, false, over
	}
	return next, true, 0
}

// Spend takes one event from every bucket of reqs, all or none: if any
// bucket is empty nothing is spent and the result is a rateLimited
// *acme.Problem (see Problem) for the one with the longest wait. Storage
// errors are returned wrapped.
func (l *Limiter) Spend(ctx context.Context, reqs ...Request) error {
	return l.update(ctx, reqs, true, false)
}

// Check is Spend without spending: it returns the problem Spend would.
func (l *Limiter) Check(ctx context.Context, reqs ...Request) error {
	return l.update(ctx, reqs, false, false)
}

// Charge spends one event from every bucket of reqs even when they are
// empty (an event that already happened, such as a failed validation),
// without ever saving more than an empty bucket: later Checks are refused
// until the bucket refills one event's worth.
func (l *Limiter) Charge(ctx context.Context, reqs ...Request) error {
	return l.update(ctx, reqs, true, true)
}

// SpendIn is Spend made by a storage write instead of a transaction of its
// own: it returns the spend to pass to that write (store.CreateOrder,
// CreateReplacementOrder or StartIssuance; nil when no limit applies),
// which spends every bucket of reqs in the write's transaction, all or
// none, so that the buckets are spent exactly when the write commits.
// When the write fails with store.ErrRateLimited, refused returns the
// rateLimited *acme.Problem Spend would have returned.
func (l *Limiter) SpendIn(ctx context.Context, reqs ...Request) (sp *store.RateSpend, refused func() error, err error) {
	rs, err := l.resolve(ctx, reqs)
	if err != nil || len(rs) == 0 {
		return nil, nil, err
	}
	u := l.newUpdate(rs, true, false)
	return &store.RateSpend{Keys: u.keys, Decide: u.decide}, u.problem, nil
}

// bucketUpdate is one GCRA step on the buckets of rs, as decide for
// Store.UpdateRateBuckets; problem is the refusal it found.
type bucketUpdate struct {
	l            *Limiter
	rs           []resolved
	spend, force bool
	keys         []string

	refused *resolved
	wait    time.Duration
	now     time.Time
}

func (l *Limiter) newUpdate(rs []resolved, spend, force bool) *bucketUpdate {
	u := &bucketUpdate{l: l, rs: rs, spend: spend, force: force, keys: make([]string, len(rs))}
	for i, r := range rs {
		u.keys[i] = bucketKey(r)
	}
	return u
}

func (u *bucketUpdate) decide(tats []time.Time) ([]time.Time, bool) {
	u.now = u.l.now()
	u.refused, u.wait = nil, 0
	next := make([]time.Time, len(tats))
	for i, r := range u.rs {
		n, ok, w := gcra(tats[i], u.now, r.rate)
		if u.force && !ok {
			n, ok = u.now.Add(r.rate.Period), true // empty, not beyond
		}
		if !ok && w > u.wait {
			u.refused, u.wait = &u.rs[i], w
		}
		next[i] = n
	}
	return next, u.refused == nil && u.spend
}

// problem returns the rateLimited problem for the refusal decide found,
// nil when there was none.
func (u *bucketUpdate) problem() error {
	if u.refused == nil {
		return nil
	}
	u.l.refused(u.refused.Limit)
	return Problem(u.refused.Limit, u.refused.Key, u.refused.rate, u.wait, u.now, u.l.cfg.PolicyURL)
}

// refused reports a refusal by limit to OnRefuse.
func (l *Limiter) refused(limit Name) {
	if l.OnRefuse != nil {
		l.OnRefuse(limit)
	}
}

func (l *Limiter) update(ctx context.Context, reqs []Request, spend, force bool) error {
	rs, err := l.resolve(ctx, reqs)
	if err != nil || len(rs) == 0 {
		return err
	}
	if spend && !force && len(rs) == 1 {
		// One bucket: one statement, no lock held across round trips.
		r, now := rs[0], l.now()
		ok, tat, err := l.store.SpendRateBucket(ctx, bucketKey(r), now, r.rate.interval(), r.rate.Period)
		if err != nil {
			return fmt.Errorf("rate limits: %w", err)
		}
		if ok {
			return nil
		}
		_, _, wait := gcra(tat, now, r.rate)
		l.refused(r.Limit)
		return Problem(r.Limit, r.Key, r.rate, wait, now, l.cfg.PolicyURL)
	}
	u := l.newUpdate(rs, spend, force)
	if spend {
		_, err = l.store.UpdateRateBuckets(ctx, u.keys, u.decide)
	} else {
		var tats []time.Time
		if tats, err = l.store.RateBuckets(ctx, u.keys); err == nil {
			u.decide(tats)
		}
	}
	if err != nil {
		return fmt.Errorf("rate limits: %w", err)
	}
	return u.problem()
}

// CheckPending refuses when account (with override subjects) would hold
// more than the pending-authorizations-per-account limit after adding
// more pending authorizations. The wait is until enough of its pending
// authorizations have expired for adding to fit (the earliest expiry
// when one is enough). A request that adds more than the limit itself
// can never succeed: its rateLimited problem says so and carries no wait
// (no Retry-After). The count is read, not locked: concurrent
// newOrders of one account may overshoot by the authorizations they add.
func (l *Limiter) CheckPending(ctx context.Context, account string, subjects []string, adding int) error {
	if adding == 0 {
		return nil
	}
	return l.toldPending(l.readPending(ctx, account, subjects)(adding))
}

// toldPending counts err, the answer of a pending-authorizations check
// that is told to the client, when it is a refusal (OnRefuse), and
// returns it.
func (l *Limiter) toldPending(err error) error {
	if IsRateLimited(err) {
		l.refused(PendingAuthorizationsPerAccount)
	}
	return err
}

// StartNewOrderChecks starts, at once and side by side, the two reads a
// newOrder's checks make: the buckets of reqs (Check) and account's
// pending authorizations (CheckPending). The caller goes on with its own
// reads meanwhile (on SQLite all of them then share one turn of the
// store's writer goroutine instead of waiting for one each), and wait
// returns Check's error, else CheckPending's for adding more pending
// authorizations: what Check followed by CheckPending returns. wait must
// be called at most once; the reads end on their own when it is not.
func (l *Limiter) StartNewOrderChecks(ctx context.Context, reqs []Request, account string, subjects []string) (wait func(adding int) error) {
	checked := make(chan error, 1)
	go func() { checked <- l.Check(ctx, reqs...) }()
	pending := make(chan func(int) error, 1)
	go func() { pending <- l.readPending(ctx, account, subjects) }()
	return func(adding int) error {
		err := <-checked
		decide := <-pending
		if adding == 0 || err != nil && !IsRateLimited(err) {
			return err
		}
		perr := decide(adding)
		if err == nil {
			return l.toldPending(perr)
		}
		// Both refuse: the longest wait (docs/rate-limits.md,
		// "Refusals"); a pending refusal without a wait (the order alone
		// is over the limit) first, as no retry succeeds. Only the
		// refusal told is counted (Check counted its own).
		p, _ := acme.AsProblem(err)
		if pp, ok := acme.AsProblem(perr); ok && pp.Type == acme.RateLimited && (pp.RetryAfter == 0 || pp.RetryAfter > p.RetryAfter) {
			return l.toldPending(perr)
		}
		return err
	}
}

// readPending reads account's pending authorizations and returns the
// check of CheckPending for a number of them to add (its read error, if
// any, whatever that number); the caller counts a refusal it tells
// (toldPending).
func (l *Limiter) readPending(ctx context.Context, account string, subjects []string) func(adding int) error {
	rs, err := l.resolve(ctx, []Request{{Limit: PendingAuthorizationsPerAccount, Key: account, Subjects: subjects}})
	if err != nil || len(rs) == 0 {
		return func(int) error { return err }
	}
	now := l.now()
	n, earliest, err := l.store.PendingAuthorizations(ctx, account, now)
	if err != nil {
		return func(int) error { return fmt.Errorf("rate limits: %w", err) }
	}
	return func(adding int) error {
		limit := rs[0].rate.Count
		if n+adding <= limit {
			return nil
		}
		if adding > limit {
			// No wait helps: even an account without pending
			// authorizations could not take them (a Retry-After would
			// have the client retry for ever).
			p := acme.NewProblem(acme.RateLimited, "this request adds %d pending authorizations, more than the %d that %s allows an account to hold: "+
				"no retry can succeed; split it into orders of at most %d new identifiers", adding, limit, PendingAuthorizationsPerAccount, limit)
			p.HelpURL = l.cfg.PolicyURL
			return p
		}
		// n+adding-limit of the pending authorizations must go: the wait
		// is until the last of them expires.
		at := earliest
		if k := n + adding - limit; k > 1 {
			kth, err := l.store.PendingAuthorizationExpiry(ctx, account, now, k)
			if err != nil {
				return fmt.Errorf("rate limits: %w", err)
			}
			at = kth
		}
		wait := at.Sub(now)
		if at.IsZero() || wait < time.Second {
			wait = time.Second
		}
		p := Problem(PendingAuthorizationsPerAccount, account, rs[0].rate, wait, now, l.cfg.PolicyURL)
		p.Detail = fmt.Sprintf("too many pending authorizations: this account holds %d and may hold at most %d (%s); complete or deactivate some, or retry after %s",
			n, rs[0].rate.Count, PendingAuthorizationsPerAccount, now.Add(p.RetryAfter).UTC().Format(time.RFC3339))
		return p
	}
}

// Problem is the rateLimited problem for limit on key at rate, with a
// wait rounded up to whole seconds (the earliest Retry-After at which the
// request succeeds) and help as its policy link.
func Problem(limit Name, key string, rate Rate, wait time.Duration, now time.Time, help string) *acme.Problem {
	secs := (wait + time.Second - 1) / time.Second
	if secs < 1 {
		secs = 1
	}
	p := acme.NewProblem(acme.RateLimited, "%s limit of %s reached for %q; retry after %s", limit, rate, key,
		now.Add(secs*time.Second).UTC().Format(time.RFC3339))
	p.RetryAfter = secs * time.Second
	p.HelpURL = help
	return p
}

// IsRateLimited reports whether err is a rateLimited problem.
func IsRateLimited(err error) bool {
	var p *acme.Problem
	return errors.As(err, &p) && p.Type == acme.RateLimited
}
