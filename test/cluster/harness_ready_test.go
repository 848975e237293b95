package cluster

import (
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWaitReadyProvesItIsTheNode: a node whose address another server
// (an orphan of an earlier run) already answers /healthz on is not ready,
// though /healthz answers 200: start reports the node exiting, since it
// cannot listen there, rather than returning as if it served. A node that
// does listen is ready, the socket on its address being its own.
func TestWaitReadyProvesItIsTheNode(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	orphan := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = orphan.Serve(ln) }()
	t.Cleanup(func() { orphan.Close() })

	n := newNode(t, "late", filepath.Join(t.TempDir(), "data"), ln.Addr().String(), []string{"--hostname", "localhost"})
	err = n.start()
	if err == nil || !strings.Contains(err.Error(), "exited during start") {
		t.Fatalf("start on an address another server answers: %v, want the node's exit", err)
	}
	if own, err := listenerOwnedBy(n.cmd.Process.Pid, ln.Addr().String()); own || err != nil {
		t.Fatalf("listenerOwnedBy(the exited node) = %v, %v", own, err)
	}

	ok := newNode(t, "ok", filepath.Join(t.TempDir(), "data"), fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")),
		[]string{"--hostname", "localhost"})
	if err := ok.start(); err != nil {
		t.Fatal(err)
	}
	if own, err := listenerOwnedBy(ok.cmd.Process.Pid, ok.addr); !own || err != nil {
		t.Fatalf("listenerOwnedBy(the node serving on %s) = %v, %v", ok.addr, own, err)
	}
}
