package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Package-wide state set up once by TestMain.
var (
	// serverKind is "certgate" (default) or "pebble" (harness development only).
	serverKind = "certgate"
	// certgateBin is the path of the certgate binary built by TestMain.
	certgateBin string
	// dnsAddr is the pebble-challtestsrv DNS server (host:port) that answers
	// every A query with 127.0.0.1 and serves the TXT records set by tests.
	dnsAddr string
	// dnsMgmtURL is the pebble-challtestsrv management API base URL.
	dnsMgmtURL string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if v := os.Getenv("CERTGATE_E2E_SERVER"); v != "" {
		serverKind = v
	}
	if serverKind != "certgate" && serverKind != "pebble" {
		fmt.Fprintf(os.Stderr, "e2e: CERTGATE_E2E_SERVER=%q: want certgate or pebble\n", serverKind)
		return 1
	}
	tmp, err := os.MkdirTemp("", "certgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	if serverKind == "certgate" {
		certgateBin = filepath.Join(tmp, "certgate")
		if err := buildCertgate(certgateBin); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
	} else {
		fmt.Fprintln(os.Stderr, "e2e: CERTGATE_E2E_SERVER=pebble: testing the harness against Debian's pebble, NOT certgate")
		if _, err := exec.LookPath("pebble"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: pebble not found in PATH: install the Debian package \"pebble\"")
			return 1
		}
	}

	stop, err := startChallTestSrv(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer stop()
	return m.Run()
}

// buildCertgate builds ./cmd/certgate from the module root into out.
func buildCertgate(out string) error {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// -pgo=off: without it default.pgo compiles every package once more (the
	// tests' other builds and go vet's do not use the profile), about a
	// minute of a 2-core CI run, for a speed no test measures.
	cmd := exec.CommandContext(ctx, "go", "build", "-pgo=off", "-o", out, "./cmd/certgate")
	cmd.Dir = root
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build ./cmd/certgate: %v\n%s", err, b)
	}
	return nil
}

// startChallTestSrv starts Debian's pebble-challtestsrv as the DNS resolver
// for the validation authority and for lego's dns-01 checks. Only its DNS
// server and management API are enabled.
func startChallTestSrv(tmp string) (func(), error) {
	if _, err := exec.LookPath("pebble-challtestsrv"); err != nil {
		return nil, fmt.Errorf("pebble-challtestsrv not found in PATH: install the Debian package \"pebble\"")
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dnsPort, err := freePort()
		if err != nil {
			return nil, err
		}
		mgmtPort, err := freePort()
		if err != nil {
			return nil, err
		}
		dns := "127.0.0.1:" + strconv.Itoa(dnsPort)
		mgmt := "127.0.0.1:" + strconv.Itoa(mgmtPort)
		logf, err := os.Create(filepath.Join(tmp, fmt.Sprintf("challtestsrv-%d.log", attempt)))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command("pebble-challtestsrv",
			"-defaultIPv4", "127.0.0.1",
			"-defaultIPv6", "",
			"-dns01", dns,
			"-management", mgmt,
			"-http01", "",
			"-https01", "",
			"-tlsalpn01", "",
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			return nil, fmt.Errorf("start pebble-challtestsrv: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = cmd.Process.Kill()
			<-exited
			logf.Close()
		}
		// The management API answers 404 on / once it listens.
		deadline := time.Now().Add(10 * time.Second)
		ready := false
		for time.Now().Before(deadline) && !ready {
			select {
			case <-exited:
				deadline = time.Now()
				continue
			default:
			}
			resp, err := http.Get("http://" + mgmt + "/")
			if err == nil {
				resp.Body.Close()
				ready = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if ready {
			dnsAddr = dns
			dnsMgmtURL = "http://" + mgmt
			return stop, nil
		}
		stop()
		b, _ := os.ReadFile(logf.Name())
		lastErr = fmt.Errorf("pebble-challtestsrv did not become ready:\n%s", b)
	}
	return nil, lastErr
}
