package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Wildcard issuance end to end with real DNS (issue 6): Debian's bind9 is
// the authoritative server for example.test, the ACME clients publish their
// dns-01 TXT records in it with RFC 2136 dynamic updates signed with TSIG,
// and certgate's validation authority resolves the challenges through it
// (--va-dns-resolver). Each client gets its own named and its own certgate,
// so both can ask for the same names at the same time.

// bind9Names are the names both clients obtain.
var bind9Names = []string{"*.example.test", "example.test"}

// TestBind9Lego: lego's rfc2136 DNS provider obtains *.example.test and
// example.test.
func TestBind9Lego(t *testing.T) {
	t.Parallel()
	requireTool(t, "lego", "lego")
	requireTool(t, "openssl", "openssl")
	ns := startBind9(t)
	s := startCertgateWithResolver(t, ns.Addr)
	// lego looks names up (the zone's SOA, and the TXT record once before
	// its propagation check) through a relay, so that named's query log
	// tells its queries from certgate's.
	relay := startDNSRelay(t, ns.Addr)
	path := filepath.Join(t.TempDir(), "lego")
	run(t, cmdSpec{Name: "lego run dns-01 rfc2136", Env: []string{
		"LEGO_CA_CERTIFICATES=" + s.TrustFile,
		"RFC2136_NAMESERVER=" + ns.Addr,
		"RFC2136_TSIG_KEY=" + ns.KeyName,
		"RFC2136_TSIG_SECRET=" + ns.Secret,
		"RFC2136_TSIG_ALGORITHM=hmac-sha256.",
		"RFC2136_DNS_TIMEOUT=10",
		"RFC2136_PROPAGATION_TIMEOUT=30",
		"RFC2136_POLLING_INTERVAL=1",
		"RFC2136_SEQUENCE_INTERVAL=1",
		"RFC2136_TTL=10",
	}, Args: []string{
		"lego", "--server", s.DirURL, "--path", path,
		"--accept-tos", "--email", "e2e@example.test",
		"--key-type", "ec256", "--domains", bind9Names[0], "--domains", bind9Names[1],
		// lego's full propagation check would ask the zone's NS on port
		// 53, so it is off: the updates are synchronous anyway.
		"--dns", "rfc2136", "--dns.resolvers", relay.Addr, "--dns.disable-cp",
		"run",
	}})
	checkIssued(t, s, filepath.Join(path, "certificates", "_.example.test.crt"), bind9Names...)
	ns.checkUsed(t, relay.Port)
}

// TestBind9Certbot: certbot's dns-rfc2136 plugin (Debian's
// python3-certbot-dns-rfc2136) obtains *.example.test and example.test.
func TestBind9Certbot(t *testing.T) {
	t.Parallel()
	requireTool(t, "certbot", "certbot")
	requireTool(t, "openssl", "openssl")
	requireCertbotPlugin(t, "dns-rfc2136", "python3-certbot-dns-rfc2136")
	ns := startBind9(t)
	s := startCertgateWithResolver(t, ns.Addr)
	dir := t.TempDir()
	creds := filepath.Join(dir, "rfc2136.ini")
	writeFile(t, creds, fmt.Appendf(nil, `dns_rfc2136_server = 127.0.0.1
dns_rfc2136_port = %d
dns_rfc2136_name = %s
dns_rfc2136_secret = %s
dns_rfc2136_algorithm = HMAC-SHA256
`, ns.Port, ns.KeyName, ns.Secret))
	// certbot warns about credentials files that others can read.
	if err := os.Chmod(creds, 0o600); err != nil {
		t.Fatal(err)
	}
	logFileOnFailure(t, filepath.Join(dir, "logs", "letsencrypt.log"), 300)
	const lineage = "bind9-wildcard"
	run(t, cmdSpec{Name: "certbot certonly --dns-rfc2136", Env: []string{
		"REQUESTS_CA_BUNDLE=" + s.TrustFile,
	}, Args: []string{
		"certbot", "certonly",
		"--dns-rfc2136", "--dns-rfc2136-credentials", creds,
		"--dns-rfc2136-propagation-seconds", "1",
		"--cert-name", lineage,
		"-d", bind9Names[0], "-d", bind9Names[1],
		"--agree-tos", "--register-unsafely-without-email",
		"--server", s.DirURL,
		"--config-dir", filepath.Join(dir, "config"),
		"--work-dir", filepath.Join(dir, "work"),
		"--logs-dir", filepath.Join(dir, "logs"),
		"--non-interactive",
	}})
	live := filepath.Join(dir, "config", "live", lineage)
	checkIssued(t, s, filepath.Join(live, "fullchain.pem"), bind9Names...)
	checkLeafWithChain(t, s, filepath.Join(live, "cert.pem"), filepath.Join(live, "chain.pem"), bind9Names...)
	// certbot's plugin asks named only for SOA records (signed).
	ns.checkUsed(t)
}

