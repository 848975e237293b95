package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// certgateBin is the certgate binary built once by TestMain.
var certgateBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "certgate-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	certgateBin = filepath.Join(tmp, "certgate")
	_, file, _, _ := runtime.Caller(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// -pgo=off: without it default.pgo compiles every package once more (the
	// tests' other builds and go vet's do not use the profile), about a
	// minute of a 2-core CI run, for a speed no test measures.
	cmd := exec.CommandContext(ctx, "go", "build", "-pgo=off", "-o", certgateBin, "./cmd/certgate")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "cluster: go build ./cmd/certgate: %v\n%s", err, b)
		return 1
	}
	return m.Run()
}

// freePort returns a TCP port that is free on ip (a loopback address).
func freePort(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v (Linux routes all of 127.0.0.0/8 to lo)", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runCLI runs a certgate subcommand with stdin and returns its stdout.
func runCLI(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, certgateBin, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("certgate %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes()
}

// copyCA gives the data directory to the CA of the data directory from,
// the documented way: certgate ca export --data FROM | certgate ca import --data TO.
func copyCA(t *testing.T, from, to string) {
	t.Helper()
	bundle := runCLI(t, nil, "ca", "export", "--data", from)
	runCLI(t, bundle, "ca", "import", "--data", to)
}

// node is one `certgate serve` process, started again with the same flags
// after a kill.
type node struct {
	t      *testing.T
	name   string
	addr   string // host:port it listens on
	args   []string
	logDir string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current process has exited
	runs int
	logs []string
}

func newNode(t *testing.T, name, data, addr string, common []string) *node {
	logDir := t.TempDir()
	if d := os.Getenv("CERTGATE_CLUSTER_LOGS"); d != "" {
		// Keep the nodes' logs for inspection.
		logDir = filepath.Join(d, t.Name())
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n := &node{t: t, name: name, addr: addr, logDir: logDir,
		args: append([]string{"serve", "--data", data, "--listen", addr}, common...)}
	t.Cleanup(n.stop)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range n.logs {
				t.Logf("%s:\n%s", l, tail(l, 40))
				if e := problems(l, 40); e != "" {
					t.Logf("%s, every WARN and ERROR line:\n%s", l, e)
				}
			}
		}
	})
	return n
}

// start starts the process and waits until it serves.
func (n *node) start() error {
	n.mu.Lock()
	n.runs++
	logPath := filepath.Join(n.logDir, fmt.Sprintf("%s-run%d.log", n.name, n.runs))
	n.logs = append(n.logs, logPath)
	f, err := os.Create(logPath)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	cmd := exec.Command(certgateBin, n.args...)
	cmd.Env = []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CERTGATE_") { // only the flags configure the nodes
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		n.mu.Unlock()
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	return n.waitReady(done, logPath)
}

// waitReady polls the plain-HTTP /healthz of the node until it answers
// and the socket listening on the node's address is this process's
// (listenerOwnedBy): an older server left running on the address (an
// orphan of an earlier run) also answers /healthz, while this process,
// which cannot listen there, exits.
func (n *node) waitReady(done chan struct{}, logPath string) error {
	n.mu.Lock()
	pid := n.cmd.Process.Pid
	n.mu.Unlock()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	var other error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("%s exited during start:\n%s", n.name, tail(logPath, 30))
		default:
		}
		res, err := hc.Get("http://" + n.addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				own, err := listenerOwnedBy(pid, n.addr)
				if err != nil {
					return err
				}
				if own {
					return nil
				}
				other = fmt.Errorf("%s (pid %d): another process answers /healthz on %s", n.name, pid, n.addr)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if other != nil {
		return fmt.Errorf("%w:\n%s", other, tail(logPath, 30))
	}
	return fmt.Errorf("%s did not answer /healthz on %s within 30s:\n%s", n.name, n.addr, tail(logPath, 30))
}

// listenerOwnedBy reports whether a TCP socket listening on addr (its IP
// or the unspecified address, and its port) is an open file of process
// pid: the sockets of /proc/net/tcp and /proc/net/tcp6 in state LISTEN
// against the socket inodes of /proc/PID/fd.
func listenerOwnedBy(pid int, addr string) (bool, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	ip := net.ParseIP(host)
	port, err := strconv.ParseUint(portStr, 10, 16)
	if ip == nil || err != nil {
		return false, fmt.Errorf("listenerOwnedBy: %q is not IP:PORT", addr)
	}
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if errors.Is(err, os.ErrNotExist) && table == "/proc/net/tcp6" {
			continue // no IPv6
		}
		if err != nil {
			return false, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: TCP_LISTEN
				continue
			}
			lip, lport, ok := procAddr(f[1])
			if ok && lport == uint16(port) && (lip.Equal(ip) || lip.IsUnspecified()) {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return false, nil
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false, nil // the process is gone: not its socket
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && inodes[target] {
			return true, nil
		}
	}
	return false, nil
}

