package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// phaseKiller SIGKILLs a node when a request whose path contains the
// armed phase (e.g. "/finalize", "/acme/chall/") connects to it, after a
// random 0–4 ms, so that the kill falls before, during or after the
// request's work (or after 3 s, when no such request came).
type phaseKiller struct {
	kill  func()
	phase atomic.Value // string: the armed phase, "" when disarmed
	hit   chan struct{}
}

func newPhaseKiller(kill func()) *phaseKiller {
	k := &phaseKiller{kill: kill, hit: make(chan struct{}, 1)}
	k.phase.Store("")
	return k
}

func (k *phaseKiller) onConnect(_ int, url string) {
	if p := k.phase.Load().(string); p != "" && strings.Contains(url, p) && k.phase.CompareAndSwap(p, "") {
		k.hit <- struct{}{}
	}
}

// fire arms the killer for phase, kills and returns how the kill fell.
func (k *phaseKiller) fire(phase string) string {
	k.phase.Store(phase)
	var b [1]byte
	_, _ = rand.Read(b[:])
	delay := time.Duration(b[0]%5) * time.Millisecond
	timing := ""
	select {
	case <-k.hit:
		time.Sleep(delay)
		timing = fmt.Sprintf("%v after a %s request connected", delay, phase)
	case <-time.After(3 * time.Second):
		k.phase.Store("")
		timing = fmt.Sprintf("no %s request within 3 s", phase)
	}
	k.kill()
	return timing
}

// killDuringStart starts the node's process and SIGKILLs it after d,
// while it opens the database and takes over what the killed process
// left (processing orders and challenges).
func (n *node) killDuringStart(d time.Duration) error {
	n.mu.Lock()
	n.runs++
	logPath := filepath.Join(n.logDir, fmt.Sprintf("%s-run%d.log", n.name, n.runs))
	n.logs = append(n.logs, logPath)
	f, err := os.Create(logPath)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	defer f.Close()
	cmd := exec.Command(certgateBin, n.args...)
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Start()
	n.mu.Unlock()
	if err != nil {
		return err
	}
	time.Sleep(d)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil
}

// processingIDs returns the IDs of the rows of table (orders or
// challenges) whose status is processing.
func processingIDs(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT id FROM ` + table + ` WHERE status = 'processing'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// revoker issues certificates with its own account and revokes each one,
// alternately through ACME revokeCert and with `certgate cert revoke`
// beside the server, until stopped. It records the revocations that were
// acknowledged (an ACME 200, a CLI exit status 0); a revokeCert cut short
// by a kill is not acknowledged and not counted, a CLI revocation must
// always succeed.
type revoker struct {
	c        *client
	dbArgs   []string // the CLI's flags naming the node's database: --data DIR [--db DSN]
	mu       sync.Mutex
	issued   map[string]*issued // serial → certificate, every one received
	revoked  map[string]*issued // acknowledged revocations
	byACME   int
	byCLI    int
	unsure   int
	failures []string
}

// addResults adds the certificates the revoker received to res, as
// completed flows (checkRun then checks each one stored, byte for byte),
// reports its failures and logs what it did. Called once the revoker
// stopped.
func (r *revoker) addResults(t *testing.T, res *runResult) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for serial, got := range r.issued {
		res.received[serial] = got
		res.flows++
	}
	if len(r.failures) > 0 {
		t.Errorf("the revoker failed %d times, first: %s", len(r.failures), r.failures[0])
	}
	t.Logf("revoker: %d certificates, revocations acknowledged: %d through ACME, %d by the CLI; %d not acknowledged",
		len(r.issued), r.byACME, r.byCLI, r.unsure)
}

func (r *revoker) run(stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), flowTimeout)
		got, err := r.c.issue(ctx, fmt.Sprintf("rv%d-%d.cluster.test", i, time.Now().UnixNano()))
		if err != nil {
			cancel()
			r.mu.Lock()
			r.failures = append(r.failures, "issuance: "+err.Error())
			r.mu.Unlock()
			continue
		}
		r.mu.Lock()
		r.issued[got.serial] = got
		r.mu.Unlock()
		acked := false
		if i%2 == 0 {
			_, err = r.c.post(ctx, r.c.dir.RevokeCert, map[string]any{
				"certificate": base64.RawURLEncoding.EncodeToString(got.der), "reason": 4}, true)
			acked = err == nil
		} else {
			// The CLI writes to the database itself: a kill of the server
			// does not concern it, so it must succeed.
			out, err := exec.CommandContext(ctx, certgateBin, append(append([]string{"cert", "revoke", got.serial}, r.dbArgs...), "--reason", "superseded")...).CombinedOutput()
			if acked = err == nil; !acked {
				r.mu.Lock()
				r.failures = append(r.failures, fmt.Sprintf("certgate cert revoke %s: %v: %s", got.serial, err, out))
				r.mu.Unlock()
			}
		}
		cancel()
		r.mu.Lock()
		switch {
		case acked && i%2 == 0:
			r.byACME++
		case acked:
			r.byCLI++
		default:
			r.unsure++
		}
		if acked {
			r.revoked[got.serial] = got
		}
		r.mu.Unlock()
	}
}