// requireCertbotPlugin fails the test unless certbot lists the plugin,
// naming the Debian package that provides it.
func requireCertbotPlugin(t *testing.T, plugin, debianPackage string) {
	t.Helper()
	dir := t.TempDir()
	out, log, err := runErr(t, cmdSpec{Name: "certbot plugins", Args: []string{
		"certbot", "plugins",
		"--config-dir", filepath.Join(dir, "config"),
		"--work-dir", filepath.Join(dir, "work"),
		"--logs-dir", filepath.Join(dir, "logs"),
		"--non-interactive",
	}})
	if err != nil {
		t.Fatalf("certbot plugins: %v\n%s", err, log)
	}
	if !regexp.MustCompile(`(?m)^\* ` + regexp.QuoteMeta(plugin) + `$`).Match(out) {
		t.Fatalf("certbot has no %s plugin: install the Debian package %q (apt-get install %s)", plugin, debianPackage, debianPackage)
	}
}

// bind9 is one named serving example.test on 127.0.0.1:Port (UDP and TCP),
// which accepts dynamic updates signed with the TSIG key KeyName/Secret.
type bind9 struct {
	Addr    string // 127.0.0.1:Port
	Port    int
	KeyName string // TSIG key name, fully qualified
	Secret  string // base64 hmac-sha256 secret
	LogFile string // named -g output, query log included
}

const bind9Key = "certgate-test."

// startBind9 starts Debian's named in the foreground for this test with the
// zones test. (delegating example.test, so that lookups climbing the tree,
// like CAA, get authoritative answers) and example.test, and stops it when
// the test ends.
func startBind9(t *testing.T) *bind9 {
	t.Helper()
	// named lives in /usr/sbin, which is not in every user's PATH.
	named, err := exec.LookPath("named")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/named"); serr == nil {
			named = "/usr/sbin/named"
		} else {
			named = requireTool(t, "named", "bind9")
		}
	}
	dir := t.TempDir()
	key := make([]byte, 32)
	if _, err = rand.Read(key); err != nil {
		t.Fatal(err)
	}
	ns := &bind9{KeyName: bind9Key, Secret: base64.StdEncoding.EncodeToString(key)}
	// A port can be taken between freePorts and named's bind: retry then.
	for attempt := 1; ; attempt++ {
		ns.Port = freePorts(t, 1)[0]
		ns.Addr = "127.0.0.1:" + strconv.Itoa(ns.Port)
		ns.LogFile = filepath.Join(dir, fmt.Sprintf("named-%d.log", attempt))
		conf := ns.writeConfig(t, filepath.Join(dir, fmt.Sprintf("run-%d", attempt)))
		err := ns.start(t, named, conf)
		if err == nil {
			return ns
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address in use") {
			t.Fatalf("named: %v", err)
		}
		t.Logf("named (attempt %d): %v; retrying on another port", attempt, err)
	}
}

