package e2e

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A two-node cluster with real clients: two certgate processes share one
// PostgreSQL database and one CA (copied with `certgate ca export|import`)
// behind a TCP proxy on loopback that sends each new connection to the
// other node, as a round-robin load balancer would. Clients that open a
// connection per request (dehydrated's curl, acme-tiny's urllib) thus have
// consecutive requests served by different nodes: a nonce issued by one
// node is redeemed at the other, an order created on one is finalized on
// the other, an account updated or rolled over on one is used on the
// other.

// postgresAdminURL is the PostgreSQL server the cluster tests create their
// database on (CERTGATE_TEST_POSTGRES, as for the unit tests, else the
// local server with trust authentication).
func postgresAdminURL() string {
	if u := os.Getenv("CERTGATE_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// createDatabase creates a fresh PostgreSQL database for this test and
// drops it when the test ends; it returns its URL.
func createDatabase(t *testing.T) string {
	t.Helper()
	admin := postgresAdminURL()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL at %s (set CERTGATE_TEST_POSTGRES): %v", admin, err)
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "certgate_e2e_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	i := strings.LastIndex(admin, "/")
	j := strings.Index(admin[i:], "?")
	if j < 0 {
		return admin[:i+1] + name
	}
	return admin[:i+1] + name + admin[i+j:]
}

// clusterNode is one certgate serve of the cluster.
type clusterNode struct {
	Addr    string
	Data    string
	LogFile string
}

// roundRobin accepts connections on a loopback port and relays each to the
// next of backends in turn. It counts the connections relayed to each.
type roundRobin struct {
	l        net.Listener
	backends []string
	next     atomic.Uint64
	mu       sync.Mutex
	count    map[string]int
}

func startRoundRobin(t *testing.T, port int, backends ...string) *roundRobin {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	p := &roundRobin{l: l, backends: backends, count: map[string]int{}}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			backend := backends[(p.next.Add(1)-1)%uint64(len(backends))]
			p.mu.Lock()
			p.count[backend]++
			p.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, err := net.DialTimeout("tcp", backend, 5*time.Second)
				if err != nil {
					return
				}
				defer b.Close()
				go func() { _, _ = io.Copy(b, c); _ = b.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, b)
			}()
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return p
}

// startCluster starts two nodes on one new PostgreSQL database behind a
// round-robin proxy and returns the proxy as the server clients use. The
// proxy listens on a port of its own, so a certificate's CRL and OCSP URLs
// name the node that issued it (docs/operations.md puts the load balancer
// on the nodes' port); the tests fetch the CRL there.
func startCluster(t *testing.T) (*acmeServer, []clusterNode) {
	t.Helper()
	db := createDatabase(t)
	dir := t.TempDir()
	ports := freePorts(t, 5) // proxy, node A, node B, http-01, tls-alpn-01
	s := &acmeServer{
		Kind:     "certgate",
		addr:     "127.0.0.1:" + strconv.Itoa(ports[0]),
		HTTPPort: ports[3],
		TLSPort:  ports[4],
	}
	s.DirURL = "https://localhost:" + strconv.Itoa(ports[0]) + "/acme/directory"
	nodes := []clusterNode{
		{Addr: "127.0.0.1:" + strconv.Itoa(ports[1]), Data: filepath.Join(dir, "a"), LogFile: filepath.Join(dir, "a.log")},
		{Addr: "127.0.0.1:" + strconv.Itoa(ports[2]), Data: filepath.Join(dir, "b"), LogFile: filepath.Join(dir, "b.log")},
	}
	start := func(n clusterNode) {
		exited := startDaemon(t, "certgate serve "+filepath.Base(n.Data), n.LogFile, nil, certgateBin, "serve",
			"--data", n.Data, "--db", db, "--listen", n.Addr, "--hostname", "localhost",
			"--va-http-port", strconv.Itoa(s.HTTPPort), "--va-tls-port", strconv.Itoa(s.TLSPort),
			"--va-dns-resolver", dnsAddr,
			// A revocation through the other node shows in this one's
			// CRL within --revocation-refresh (default 1m).
			"--revocation-refresh", "2s")
		node := &acmeServer{Kind: "certgate node", LogFile: n.LogFile}
		waitReady(t, node, exited, insecureClient(), "https://"+n.Addr+"/healthz")
	}
	start(nodes[0])
	// Node B gets node A's CA, as docs/operations.md says.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	export := exec.CommandContext(ctx, certgateBin, "ca", "export", "--data", nodes[0].Data)
	bundle, err := export.Output()
	if err != nil {
		t.Fatalf("certgate ca export: %v", err)
	}
	imp := exec.CommandContext(ctx, certgateBin, "ca", "import", "--data", nodes[1].Data)
	imp.Stdin = strings.NewReader(string(bundle))
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("certgate ca import: %v\n%s", err, out)
	}
	start(nodes[1])

	root, err := exec.CommandContext(ctx, certgateBin, "ca", "root", "--data", nodes[0].Data).Output()
	if err != nil {
		t.Fatalf("certgate ca root: %v", err)
	}
	s.RootFile = filepath.Join(dir, "root.pem")
	s.TrustFile = s.RootFile
	writeFile(t, s.RootFile, root)
	s.client = httpsClient(t, s.TrustFile)
	startRoundRobin(t, ports[0], nodes[0].Addr, nodes[1].Addr)
	s.checkDirectory(t)
	return s, nodes
}

