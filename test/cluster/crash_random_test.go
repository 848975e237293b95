package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store/storetest"
)

// crashSeed is the seed of TestCrashRandomKills's kill moments:
// CERTGATE_CRASH_SEED when set (to replay a failed run, whose seed the test
// logs), else the time.
func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("CERTGATE_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CERTGATE_CRASH_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// crashKills is how many kills at random moments each engine of
// TestCrashRandomKills gets: CERTGATE_CRASH_KILLS when set (a longer soak),
// else 3.
func crashKills(t *testing.T) int {
	if s := os.Getenv("CERTGATE_CRASH_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CERTGATE_CRASH_KILLS=%q: want a positive number", s)
		}
		return n
	}
	return 3
}

// crlWatcher fetches the node's CRL over and over while the node is
// killed and restarted, and records each one it gets.
type crlWatcher struct {
	addr string
	mu   sync.Mutex
	crls []*x509.RevocationList
	errs []string
}

func (w *crlWatcher) run(stop <-chan struct{}) {
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		r, err := hc.Get("http://" + w.addr + "/pki/crl")
		if err != nil {
			continue // the node is down
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil || r.StatusCode != http.StatusOK {
			continue // cut short by a kill, or not serving yet
		}
		crl, err := x509.ParseRevocationList(b)
		w.mu.Lock()
		if err != nil {
			w.errs = append(w.errs, fmt.Sprintf("CRL served with status 200 does not parse: %v", err))
		} else {
			w.crls = append(w.crls, crl)
		}
		w.mu.Unlock()
	}
}

// check asserts that the CRL numbers the node served, in the order they
// were fetched, never went back across the kills, and that two CRLs of
// one number are the same CRL (RFC 5280 §5.2.3: the number increases with
// each new CRL).
func (w *crlWatcher) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.errs {
		t.Error(e)
	}
	distinct := 0
	for i, c := range w.crls {
		if i == 0 {
			distinct++
			continue
		}
		prev := w.crls[i-1]
		switch cmp := c.Number.Cmp(prev.Number); {
		case cmp < 0:
			t.Errorf("CRL number went back from %v to %v", prev.Number, c.Number)
		case cmp == 0 && !bytes.Equal(c.Raw, prev.Raw):
			t.Errorf("two different CRLs have the number %v", c.Number)
		case cmp > 0:
			distinct++
		}
	}
	if distinct < 2 {
		t.Errorf("the watcher got %d CRLs (%d distinct numbers): want at least 2, the kills' restarts sign new ones", len(w.crls), distinct)
	}
	t.Logf("CRLs fetched: %d, distinct numbers: %d", len(w.crls), distinct)
}

// TestCrashRandomKills SIGKILLs one node, on SQLite and on PostgreSQL,
// at moments drawn from a seeded RNG (logged; CERTGATE_CRASH_SEED replays
// a run, CERTGATE_CRASH_KILLS sets the number of kills for a soak) while
// issuance flows run, a revoker issues certificates and revokes them
// (through ACME and with `certgate cert revoke` beside the node) and the
// node's CRL is fetched over and over: each kill comes after a random
// number of completed flows and a random 0–40 ms more, so it falls in any
// phase of the requests in flight (new order, validation, finalize,
// download, revocation) and of the node's own work (validation attempts,
// the sweep, checkpoints, CRL signing); one kill in three is followed by
// another 0–300 ms into the start. After each kill the node must start
// again cleanly and fail the orders the kill left processing with a
// serverInternal problem within 15 s: on SQLite (alone on its data) the
// start takes over at once what the kill left (the challenges are
// validated again too), on PostgreSQL the restarted node fails the
// orders once the killed process's node lease ran out. After a last kill
// and restart: every certificate a client received is stored with the
// same DER (and `certgate cert show` finds a few drawn) and none that was not, no serial twice, every serial reserved,
// no order left processing,
// every acknowledged revocation stored, in the CRL and answered revoked
// by OCSP, no challenge left processing, the CRL numbers served never
// went back, and the audit log's chain verifies and holds one issuance
// event for each stored certificate and none for another serial.
func TestCrashRandomKills(t *testing.T) {
	t.Parallel()
	seed := crashSeed(t)
	kills := crashKills(t)
	t.Logf("seed %d (CERTGATE_CRASH_SEED=%d replays these kill moments), %d kills per engine", seed, seed, kills)
	for i, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			crashRandom(t, engine, rand.New(rand.NewPCG(seed, uint64(i))), kills)
		})
	}
}