// writeConfig writes named.conf and the zone files into dir (named's working
// directory, where it also writes the zone journals) and returns the
// named.conf path.
func (ns *bind9) writeConfig(t *testing.T, dir string) string {
	t.Helper()
	// Negative-answer TTL (SOA minimum) of 1s: a TXT lookup made before an
	// update is not remembered by anyone for long.
	writeFile(t, filepath.Join(dir, "test.zone"), []byte(`$TTL 60
@           IN SOA ns.test. hostmaster.example.test. 1 60 60 3600 1
@           IN NS  ns.test.
ns          IN A   127.0.0.1
example     IN NS  ns.example.test.
ns.example  IN A   127.0.0.1
`))
	writeFile(t, filepath.Join(dir, "example.test.zone"), []byte(`$TTL 60
@           IN SOA ns.example.test. hostmaster.example.test. 1 60 60 3600 1
@           IN NS  ns.example.test.
ns          IN A   127.0.0.1
@           IN A   127.0.0.1
*           IN A   127.0.0.1
`))
	conf := filepath.Join(dir, "named.conf")
	// controls {} keeps named off the rndc port (953), which Debian's
	// /etc/bind/rndc.key would otherwise enable; querylog puts every query
	// into the -g output, which checkUsed reads.
	writeFile(t, conf, fmt.Appendf(nil, `options {
	directory %[1]q;
	pid-file %[2]q;
	session-keyfile %[3]q;
	managed-keys-directory %[1]q;
	listen-on port %[4]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	allow-query { 127.0.0.1; };
	allow-transfer { none; };
	notify no;
	dnssec-validation no;
	empty-zones-enable no;
	querylog yes;
};
controls { };
key %[5]q {
	algorithm hmac-sha256;
	secret %[6]q;
};
zone "test" {
	type primary;
	file "test.zone";
};
zone "example.test" {
	type primary;
	file "example.test.zone";
	allow-update { key %[5]q; };
};
`, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), ns.Port, ns.KeyName, ns.Secret))
	return conf
}

// start runs named -g (foreground, log to stderr) and waits until it answers
// over UDP and TCP. On failure named is stopped and the error holds its log.
func (ns *bind9) start(t *testing.T, named, conf string) error {
	t.Helper()
	// -4: IPv4 only; -n 1: one worker thread is plenty; as root, -u root
	// keeps named from switching to the bind user, which could not write
	// the journal in the test's directory.
	args := []string{"-g", "-4", "-n", "1", "-c", conf}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	// Stopped, its log shown if the test fails, when the test ends.
	exited, stop := startStoppableDaemon(t, "named", ns.LogFile, nil, named, args...)

	deadline := time.Now().Add(15 * time.Second)
	var last error
	for {
		select {
		case <-exited:
			return fmt.Errorf("named exited at startup:\n%s", tailFile(ns.LogFile, 60))
		default:
		}
		last = nil
		for _, network := range []string{"udp", "tcp"} {
			if _, err := ns.query(network, "example.test.", dns.TypeSOA); err != nil {
				last = err
				break
			}
		}
		if last == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("named not answering on %s after 15s (last: %v):\n%s", ns.Addr, last, tailFile(ns.LogFile, 60))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// query asks named directly and requires an authoritative NOERROR answer.
func (ns *bind9) query(network, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, ns.Addr)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
		return r, fmt.Errorf("%s %s over %s: rcode %s, aa=%v", name, dns.TypeToString[qtype], network, dns.RcodeToString[r.Rcode], r.Authoritative)
	}
	return r, nil
}

