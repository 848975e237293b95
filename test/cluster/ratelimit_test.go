package cluster

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store/storetest"
)

const problemRateLimited = "urn:ietf:params:acme:error:rateLimited"

// refusal is one rateLimited answer with when its request was sent and
// answered.
type refusal struct {
	sent, answered time.Time
	retryAfter     int
	link           string
}

// limitRun collects the outcome of concurrent requests against one limit.
type limitRun struct {
	mu       sync.Mutex
	ok       int
	okNodes  map[int]int // successes per node
	refNodes map[int]int // rateLimited answers per node
	refusals []refusal
	errs     []error
}

func (l *limitRun) record(r *response, err error, sent time.Time) {
	answered := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var p *problem
	switch {
	case err == nil:
		l.ok++
		l.okNodes[r.node]++
	case errors.As(err, &p) && p.Type == problemRateLimited && r != nil:
		ra, perr := strconv.Atoi(r.header.Get("Retry-After"))
		if perr != nil || p.Status != 429 {
			l.errs = append(l.errs, fmt.Errorf("rateLimited with HTTP %d and Retry-After %q", p.Status, r.header.Get("Retry-After")))
			return
		}
		if l.refNodes == nil {
			l.refNodes = map[int]int{}
		}
		l.refNodes[r.node]++
		l.refusals = append(l.refusals, refusal{sent: sent, answered: answered, retryAfter: ra, link: strings.Join(r.header.Values("Link"), ", ")})
	default:
		l.errs = append(l.errs, err)
	}
}

// check asserts exactly limit successes, answers from both nodes, and for
// every refusal a Retry-After that is the wait, rounded up to the second,
// until the bucket (final TAT read from the database) admits one more:
// for GCRA that moment is TAT + interval - period, and a refusal answered
// between sent and answered must say ceil(that - t) for some t between.
func (l *limitRun) check(t *testing.T, what string, limit, attempts int, tat time.Time, interval, period time.Duration) {
	t.Helper()
	for _, err := range l.errs {
		t.Errorf("%s: unexpected error: %v", what, err)
	}
	if l.ok != limit || len(l.refusals) != attempts-limit {
		t.Fatalf("%s: %d succeeded and %d were refused; want exactly %d and %d", what, l.ok, len(l.refusals), limit, attempts-limit)
	}
	// Both nodes answered from the one shared bucket: exactly limit
	// successes in all (one bucket per node would have let each node admit
	// up to limit). Which node's requests came first, and so succeeded, is
	// up to the scheduler: all successes may be on one node.
	answered := map[int]bool{}
	for n := range l.okNodes {
		answered[n] = true
	}
	for n := range l.refNodes {
		answered[n] = true
	}
	if len(answered) != 2 {
		t.Errorf("%s: successes per node %v, refusals per node %v; want both nodes to have answered", what, l.okNodes, l.refNodes)
	}
	next := tat.Add(interval - period)
	ceil := func(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }
	for _, r := range l.refusals {
		lo, hi := ceil(next.Sub(r.answered)), ceil(next.Sub(r.sent))
		if r.retryAfter < lo || r.retryAfter > hi {
			t.Errorf("%s: Retry-After %d for a request sent %s and answered %s; the limit admits the next request at %s, so want %d..%d",
				what, r.retryAfter, r.sent.Format(time.StampMicro), r.answered.Format(time.StampMicro), next.Format(time.StampMicro), lo, hi)
		}
		if !strings.Contains(r.link, `rel="help"`) || !strings.Contains(r.link, "rate-limits") {
			t.Errorf("%s: Link %q lacks the rate limit policy with rel=\"help\"", what, r.link)
		}
	}
	lo, hi := 1<<30, 0
	for _, r := range l.refusals {
		lo, hi = min(lo, r.retryAfter), max(hi, r.retryAfter)
	}
	t.Logf("%s: %d of %d allowed (per node %v), %d refused with Retry-After %d..%d s (next admitted at TAT+%s-%s)",
		what, l.ok, attempts, l.okNodes, len(l.refusals), lo, hi, interval, period)
}