func crashRandom(t *testing.T, engine string, rng *rand.Rand, kills int) {
	flows := 20 + 12*kills
	dns := startDNS(t)
	resp := startResponder(t)
	data := filepath.Join(t.TempDir(), "data")
	common := []string{"--hostname", "localhost", "--va-http-port", itoa(resp.port), "--va-dns-resolver", dns.Addr(), "--shutdown-grace", "5s"}
	var db *sql.DB
	var err error
	dbArgs := []string{"--data", data}
	param := "?" // db's placeholder
	if engine == "postgres" {
		param = "$1"
		dsn := storetest.PostgresDSN(t)
		common = append(common, "--db", dsn)
		dbArgs = append(dbArgs, "--db", dsn)
		db, err = sql.Open("pgx", dsn)
	} else {
		db, err = sql.Open("sqlite", "file:"+filepath.Join(data, "certgate.db")+"?_pragma=busy_timeout(10000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := newNode(t, engine, data, fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")), common)
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, []string{n.addr})
	roots := rootPool(t, data)

	crls := &crlWatcher{addr: n.addr}
	stop := make(chan struct{})
	watcherDone := make(chan struct{})
	go func() { defer close(watcherDone); crls.run(stop) }()

	// Beside the flows, a revoker issues certificates and revokes them,
	// through ACME and with `certgate cert revoke` beside the node.
	rc, err := newClient(p.ln.Addr().String(), fmt.Sprintf("https://localhost:%d/acme/directory", p.Port()), roots, &stats{perNode: make([]int, 1)}, resp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = rc.register(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	rv := &revoker{c: rc, dbArgs: dbArgs, issued: map[string]*issued{}, revoked: map[string]*issued{}}
	revokerDone := make(chan struct{})
	go func() { defer close(revokerDone); rv.run(stop) }()

	// restart starts the node again after a kill. The orders the killed
	// process left processing are failed within 15 s, where the sweep's
	// StuckAfter would take a minute: on SQLite by the start, which takes
	// over what the killed process left, at once; on PostgreSQL, where
	// the node cannot know that no other node works on them, by the
	// restarted node's heartbeat once the killed process's node lease
	// (5 s) ran out. On SQLite the start validates the challenges again
	// at once too; on PostgreSQL they wait for their validation lease
	// (checked at the end).
	var leftOrders, leftChallenges int
	restart := func() error {
		orders := processingIDs(t, db, "orders")
		challenges := processingIDs(t, db, "challenges")
		leftOrders += len(orders)
		leftChallenges += len(challenges)
		if err := n.start(); err != nil {
			return err
		}
		if engine != "sqlite" {
			challenges = nil
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			var still []string
			for _, id := range orders {
				var status, perr string
				if err := db.QueryRow(`SELECT status, COALESCE(error, '') FROM orders WHERE id = `+param, id).Scan(&status, &perr); err != nil {
					return fmt.Errorf("order %s: %w", id, err)
				}
				switch {
				case status == "processing":
					still = append(still, "order "+id)
				case status == "valid" && engine == "postgres":
					// Its commit had reached PostgreSQL when the node
					// was killed, and completed after the read above.
				case status != "invalid" || !strings.Contains(perr, problemServerInternal) || !strings.Contains(perr, interruptedDetail):
					t.Errorf("order %s left processing by the kill is now %s with error %s", id, status, perr)
				}
			}
			for _, id := range challenges {
				var status string
				if err := db.QueryRow(`SELECT status FROM challenges WHERE id = `+param, id).Scan(&status); err != nil {
					return fmt.Errorf("challenge %s: %w", id, err)
				}
				if status == "processing" {
					still = append(still, "challenge "+id)
				}
			}
			if len(still) == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("15 s after the restart, still processing: %v", still)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var timings []string
	var events []event
	at, startKills := 0, 0
	for k := range kills {
		at += 3 + rng.IntN(10)
		delay := time.Duration(rng.IntN(40_000)) * time.Microsecond
		// One kill in three is followed by another during the start,
		// while the node opens the database and takes over what the
		// first kill left, after 0–300 ms.
		var duringStart time.Duration
		name := fmt.Sprintf("SIGKILL %d after %v more, restart", k+1, delay)
		if rng.IntN(3) == 0 {
			duringStart = time.Duration(rng.IntN(300_000)) * time.Microsecond
			startKills++
			name = fmt.Sprintf("SIGKILL %d after %v more, SIGKILL %v into the start, restart", k+1, delay, duringStart)
		}
		events = append(events, event{at: at, name: name, do: func() error {
			time.Sleep(delay)
			n.kill()
			timings = append(timings, fmt.Sprintf("after %v", delay))
			if duringStart > 0 {
				if err := n.killDuringStart(duringStart); err != nil {
					return err
				}
			}
			return restart()
		}})
	}
	res := drive(t, p, 1, roots, resp, flows, events, nil)
	close(stop)
	<-revokerDone
	res.kills = kills + startKills + 1
	t.Logf("kills (moments after the flow counts %v): %s", func() []int {
		var a []int
		for _, e := range events {
			a = append(a, e.at)
		}
		return a
	}(), strings.Join(timings, "; "))

	// The last kill, with nothing in flight but the node's own work,
	// then a restart.
	time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
	n.kill()
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("left processing by the kills: %d orders, %d challenges", leftOrders, leftChallenges)
	rv.addResults(t, res)
	checkRun(t, db, res)
	logStats(t, res, p)
	checkRevocations(t, db, param, n.addr, rv.revoked)
	checkAuditComplete(t, db)
	// The operator's view: `certgate cert show` finds received
	// certificates (a few, drawn by the RNG) with their fingerprint.
	var serials []string
	for serial := range res.received {
		serials = append(serials, serial)
	}
	slices.Sort(serials)
	for range 3 {
		got := res.received[serials[rng.IntN(len(serials))]]
		out, err := exec.Command(certgateBin, append([]string{"cert", "show", got.serial, "--format", "json"}, dbArgs...)...).CombinedOutput()
		sum := sha256.Sum256(got.der)
		if err != nil || !strings.Contains(strings.ToLower(string(out)), hex.EncodeToString(sum[:])) {
			t.Errorf("certgate cert show %s (received by %s): %v, no SHA-256 fingerprint %x in:\n%s", got.serial, got.name, err, sum, out)
		}
	}
	// No challenge stays processing: on PostgreSQL another start resumes
	// the validations of a dead process once their lease (30 s) ran out.
	deadline := time.Now().Add(45 * time.Second)
	for {
		ids := processingIDs(t, db, "challenges")
		if len(ids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("challenges still processing 45 s after the last restart: %v", ids)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if want := kills + startKills + 2; n.runs != want {
		t.Errorf("the node ran %d times, want %d", n.runs, want)
	}
	if engine == "sqlite" {
		var integrity string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
			t.Errorf("integrity_check after the kills: %q %v", integrity, err)
		}
	}
	<-watcherDone
	crls.check(t)
	if out, err := exec.Command(certgateBin, append([]string{"audit", "verify"}, dbArgs...)...).CombinedOutput(); err != nil {
		t.Errorf("certgate audit verify: %v\n%s", err, out)
	} else {
		t.Logf("%s", bytes.TrimSpace(out))
	}
}

// checkAuditComplete asserts that the audit log has, despite the kills,
// one certificate.issue event for each stored certificate and none for a
// serial that is not stored (an issuance and its event commit together),
// and a certificate.revoke event for each revoked certificate.
func checkAuditComplete(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, c := range []struct{ what, q string }{
		{"certificates without their certificate.issue audit event", `SELECT COUNT(*) FROM certificates c
			WHERE NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.action = 'certificate.issue' AND a.object_id = c.serial)`},
		{"certificate.issue audit events of no stored certificate", `SELECT COUNT(*) FROM audit_events a
			WHERE a.action = 'certificate.issue' AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = a.object_id)`},
		{"serials with more than one certificate.issue audit event", `SELECT COUNT(*) FROM (SELECT object_id FROM audit_events
			WHERE action = 'certificate.issue' GROUP BY object_id HAVING COUNT(*) > 1) d`},
		{"revoked certificates without a certificate.revoke audit event", `SELECT COUNT(*) FROM certificates c
			WHERE c.status = 'revoked' AND NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.action = 'certificate.revoke' AND a.object_id = c.serial)`},
	} {
		var n int
		if err := db.QueryRow(c.q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if n != 0 {
			t.Errorf("%d %s", n, c.what)
		}
	}
}