// TestCrashSQLiteRepeated SIGKILLs one SQLite node nine times while 240
// issuance flows run and a revoker issues and revokes certificates
// (through ACME and the CLI beside the server): during finalize, during
// validation, during revokeCert, during a certificate download, and
// during the start that takes over what the killed process left. After a
// last restart: every certificate a client received is stored with the
// same DER, no serial twice, no order or challenge left processing,
// every acknowledged revocation stored, in the CRL and answered revoked
// by OCSP, and `certgate audit verify` finds the chain intact.
func TestCrashSQLiteRepeated(t *testing.T) {
	t.Parallel()
	const flows = 240
	dns := startDNS(t)
	resp := startResponder(t)
	data := filepath.Join(t.TempDir(), "data")
	n := newNode(t, "sqlite", data, fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")),
		[]string{"--hostname", "localhost", "--va-http-port", itoa(resp.port), "--va-dns-resolver", dns.Addr(), "--shutdown-grace", "5s"})
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, []string{n.addr})
	roots := rootPool(t, data)
	k := newPhaseKiller(n.kill)

	rc, err := newClient(p.ln.Addr().String(), fmt.Sprintf("https://localhost:%d/acme/directory", p.Port()), roots, &stats{perNode: make([]int, 1)}, resp)
	if err != nil {
		t.Fatal(err)
	}
	rc.onConnect = k.onConnect
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = rc.register(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	rv := &revoker{c: rc, dbArgs: []string{"--data", data}, issued: map[string]*issued{}, revoked: map[string]*issued{}}
	stop := make(chan struct{})
	revokerDone := make(chan struct{})
	go func() { defer close(revokerDone); rv.run(stop) }()

	// The database, read between a kill and the restart (orders and
	// challenges the killed process left processing) and after the run.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "certgate.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var timings []string
	var leftOrders, leftChallenges int
	// restart starts the node again and checks that the start took over
	// what the killed process left processing (it is alone on its
	// database): each order failed with a serverInternal problem telling
	// the client to order again, each challenge validated again, within
	// 15 s rather than after the sweep's one minute and lease expiry (40 s).
	restart := func() error {
		orders := processingIDs(t, db, "orders")
		challenges := processingIDs(t, db, "challenges")
		leftOrders += len(orders)
		leftChallenges += len(challenges)
		if err := n.start(); err != nil {
			return err
		}
		deadline := time.Now().Add(15 * time.Second)
		for len(orders)+len(challenges) > 0 {
			var stillOrders, stillChallenges []string
			for _, id := range orders {
				var status, perr string
				if err := db.QueryRow(`SELECT status, COALESCE(error, '') FROM orders WHERE id = ?`, id).Scan(&status, &perr); err != nil {
					return fmt.Errorf("order %s: %w", id, err)
				}
				switch {
				case status == "processing":
					stillOrders = append(stillOrders, id)
				case status != "invalid" || !strings.Contains(perr, problemServerInternal) || !strings.Contains(perr, interruptedDetail):
					t.Errorf("order %s left processing by the kill is now %s with error %s", id, status, perr)
				}
			}
			for _, id := range challenges {
				var status string
				if err := db.QueryRow(`SELECT status FROM challenges WHERE id = ?`, id).Scan(&status); err != nil {
					return fmt.Errorf("challenge %s: %w", id, err)
				}
				if status == "processing" {
					stillChallenges = append(stillChallenges, id)
				}
			}
			orders, challenges = stillOrders, stillChallenges
			if len(orders)+len(challenges) == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("15 s after the restart, still processing: orders %v, challenges %v", orders, challenges)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}
	killAt := func(phase string) func() error {
		return func() error {
			timings = append(timings, k.fire(phase))
			return restart()
		}
	}
	events := []event{
		{at: 25, name: "SIGKILL during finalize, restart", do: killAt("/finalize")},
		{at: 50, name: "SIGKILL during validation, restart", do: killAt("/acme/chall/")},
		{at: 75, name: "SIGKILL during revokeCert, restart", do: killAt("/acme/revoke-cert")},
		{at: 100, name: "SIGKILL during a certificate download, restart", do: killAt("/acme/cert/")},
		{at: 125, name: "SIGKILL during finalize, SIGKILL during the start, restart", do: func() error {
			timings = append(timings, k.fire("/finalize"))
			if err := n.killDuringStart(20 * time.Millisecond); err != nil {
				return err
			}
			return restart()
		}},
		{at: 150, name: "SIGKILL during validation, SIGKILL during the start, restart", do: func() error {
			timings = append(timings, k.fire("/acme/chall/"))
			if err := n.killDuringStart(5 * time.Millisecond); err != nil {
				return err
			}
			return restart()
		}},
		{at: 175, name: "SIGKILL during revokeCert, restart", do: killAt("/acme/revoke-cert")},
		{at: 200, name: "SIGKILL during finalize, restart", do: killAt("/finalize")},
	}
	res := drive(t, p, 1, roots, resp, flows, events, k.onConnect)
	close(stop)
	<-revokerDone
	res.kills = len(events) + 3 // two during a start, one after the run
	t.Logf("kills: %s", strings.Join(timings, "; "))

	// The last kill: whatever the revoker was doing, then a restart.
	n.kill()
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("left processing by the kills and taken over by the restarts: %d orders, %d challenges", leftOrders, leftChallenges)
	rv.addResults(t, res)
	if rv.byACME == 0 || rv.byCLI == 0 {
		t.Errorf("want revocations acknowledged both through ACME (%d) and by the CLI (%d)", rv.byACME, rv.byCLI)
	}

	checkRun(t, db, res)
	logStats(t, res, p)
	if want := 1 + len(events) + 2 + 1; n.runs != want {
		t.Errorf("the node ran %d times, want %d", n.runs, want)
	}

	checkRevocations(t, db, "?", n.addr, rv.revoked)

	// The audit log's hash chain is intact.
	if out, err := exec.Command(certgateBin, "audit", "verify", "--data", data).CombinedOutput(); err != nil {
		t.Errorf("certgate audit verify: %v\n%s", err, out)
	} else {
		t.Logf("%s", bytes.TrimSpace(out))
	}
}

// checkRevocations asserts that every acknowledged revocation (revoked,
// serial → certificate) is stored (db, whose placeholder is param), in the
// CRL the node at addr serves, and answered revoked by its OCSP responder.
func checkRevocations(t *testing.T, db *sql.DB, param, addr string, revoked map[string]*issued) {
	t.Helper()
	get := func(path string) []byte {
		t.Helper()
		r, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		if err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: HTTP %d %v", path, r.StatusCode, err)
		}
		return b
	}
	crl, err := x509.ParseRevocationList(get("/pki/crl"))
	if err != nil {
		t.Fatal(err)
	}
	inCRL := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		inCRL[e.SerialNumber.Text(16)] = true
	}
	inter, err := x509.ParseCertificate(get("/pki/intermediate.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(inter); err != nil {
		t.Errorf("CRL signature: %v", err)
	}
	for serial, got := range revoked {
		var status string
		if err := db.QueryRow(`SELECT status FROM certificates WHERE serial = `+param, serial).Scan(&status); err != nil || status != "revoked" {
			t.Errorf("certificate %s: revocation acknowledged, stored status %q (%v)", serial, status, err)
		}
		if !inCRL[serial] {
			t.Errorf("certificate %s: revocation acknowledged, not in the CRL after the restart", serial)
		}
		leaf, err := x509.ParseCertificate(got.der)
		if err != nil {
			t.Fatal(err)
		}
		req, err := ocsp.CreateRequest(leaf, inter, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := http.Post("http://"+addr+"/pki/ocsp", "application/ocsp-request", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if or, err := ocsp.ParseResponseForCert(b, leaf, inter); err != nil || or.Status != ocsp.Revoked {
			t.Errorf("certificate %s: revocation acknowledged, OCSP answers %v (%v)", serial, or, err)
		}
	}
	t.Logf("CRL: %d entries, %d acknowledged revocations checked in it and by OCSP", len(inCRL), len(revoked))

}