// checkUsed checks named's log: the client added the challenge TXT records
// with updates signed by the TSIG key, certgate asked named for them, and
// the client removed them again. TXT queries from the source ports in
// notCertgate (the client's relay) are not counted as certgate's.
func (ns *bind9) checkUsed(t *testing.T, notCertgate ...int) {
	t.Helper()
	log := string(readFile(t, ns.LogFile))
	// named 9.18: "client @0x... 127.0.0.1#PORT/key certgate-test: signer
	// "certgate-test" approved", then "... updating zone 'example.test/IN':
	// adding an RR at '_acme-challenge.example.test' TXT "..."".
	approved := regexp.MustCompile(`(?m)/key ` + regexp.QuoteMeta(strings.TrimSuffix(ns.KeyName, ".")) + `: signer "` + regexp.QuoteMeta(strings.TrimSuffix(ns.KeyName, ".")) + `" approved$`)
	if !approved.MatchString(log) {
		t.Errorf("named log has no dynamic update approved for TSIG key %s", ns.KeyName)
	}
	added := regexp.MustCompile(`(?mi)updating zone 'example\.test/IN': adding an RR at '_acme-challenge\.example\.test' TXT`)
	if n := len(added.FindAllString(log, -1)); n < 2 {
		t.Errorf("named log shows %d TXT records added at _acme-challenge.example.test, want 2 (one per name)", n)
	}
	// "client @0x... 127.0.0.1#PORT (_acme-challenge.example.test): query:
	// _acme-challenge.example.test IN TXT +E(0) (127.0.0.1)"
	queried := regexp.MustCompile(`(?mi)^.* client \S+ 127\.0\.0\.1#(\d+) \S+: query: _acme-challenge\.example\.test IN TXT `)
	n := 0
	for _, m := range queried.FindAllStringSubmatch(log, -1) {
		port, _ := strconv.Atoi(m[1])
		if !slices.Contains(notCertgate, port) {
			n++
		}
	}
	if n == 0 {
		t.Errorf("named was never asked by certgate for the TXT records at _acme-challenge.example.test: certgate did not use it as its resolver")
	} else {
		t.Logf("certgate asked named %d times for the TXT records at _acme-challenge.example.test", n)
	}
	// Cleanup deleted the records.
	r, err := ns.query("udp", "_acme-challenge.example.test.", dns.TypeTXT)
	if err != nil {
		t.Errorf("after issuance: %v", err)
	} else if len(r.Answer) != 0 {
		t.Errorf("after issuance the client left TXT records in named: %v", r.Answer)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// dnsRelay forwards the DNS queries it receives (UDP and TCP) to upstream,
// all from one UDP socket, so that upstream sees them from a single source
// port.
type dnsRelay struct {
	Addr string // where it listens, 127.0.0.1:port
	Port int    // its source port towards upstream
}

func startDNSRelay(t *testing.T, upstream string) *dnsRelay {
	t.Helper()
	up, err := net.Dial("udp", upstream)
	if err != nil {
		t.Fatal(err)
	}
	upConn := &dns.Conn{Conn: up}
	var mu sync.Mutex
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		mu.Lock()
		defer mu.Unlock()
		_ = up.SetDeadline(time.Now().Add(5 * time.Second))
		if err := upConn.WriteMsg(q); err != nil {
			return
		}
		for {
			r, err := upConn.ReadMsg()
			if err != nil {
				return // the client times out
			}
			if r.Id == q.Id {
				_ = w.WriteMsg(r)
				return
			}
		}
	})
	// Listen on a port the kernel picks (UDP), then on the same port for
	// TCP, rather than on one from freePorts that a DNS client's ephemeral
	// socket could take in the meantime.
	var pc net.PacketConn
	var l net.Listener
	for attempt := 0; l == nil; attempt++ {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			pc.Close()
			if attempt == 10 {
				t.Fatalf("DNS relay: %v", err)
			}
		}
	}
	r := &dnsRelay{
		Addr: pc.LocalAddr().String(),
		Port: up.LocalAddr().(*net.UDPAddr).Port,
	}
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: handler},
		{Listener: l, Handler: handler},
	} {
		started := make(chan error, 1)
		srv.NotifyStartedFunc = func() { started <- nil }
		go func() { started <- srv.ActivateAndServe() }()
		if err := <-started; err != nil {
			t.Fatalf("DNS relay on %s: %v", r.Addr, err)
		}
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	t.Cleanup(func() { up.Close() })
	return r
}
