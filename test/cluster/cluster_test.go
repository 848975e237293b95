package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testdns"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" database/sql driver
	_ "modernc.org/sqlite"             // "sqlite" database/sql driver
)

const (
	workers = 8
	// flowTimeout bounds one flow. A flow whose finalize was cut short by a
	// kill waits for its order to fail (on PostgreSQL once the killed
	// node's lease ran out, 5 s; StuckAfter, 1 min, for an order without
	// a node) before it orders again.
	flowTimeout = 150 * time.Second
	// sweepWait bounds the wait for the sweep to fail orders left processing.
	sweepWait = 90 * time.Second
)

// event runs once when the number of completed flows reaches at.
type event struct {
	at   int
	name string
	do   func() error
}

// runResult is what the clients of a run saw.
type runResult struct {
	flows    int
	received map[string]*issued // serial → certificate
	failed   []string
	stats    *stats
	elapsed  time.Duration
	kills    int
}

// drive runs flows issuance flows with workers concurrent clients through
// the proxy, firing the events as flows complete.
func drive(t *testing.T, p *proxy, nodes int, roots *x509.CertPool, resp *responder, flows int, events []event, onConnect func(node int, url string)) *runResult {
	t.Helper()
	// The run has no fixed deadline: on a loaded machine (the -race suites
	// of other packages running beside it) 200 flows can take minutes. It is
	// cut short when no flow has completed for flowTimeout+60s: each flow is
	// bounded by flowTimeout, so by then every worker is stuck.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &stats{perNode: make([]int, nodes)}
	dirURL := fmt.Sprintf("https://localhost:%d/acme/directory", p.Port())
	proxyAddr := p.ln.Addr().String()
	var b [3]byte
	_, _ = rand.Read(b[:])
	run := hex.EncodeToString(b[:])

	res := &runResult{flows: flows, received: map[string]*issued{}, stats: st}
	var mu sync.Mutex
	var next, completed atomic.Int64
	// The events run one after the other, in order, each once enough flows
	// have completed (a restart never overtakes the kill before it).
	evDone := make(chan struct{})
	stopEvents := make(chan struct{})
	fired := 0
	go func() {
		defer close(evDone)
		for _, ev := range events {
			for int(completed.Load()) < ev.at {
				select {
				case <-stopEvents:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
			t.Logf("after %d flows: %s", completed.Load(), ev.name)
			if err := ev.do(); err != nil {
				t.Errorf("%s: %v", ev.name, err)
			}
			fired++
		}
	}()
	start := time.Now()
	watchdogDone := make(chan struct{})
	go func() {
		defer close(watchdogDone)
		last, since := completed.Load(), time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			if n := completed.Load(); n != last {
				last, since = n, time.Now()
			} else if time.Since(since) > flowTimeout+60*time.Second {
				t.Errorf("no flow completed for %s (after %d flows): run cut short", flowTimeout+60*time.Second, n)
				cancel()
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := newClient(proxyAddr, dirURL, roots, st, resp)
			if err == nil {
				c.onConnect = onConnect
				rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
				err = c.register(rctx)
				rcancel()
			}
			if err != nil {
				mu.Lock()
				res.failed = append(res.failed, fmt.Sprintf("worker %d: account: %v", w, err))
				mu.Unlock()
				return
			}
			for {
				n := int(next.Add(1)) - 1
				if n >= flows {
					return
				}
				name := fmt.Sprintf("f%d-%s.cluster.test", n, run)
				fctx, fcancel := context.WithTimeout(ctx, flowTimeout)
				got, err := c.issue(fctx, name)
				fcancel()
				mu.Lock()
				if err != nil {
					res.failed = append(res.failed, fmt.Sprintf("%s: %v", name, err))
				} else if prev, dup := res.received[got.serial]; dup {
					res.failed = append(res.failed, fmt.Sprintf("%s: serial %s was already received for %s", name, got.serial, prev.name))
				} else {
					res.received[got.serial] = got
				}
				mu.Unlock()
				completed.Add(1)
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	cancel()
	<-watchdogDone
	close(stopEvents)
	<-evDone
	for _, ev := range events[fired:] {
		t.Errorf("event %q (after %d flows) never ran", ev.name, ev.at)
	}
	return res
}

// killer SIGKILLs a node while it is likely finalizing an order: armed by
// its event, it fires when a finalize request has connected to the node,
// after a random 0–4 ms, so that the kill falls before, during or after
// issuance (or after 3 s, when no finalize came).
type killer struct {
	target int
	kill   func()
	armed  atomic.Bool
	once   sync.Once
	hit    chan struct{}
	timing string
}

func newKiller(target int, kill func()) *killer {
	return &killer{target: target, kill: kill, hit: make(chan struct{})}
}

func (k *killer) onConnect(node int, url string) {
	if node == k.target && strings.HasSuffix(url, "/finalize") && k.armed.CompareAndSwap(true, false) {
		k.once.Do(func() { close(k.hit) })
	}
}

func (k *killer) fire() error {
	k.armed.Store(true)
	var b [1]byte
	_, _ = rand.Read(b[:])
	delay := time.Duration(b[0]%5) * time.Millisecond
	select {
	case <-k.hit:
		time.Sleep(delay)
		k.timing = fmt.Sprintf("%v after a finalize request connected to it", delay)
	case <-time.After(3 * time.Second):
		k.armed.Store(false)
		k.timing = "no finalize request reached it within 3 s"
	}
	k.kill()
	return nil
}

// checkRun asserts the invariants of issue 4 on the database db (the nodes
// still running, so that their sweep can fail orders left processing).
func checkRun(t *testing.T, db *sql.DB, res *runResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sweepWait+30*time.Second)
	defer cancel()
	if len(res.failed) > 0 {
		sort.Strings(res.failed)
		if len(res.failed) > 10 {
			res.failed = append(res.failed[:10], fmt.Sprintf("... and %d more", len(res.failed)-10))
		}
		t.Errorf("%d of %d flows did not complete:\n  %s", res.flows-len(res.received), res.flows, strings.Join(res.failed, "\n  "))
	}
	count := func(q string) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	// No order stays processing: a node fails the orders of a node whose
	// lease ran out (5 s), the sweep those stuck longer than StuckAfter
	// (1 min).
	waitStart := time.Now()
	processing := count(`SELECT COUNT(*) FROM orders WHERE status = 'processing'`)
	for processing > 0 && time.Since(waitStart) < sweepWait {
		time.Sleep(time.Second)
		processing = count(`SELECT COUNT(*) FROM orders WHERE status = 'processing'`)
	}
	if processing > 0 {
		t.Errorf("%d orders are still processing %v after the run (a node fails them once their node's lease ran out, the sweep after 1 min)", processing, sweepWait)
	} else if w := time.Since(waitStart); w > time.Second {
		t.Logf("waited %v for the sweep to fail orders left processing", w.Round(time.Second))
	}

	// Every certificate in the database was received, byte for byte, and
	// every received certificate is in the database: the ACME ones, not
	// the nodes' own listener certificates (source listener, no order).
	rows, err := db.QueryContext(ctx, `SELECT c.serial, c.der, c.order_id, COALESCE(o.status, ''), COALESCE(o.cert_serial, '')
		FROM certificates c LEFT JOIN orders o ON o.id = c.order_id WHERE c.source <> 'listener'`)
	if err != nil {
		t.Fatal(err)
	}
	inDB := map[string]bool{}
	var notReceived, badOrder []string
	for rows.Next() {
		var serial, orderID, status, orderSerial string
		var der []byte
		if err := rows.Scan(&serial, &der, &orderID, &status, &orderSerial); err != nil {
			t.Fatal(err)
		}
		inDB[serial] = true
		if got, ok := res.received[serial]; !ok {
			notReceived = append(notReceived, fmt.Sprintf("%s (order %s, %s)", serial, orderID, status))
		} else if !bytes.Equal(got.der, der) {
			t.Errorf("certificate %s received by %s differs from the database's", serial, got.name)
		}
		if status != "valid" || orderSerial != serial {
			badOrder = append(badOrder, fmt.Sprintf("certificate %s: order %s is %q with certificate %q", serial, orderID, status, orderSerial))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	var missing []string
	for serial, got := range res.received {
		if !inDB[serial] {
			missing = append(missing, fmt.Sprintf("%s (%s)", serial, got.name))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d certificates clients received are not in the database: %v", len(missing), missing)
	}
	// Clients fetch the order after a lost finalize answer, so every
	// certificate issued reached its client: DB count − received count is
	// the number of valid orders whose client never got the certificate,
	// which must be 0.
	certs := count(`SELECT COUNT(*) FROM certificates WHERE source <> 'listener'`)
	if certs-len(res.received) != len(notReceived) || len(notReceived) > 0 {
		t.Errorf("database holds %d certificates, clients received %d; issued but never received: %v", certs, len(res.received), notReceived)
	}
	if len(badOrder) > 0 {
		t.Errorf("certificates whose order does not point back to them: %v", badOrder)
	}
	if certs != res.flows {
		t.Errorf("database holds %d certificates for %d flows", certs, res.flows)
	}
	// Serials: unique (primary keys; received ones checked by drive), every
	// certificate's serial reserved, and no reserved serial used twice.
	serials := count(`SELECT COUNT(*) FROM serials`)
	if serials < certs {
		t.Errorf("serials table has %d rows, fewer than the %d certificates", serials, certs)
	}
	if n := count(`SELECT COUNT(*) FROM certificates WHERE serial NOT IN (SELECT serial FROM serials)`); n != 0 {
		t.Errorf("%d certificates have a serial that was never reserved", n)
	}
	if n := count(`SELECT COUNT(*) FROM (SELECT serial FROM certificates GROUP BY serial HAVING COUNT(*) > 1) d`); n != 0 {
		t.Errorf("%d serials appear on more than one certificate", n)
	}
	res.stats.mu.Lock()
	defer res.stats.mu.Unlock()
	t.Logf("certificates: %d in the database, %d received, %d serials reserved (%d never used: issuance interrupted); orders invalidated by the sweep: %d",
		certs, len(res.received), serials, serials-certs,
		count(`SELECT COUNT(*) FROM orders WHERE status = 'invalid' AND error LIKE '%interrupted%'`))
}

// logStats prints the summary of a run.
func logStats(t *testing.T, res *runResult, p *proxy) {
	s := res.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	served := make([]int64, len(p.served))
	for i := range p.served {
		served[i] = p.served[i].Load()
	}
	t.Logf("flows: %d of %d completed in %v (%.1f/s), %d workers, kills: %d",
		len(res.received), res.flows, res.elapsed.Round(time.Millisecond), float64(len(res.received))/res.elapsed.Seconds(), workers, res.kills)
	t.Logf("requests answered: %d, per node %v (proxy connections %v, %d refused: no live node); "+
		"signed requests: %d, with a nonce issued by another node: %d (%.0f%%); served by another node than the client's previous request: %d of %d (%.0f%%)",
		s.answered, s.perNode, served, p.refused.Load(), s.posts, s.crossNonce, pct(s.crossNonce, s.posts), s.switched, s.followups, pct(s.switched, s.followups))
	t.Logf("recovery: %d connection errors retried, %d badNonce retried, %d finalize answers lost (order fetched), %d finalize re-sent, %d new orders after interrupted issuance",
		s.connErrors, s.badNonces, s.lostFinalize, s.reuseFinalize, s.reorders)
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func startDNS(t *testing.T) *testdns.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dns, err := testdns.Start(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Close(); cancel() })
	return dns
}

func rootPool(t *testing.T, data string) *x509.CertPool {
	t.Helper()
	pemRoot, err := local.ReadRootPEM(server.CADir(data))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemRoot) {
		t.Fatal("no root certificate in the CA directory")
	}
	return pool
}

// TestClusterKillNode runs 3 nodes on one PostgreSQL database behind a
// round-robin proxy, drives 300 flows, SIGKILLs node 2 after 100 and
// restarts it after 200.
func TestClusterKillNode(t *testing.T) {
	t.Parallel()
	const flows = 300
	dsn := storetest.PostgresDSN(t) // fails with instructions when PostgreSQL is down
	dns := startDNS(t)
	resp := startResponder(t)
	common := []string{"--db", dsn, "--hostname", "localhost", "--va-http-port", itoa(resp.port),
		"--va-dns-resolver", dns.Addr(), "--shutdown-grace", "5s"}
	var nodes []*node
	var data []string
	for i, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		d := filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i+1))
		data = append(data, d)
		nodes = append(nodes, newNode(t, fmt.Sprintf("node%d", i+1), d, fmt.Sprintf("%s:%d", ip, freePort(t, ip)), common))
	}
	// Node 1 creates the CA and records it in the database; the others get
	// a copy of it before their first start.
	if err := nodes[0].start(); err != nil {
		t.Fatal(err)
	}
	copyCA(t, data[0], data[1])
	copyCA(t, data[0], data[2])
	for _, n := range nodes[1:] {
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
	}
	p := startProxy(t, []string{nodes[0].addr, nodes[1].addr, nodes[2].addr})
	k := newKiller(1, nodes[1].kill)
	res := drive(t, p, len(nodes), rootPool(t, data[0]), resp, flows, []event{
		{at: 100, name: "SIGKILL node2", do: k.fire},
		{at: 200, name: "restart node2", do: nodes[1].start},
	}, k.onConnect)
	res.kills = 1
	t.Logf("node2 was killed %s", k.timing)

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkRun(t, db, res)
	logStats(t, res, p)
	res.stats.mu.Lock()
	share := pct(res.stats.crossNonce, res.stats.posts)
	res.stats.mu.Unlock()
	if share < 50 {
		t.Errorf("only %.0f%% of signed requests used a nonce another node issued; want at least 50%%", share)
	}
	if n := nodes[1].runs; n != 2 {
		t.Errorf("node2 ran %d times, want 2 (killed and restarted)", n)
	}
}

// TestCrashSQLite runs one node on SQLite, drives 200 flows and SIGKILLs
// it after 100, restarting it at once on the same data directory.
func TestCrashSQLite(t *testing.T) {
	t.Parallel()
	const flows = 200
	dns := startDNS(t)
	resp := startResponder(t)
	data := filepath.Join(t.TempDir(), "data")
	n := newNode(t, "sqlite", data, fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")),
		[]string{"--hostname", "localhost", "--va-http-port", itoa(resp.port), "--va-dns-resolver", dns.Addr(), "--shutdown-grace", "5s"})
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, []string{n.addr})
	k := newKiller(0, n.kill)
	res := drive(t, p, 1, rootPool(t, data), resp, flows, []event{
		{at: 100, name: "SIGKILL and restart the node", do: func() error {
			k.fire()
			// The kill releases the data directory's lock: the restart
			// must not be refused as "in use by another certgate process".
			return n.start()
		}},
	}, k.onConnect)
	res.kills = 1
	t.Logf("the node was killed %s", k.timing)

	dbPath := filepath.Join(data, "certgate.db")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checkRun(t, db, res)
	var integrity string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check after the crash: %q %v", integrity, err)
	}
	logStats(t, res, p)
	if n.runs != 2 {
		t.Errorf("the node ran %d times, want 2 (killed and restarted)", n.runs)
	}
}