// TestClusterRateLimits runs 2 nodes on one PostgreSQL database behind a
// round-robin proxy and sends concurrent newAccount requests from one
// address (limit 20/1h) and concurrent newOrder requests of one account
// (limit 10/1h): exactly the limit succeeds across both nodes, and every
// refusal carries a Retry-After correct to the second.
func TestClusterRateLimits(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t)
	dns := startDNS(t)
	resp := startResponder(t)
	common := []string{"--db", dsn, "--hostname", "localhost", "--va-http-port", itoa(resp.port),
		"--va-dns-resolver", dns.Addr(), "--shutdown-grace", "5s",
		"--rate-limit-new-accounts-per-ip", "20/1h", "--rate-limit-new-orders-per-account", "10/1h"}
	var nodes []*node
	var data []string
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		d := filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i+1))
		data = append(data, d)
		nodes = append(nodes, newNode(t, fmt.Sprintf("node%d", i+1), d, fmt.Sprintf("%s:%d", ip, freePort(t, ip)), common))
	}
	if err := nodes[0].start(); err != nil {
		t.Fatal(err)
	}
	copyCA(t, data[0], data[1])
	if err := nodes[1].start(); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, []string{nodes[0].addr, nodes[1].addr})
	roots := rootPool(t, data[0])
	dirURL := "https://localhost/acme/directory"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bucket := func(key string) time.Time {
		t.Helper()
		var tat int64
		if err := db.QueryRowContext(ctx, `SELECT tat FROM rate_buckets WHERE key = $1`, key).Scan(&tat); err != nil {
			t.Fatalf("rate bucket %s: %v", key, err)
		}
		return time.Unix(0, tat)
	}

	// New accounts from one address: the proxy connects from 127.0.0.1.
	const accounts = 48
	st := &stats{perNode: make([]int, 2)}
	clients := make([]*client, accounts)
	for i := range clients {
		if clients[i], err = newClient(p.ln.Addr().String(), dirURL, roots, st, resp); err != nil {
			t.Fatal(err)
		}
		r, err := clients[i].get(ctx, "GET", dirURL)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(r.body, &clients[i].dir); err != nil {
			t.Fatal(err)
		}
	}
	acctRun := &limitRun{okNodes: map[int]int{}}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent := time.Now()
			r, err := c.post(ctx, c.dir.NewAccount, map[string]any{"termsOfServiceAgreed": true}, true)
			if err == nil {
				c.kid = r.header.Get("Location")
			}
			acctRun.record(r, err, sent)
		}()
	}
	wg.Wait()
	acctRun.check(t, "new-accounts-per-ip 20/1h", 20, accounts, bucket(ratelimit.BucketKey(ratelimit.NewAccountsPerIP, "127.0.0.1", "", ratelimit.Rate{Count: 20, Period: time.Hour})), 3*time.Minute, time.Hour)

	// New orders of one account, from 16 concurrent copies of its client.
	var owner *client
	for _, c := range clients {
		if c.kid != "" {
			owner = c
			break
		}
	}
	const orders = 32
	orderRun := &limitRun{okNodes: map[int]int{}}
	for w := range 16 {
		cp := *owner
		cp.nonces = nil
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range orders / 16 {
				sent := time.Now()
				r, err := cp.post(ctx, cp.dir.NewOrder, map[string]any{"identifiers": []map[string]string{
					{"type": "dns", "value": fmt.Sprintf("o%d-%d.limits.test", w, k)}}}, true)
				orderRun.record(r, err, sent)
			}
		}()
	}
	wg.Wait()
	acctID := owner.kid[strings.LastIndex(owner.kid, "/")+1:]
	orderRun.check(t, "new-orders-per-account 10/1h", 10, orders, bucket(ratelimit.BucketKey(ratelimit.NewOrdersPerAccount, acctID, "", ratelimit.Rate{Count: 10, Period: time.Hour})), 6*time.Minute, time.Hour)
}