// insecureClient is for readiness probes only.
func insecureClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // readiness probe only
	}}
}

// postsServed counts the ACME POST requests in a node's log.
func postsServed(t *testing.T, n clusterNode) int {
	t.Helper()
	b, err := os.ReadFile(n.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "method=POST path=/acme/")
}

// TestClusterClients: dehydrated (register, contact update, issue,
// revoke, deactivate) and acme-tiny get certificates from a two-node
// cluster where consecutive requests reach different nodes; lego, certbot
// and uacme (key rollovers and updates used at once on the other node)
// too, each run on whichever node its connections reach.
func TestClusterClients(t *testing.T) {
	t.Parallel()
	if serverKind != "certgate" {
		t.Skip("a certgate cluster") // the harness's pebble mode only
	}
	for _, tool := range []string{"dehydrated", "acme-tiny", "lego", "certbot", "openssl", "curl"} {
		requireTool(t, tool, tool)
	}
	s, nodes := startCluster(t)
	webroot, wellknown := newWebroot(t, t.TempDir())
	serveDir(t, s.HTTPPort, "", webroot)

	t.Run("dehydrated", func(t *testing.T) {
		base := filepath.Join(t.TempDir(), "dehydrated")
		config := func(email string) string {
			return writeDehydratedConfig(t, base, s.DirURL, s.TrustFile, fmt.Sprintf("WELLKNOWN=%q", wellknown),
				fmt.Sprintf("CONTACT_EMAIL=%q", email), `CHALLENGETYPE="http-01"`, "KEY_ALGO=secp384r1")
		}
		cfg := config("first@example.test")
		dehydrated := func(label string, args ...string) {
			t.Helper()
			run(t, cmdSpec{Name: "dehydrated " + label, Args: dehydratedArgs(cfg, args...)})
		}
		dehydrated("--register", "--register", "--accept-terms")
		config("second@example.test")
		dehydrated("--account", "--account")
		const name = "dehydrated-cluster.example.test"
		dehydrated("-c", "-c", "-d", name)
		c := checkIssued(t, s, filepath.Join(base, "certs", name, "fullchain.pem"), name)
		dehydrated("-c -x", "-c", "-x", "-d", name)
		renewed := checkIssued(t, s, filepath.Join(base, "certs", name, "fullchain.pem"), name)
		if renewed.Leaf.SerialNumber.Cmp(c.Leaf.SerialNumber) == 0 {
			t.Errorf("dehydrated -c -x left the certificate unchanged")
		}
		dehydrated("--revoke", "--revoke", filepath.Join(base, "certs", name, "cert.pem"))
		assertRevoked(t, s, renewed)
		dehydrated("--deactivate", "--deactivate")
	})

	t.Run("acme-tiny", func(t *testing.T) {
		dir := t.TempDir()
		const name = "acme-tiny-cluster.example.test"
		accountKey, csr := acmeTinyKeys(t, dir, name)
		chain := run(t, cmdSpec{Name: "acme-tiny", Env: []string{"SSL_CERT_FILE=" + s.TrustFile}, Args: []string{
			"acme-tiny", "--account-key", accountKey, "--csr", csr, "--acme-dir", wellknown,
			"--disable-check", "--directory-url", s.DirURL}})
		out := filepath.Join(dir, "chain.pem")
		writeFile(t, out, chain)
		checkIssued(t, s, out, name)
	})

	t.Run("lego", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "lego")
		const name = "lego-cluster.example.test"
		env := []string{"LEGO_CA_CERTIFICATES=" + s.TrustFile}
		dnsEnv, dnsArgs := legoExecDNS(t, filepath.Join(t.TempDir(), "dns-hook.sh"), dnsHookTXT("set-txt", "$2", "$3"))
		names := []string{name, "*." + name}
		args := append(append([]string{"--key-type", "ec256", "--domains", names[0], "--domains", names[1]}, dnsArgs...), "run")
		run(t, cmdSpec{Name: "lego run dns-01", Env: append(dnsEnv, env...), Args: legoArgs(s.DirURL, path, "e2e@example.test", args...)})
		c := checkIssued(t, s, filepath.Join(path, "certificates", name+".crt"), names...)
		run(t, cmdSpec{Name: "lego revoke", Env: env, Args: legoArgs(s.DirURL, path, "e2e@example.test",
			"--domains", names[0], "--domains", names[1], "revoke", "--reason", "4", "--keep")})
		assertRevoked(t, s, c)
	})

	t.Run("certbot", func(t *testing.T) {
		dir := t.TempDir()
		logFileOnFailure(t, certbotLog(dir), 200)
		const name = "certbot-cluster.example.test"
		certbot := func(label string, args ...string) {
			t.Helper()
			run(t, certbotCmd(label, s.TrustFile, s.DirURL, dir, args...))
		}
		certbot("certonly --webroot", "certonly", "--webroot", "-w", webroot,
			"--agree-tos", "-m", "e2e@example.test", "--no-eff-email", "-d", name)
		c := checkIssued(t, s, filepath.Join(dir, "config", "live", name, "fullchain.pem"), name)
		certbot("update_account", "update_account", "-m", "other@example.test", "--no-eff-email")
		certbot("revoke", "revoke", "--cert-path", filepath.Join(dir, "config", "live", name, "cert.pem"), "--reason", "superseded", "--no-delete-after-revoke")
		assertRevoked(t, s, c)
		certbot("unregister", "unregister")
	})

	t.Run("uacme", func(t *testing.T) {
		requireRootForUacme(t)
		requireTool(t, "uacme", "uacme")
		requireTool(t, "unshare", "util-linux")
		confdir := filepath.Join(t.TempDir(), "uacme")
		hook := filepath.Join(t.TempDir(), "http01.sh")
		writeUacmeHook(t, hook, wellknown, "", false)
		uacme := func(label string, args ...string) {
			t.Helper()
			run(t, cmdSpec{Name: "uacme " + label, Args: uacmeArgs(s.TrustFile, confdir, s.DirURL, append([]string{"-y", "-h", hook}, args...)...)})
		}
		// Each uacme run is a new connection, so to the other node than
		// the last: the account is used right after its key changed, or
		// after it was updated, on the node that did not do it.
		uacme("new", "new", "a@example.test")
		uacme("issue", "issue", "uacme-cluster.example.test")
		uacme("newkey", "newkey")
		uacme("update", "update", "b@example.test")
		// (A second newkey within the same second fails in uacme 1.7.4:
		// it names the old key's backup after the time in seconds.)
		time.Sleep(1100 * time.Millisecond)
		uacme("newkey again", "newkey")
		uacme("issue -f", "-f", "issue", "uacme-cluster.example.test")
		checkIssued(t, s, filepath.Join(confdir, "uacme-cluster.example.test", "cert.pem"), "uacme-cluster.example.test")
		uacme("deactivate", "deactivate")
	})

	for _, n := range nodes {
		if p := postsServed(t, n); p == 0 {
			t.Errorf("node %s served no ACME POST: the clients did not reach both nodes", n.Addr)
		} else {
			t.Logf("node %s served %d ACME POSTs", n.Addr, p)
		}
	}
}
