package cluster

import (
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testdns"
)

// perspectiveProc is a `certgate serve --roles va` process.
type perspectiveProc struct {
	name, addr string
	cmd        *exec.Cmd
	done       chan struct{}
	log        string
}

// startPerspective runs a remote validation perspective on addr with its
// own resolver and waits until it answers /healthz over HTTPS.
func startPerspective(t *testing.T, name, addr, resolver, secretFile string, httpPort int) *perspectiveProc {
	t.Helper()
	p := &perspectiveProc{name: name, addr: addr, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(certgateBin, "serve", "--roles", "va", "--perspective", name, "--listen", addr,
		"--va-dns-resolver", resolver, "--va-http-port", itoa(httpPort), "--perspective-secret-file", secretFile, "--shutdown-grace", "2s")
	p.cmd.Env = []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CERTGATE_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(p.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", p.log, tail(p.log, 20))
		}
	})
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.done:
			t.Fatalf("perspective %s exited:\n%s", name, tail(p.log, 20))
		default:
		}
		if res, err := hc.Get("https://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return p
			}
		}
	}
	t.Fatalf("perspective %s did not answer on %s", name, addr)
	return nil
}

func (p *perspectiveProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// authzOutcome is an authorization after validation, with the error of
// its http-01 challenge as raw JSON.
type authzOutcome struct {
	id       string
	status   string
	chStatus string
	chError  json.RawMessage
}

// validate orders name and answers its http-01 challenge, then polls the
// authorization until it is no longer pending.
func validate(ctx context.Context, t *testing.T, c *client, name string) authzOutcome {
	t.Helper()
	r, err := c.post(ctx, c.dir.NewOrder, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": name}}}, false)
	if err != nil {
		t.Fatalf("newOrder %s: %v", name, err)
	}
	var o order
	if err := json.Unmarshal(r.body, &o); err != nil || len(o.Authorizations) != 1 {
		t.Fatalf("newOrder %s: %s", name, r.body)
	}
	url := o.Authorizations[0]
	type rawAuthz struct {
		Status     string `json:"status"`
		Challenges []struct {
			Type   string          `json:"type"`
			URL    string          `json:"url"`
			Token  string          `json:"token"`
			Status string          `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"challenges"`
	}
	fetch := func() rawAuthz {
		r, err := c.post(ctx, url, nil, false)
		if err != nil {
			t.Fatalf("authorization %s: %v", name, err)
		}
		var az rawAuthz
		if err := json.Unmarshal(r.body, &az); err != nil {
			t.Fatal(err)
		}
		return az
	}
	az := fetch()
	idx := -1
	for i, ch := range az.Challenges {
		if ch.Type == "http-01" {
			idx = i
		}
	}
	ch := az.Challenges[idx]
	c.resp.set(ch.Token, ch.Token+"."+c.thumb)
	defer c.resp.remove(ch.Token)
	if _, err := c.post(ctx, ch.URL, map[string]any{}, false); err != nil {
		t.Fatalf("challenge %s: %v", name, err)
	}
	for poll := 0; az.Status == "pending"; poll++ {
		if err := backoff(ctx, poll); err != nil {
			t.Fatalf("authorization %s still pending: %v", name, err)
		}
		az = fetch()
	}
	out := authzOutcome{id: url[strings.LastIndex(url, "/")+1:], status: az.Status}
	for _, ch := range az.Challenges {
		if ch.Type == "http-01" {
			out.chStatus, out.chError = ch.Status, ch.Error
		}
	}
	return out
}

// perspectiveRows returns "perspective status" per row of the last
// attempt recorded for an authorization.
func perspectiveRows(ctx context.Context, t *testing.T, db *sql.DB, authzID string) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT perspective, status FROM authorization_perspectives WHERE authz_id = $1
		AND attempt = (SELECT MAX(attempt) FROM authorization_perspectives WHERE authz_id = $1) ORDER BY perspective`, authzID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p, s string
		if err := rows.Scan(&p, &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, p+" "+s)
	}
	return out
}

// TestMultiPerspectiveValidation runs a primary and three remote
// perspectives as processes on 127.0.0.1..4, each perspective with its
// own DNS server, and a second primary with --perspective-unreachable
// ignore. An answer that differs at one perspective still meets the
// quorum (at most 1 of 3 may disagree, CA/B BR 3.2.2.9); at two it fails
// with a problem listing them; a perspective that is down counts as
// disagreeing by default and is left out with "ignore". At start each
// primary pings its perspectives: the correctly configured one logs that
// all answered, a third whose "p2" is p1's address warns about it.
func TestMultiPerspectiveValidation(t *testing.T) {
	t.Parallel()
	resp := startResponder(t) // http-01 answers on 127.0.0.1
	secret := filepath.Join(t.TempDir(), "perspective.secret")
	if err := os.WriteFile(secret, []byte("4f1c2a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	elsewhere := net.IPv4(127, 0, 0, 9) // nothing listens there
	var dnss []*testdns.Server
	var remotes []string
	var procs []*perspectiveProc
	for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		d := startDNS(t)
		dnss = append(dnss, d)
		name := fmt.Sprintf("p%d", i+1)
		addr := fmt.Sprintf("%s:%d", ip, freePort(t, ip))
		procs = append(procs, startPerspective(t, name, addr, d.Addr(), secret, resp.port))
		remotes = append(remotes, name+"=https://"+addr)
	}
	primaryDNS := startDNS(t)
	nodes := map[string]*node{}
	startPrimary := func(name string, extra ...string) (*client, *sql.DB) {
		dsn := storetest.PostgresDSN(t)
		args := append([]string{"--db", dsn, "--hostname", "localhost", "--va-http-port", itoa(resp.port),
			"--va-dns-resolver", primaryDNS.Addr(), "--shutdown-grace", "5s", "--perspectives", strings.Join(remotes, ","),
			"--perspective-secret-file", secret}, extra...)
		data := filepath.Join(t.TempDir(), name)
		n := newNode(t, name, data, fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")), args)
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
		nodes[name] = n
		p := startProxy(t, []string{n.addr})
		c, err := newClient(p.ln.Addr().String(), "https://localhost/acme/directory", rootPool(t, data), &stats{perNode: make([]int, 1)}, resp)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.register(ctx); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return c, db
	}
	strict, strictDB := startPrimary("primary-fail")
	lenient, lenientDB := startPrimary("primary-ignore", "--perspective-unreachable", "ignore")
	// The start-up ping: every perspective answered the primary; a
	// primary that calls p1's address p2 warns about it (HTTP 421) and
	// still starts.
	for _, p := range []string{"p1", "p2", "p3"} {
		waitLog(t, nodes["primary-fail"], "remote perspective answered", "perspective="+p)
	}
	if l := readLogs(nodes["primary-fail"]); strings.Contains(l, "failed its start-up check") {
		t.Errorf("correctly configured primary warned:\n%s", l)
	}
	swapped := append([]string{"p2=" + strings.TrimPrefix(remotes[0], "p1=")}, remotes[2:]...)
	startPrimary("primary-swapped", "--perspectives", strings.Join(swapped, ","))
	waitLog(t, nodes["primary-swapped"], "failed its start-up check", "perspective=p2", `HTTP 421: this is perspective \"p1\", not \"p2\"`)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	check := func(what string, got authzOutcome, db *sql.DB, wantStatus string, wantRows []string) {
		t.Helper()
		if got.status != wantStatus {
			t.Errorf("%s: authorization %s (challenge error %s), want %s", what, got.status, got.chError, wantStatus)
		}
		if rows := perspectiveRows(ctx, t, db, got.id); strings.Join(rows, ", ") != strings.Join(wantRows, ", ") {
			t.Errorf("%s: recorded perspectives %v, want %v", what, rows, wantRows)
		}
		t.Logf("%s: %s; perspectives %v", what, got.status, perspectiveRows(ctx, t, db, got.id))
	}

	// All perspectives see the same answer.
	check("all agree", validate(ctx, t, strict, "same.mpic.test"), strictDB, "valid",
		[]string{"p1 valid", "p2 valid", "p3 valid", "primary valid"})

	// p3's resolver sends it elsewhere: 1 of 3 disagrees, quorum met.
	dnss[2].SetA("onediff.mpic.test", elsewhere)
	check("one perspective disagrees", validate(ctx, t, strict, "onediff.mpic.test"), strictDB, "valid",
		[]string{"p1 valid", "p2 valid", "p3 invalid", "primary valid"})

	// p2 and p3 disagree: quorum not met; the problem lists both.
	dnss[1].SetA("twodiff.mpic.test", elsewhere)
	dnss[2].SetA("twodiff.mpic.test", elsewhere)
	got := validate(ctx, t, strict, "twodiff.mpic.test")
	check("two perspectives disagree", got, strictDB, "invalid", []string{"p1 valid", "p2 invalid", "p3 invalid", "primary valid"})
	var prob struct {
		Type        string `json:"type"`
		Detail      string `json:"detail"`
		Subproblems []struct {
			Type   string `json:"type"`
			Detail string `json:"detail"`
		} `json:"subproblems"`
	}
	t.Logf("quorum failure problem: %s", got.chError)
	if err := json.Unmarshal(got.chError, &prob); err != nil {
		t.Fatalf("challenge error %s: %v", got.chError, err)
	}
	if prob.Type != "urn:ietf:params:acme:error:connection" || !strings.Contains(prob.Detail, "quorum not met") ||
		!strings.Contains(prob.Detail, "p2 invalid") || !strings.Contains(prob.Detail, "p3 invalid") || len(prob.Subproblems) != 2 ||
		!strings.Contains(prob.Subproblems[0].Detail, "perspective p2") || !strings.Contains(prob.Subproblems[1].Detail, "perspective p3") {
		t.Errorf("quorum failure problem does not list the disagreeing perspectives: %s", got.chError)
	}

	// p3 down, p2 disagrees: "fail" counts p3 → 2 of 3 → invalid;
	// "ignore" leaves p3 out → 1 of 2 → valid.
	procs[2].stop()
	dnss[1].SetA("down.mpic.test", elsewhere)
	check("perspective down, policy fail", validate(ctx, t, strict, "down.mpic.test"), strictDB, "invalid",
		[]string{"p1 valid", "p2 invalid", "p3 unreachable", "primary valid"})
	check("perspective down, policy ignore", validate(ctx, t, lenient, "down.mpic.test"), lenientDB, "valid",
		[]string{"p1 valid", "p2 invalid", "p3 unreachable", "primary valid"})
	// A perspective down alone is one disagreement: still met with "fail".
	check("perspective down alone, policy fail", validate(ctx, t, strict, "downonly.mpic.test"), strictDB, "valid",
		[]string{"p1 valid", "p2 valid", "p3 unreachable", "primary valid"})
}

// readLogs returns everything node n logged so far.
func readLogs(n *node) string {
	n.mu.Lock()
	logs := append([]string(nil), n.logs...)
	n.mu.Unlock()
	var b strings.Builder
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		b.Write(data)
	}
	return b.String()
}

// waitLog waits up to 30 s for a log line of n containing every one of
// parts.
func waitLog(t *testing.T, n *node, parts ...string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, line := range strings.Split(readLogs(n), "\n") {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				return
			}
		}
	}
	t.Fatalf("%s never logged a line with %q:\n%s", n.name, parts, readLogs(n))
}