// procAddr decodes a local_address of /proc/net/tcp{,6}: the address in
// hexadecimal 32-bit words of host (little-endian) byte order, ":", the
// port in hexadecimal.
func procAddr(s string) (net.IP, uint16, bool) {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	if !ok || err != nil || (len(h) != 8 && len(h) != 32) {
		return nil, 0, false
	}
	ip := make(net.IP, len(h)/2)
	for w := 0; w < len(h)/8; w++ {
		v, err := strconv.ParseUint(h[8*w:8*w+8], 16, 32)
		if err != nil {
			return nil, 0, false
		}
		ip[4*w], ip[4*w+1], ip[4*w+2], ip[4*w+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	return ip, uint16(port), true
}

// kill ends the process with SIGKILL (no shutdown of any kind) and waits
// until it is gone.
func (n *node) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop shuts the process down gracefully (SIGTERM), killing it after 15 s.
func (n *node) stop() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		n.t.Errorf("%s did not stop within 15 s of SIGTERM; killing it", n.name)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// problems returns the first n WARN and ERROR lines of the log at path
// ("" when there are none): the cause of a failed flow is often further
// back than tail shows.
func problems(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			if len(out) == n {
				out = append(out, "... (more)")
				break
			}
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// proxy is a TCP round-robin load balancer: each new connection goes to
// the next backend that accepts it (dead ones are skipped). Before piping,
// it writes one byte to the client: the index of the backend chosen, so
// that the test's dialer knows which node serves each request (a test-only
// extension; the TLS stream that follows is untouched).
type proxy struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint64
	served   []atomic.Int64 // connections per backend
	refused  atomic.Int64   // connections no backend accepted
	wg       sync.WaitGroup
}

func startProxy(t *testing.T, backends []string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backends: backends, served: make([]atomic.Int64, len(backends))}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.handle(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) handle(c net.Conn) {
	defer c.Close()
	first := p.next.Add(1) - 1
	for i := range uint64(len(p.backends)) {
		idx := int((first + i) % uint64(len(p.backends)))
		b, err := net.DialTimeout("tcp", p.backends[idx], time.Second)
		if err != nil {
			continue
		}
		defer b.Close()
		p.served[idx].Add(1)
		if _, err := c.Write([]byte{byte(idx)}); err != nil {
			return
		}
		go func() {
			_, _ = io.Copy(b, c)
			if tc, ok := b.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
		}()
		_, _ = io.Copy(c, b)
		return
	}
	p.refused.Add(1)
}

// nodeConn is a connection through the proxy, with the backend it reached.
type nodeConn struct {
	net.Conn
	node int
}

// dialVia returns a DialContext that connects every request to the proxy
// at addr (whatever the URL's host) and reads the proxy's backend byte.
func dialVia(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			c.Close()
			return nil, fmt.Errorf("proxy found no live node: %w", err)
		}
		_ = c.SetReadDeadline(time.Time{})
		return &nodeConn{Conn: c, node: int(b[0])}, nil
	}
}

// responder answers http-01 challenges (RFC 8555 §8.3) for the nodes'
// validation authorities.
type responder struct {
	mu     sync.RWMutex
	tokens map[string]string
	port   int
}

func startResponder(t *testing.T) *responder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &responder{tokens: map[string]string{}, port: ln.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("http-01 responder: %v", err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	token, ok := strings.CutPrefix(req.URL.Path, "/.well-known/acme-challenge/")
	r.mu.RLock()
	ka, found := r.tokens[token]
	r.mu.RUnlock()
	if !ok || !found {
		http.NotFound(w, req)
		return
	}
	io.WriteString(w, ka)
}

func (r *responder) set(token, ka string) {
	r.mu.Lock()
	r.tokens[token] = ka
	r.mu.Unlock()
}

func (r *responder) remove(token string) {
	r.mu.Lock()
	delete(r.tokens, token)
	r.mu.Unlock()
}

func itoa(n int) string { return strconv.Itoa(n) }
