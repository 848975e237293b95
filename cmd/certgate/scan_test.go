package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/discovery"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv/tlstest"
)

// TestScanCLI: `certgate scan run` scans a TLS server on loopback and a
// closed port, prints the summary and a table marking the self-signed
// certificate as shadow; `scan list`, `scan show` and `report shadow`
// read what it recorded; a bad target is refused with one line before
// anything is scanned or stored.
func TestScanCLI(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x5ca7), Subject: pkix.Name{CommonName: "shadow.example.com"},
		DNSNames: []string{"shadow.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(30 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	port := tlstest.Serve(t, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key})
	closedPort := tlstest.ClosedPort(t)

	_, stderr, err := runCLI(t, nil, "scan", "run", "--data", data, "127.0.0.1:"+strconv.Itoa(port), "10.0.0.0/8:99999")
	if err == nil || !strings.Contains(err.Error(), `invalid scan target "10.0.0.0/8:99999": port "99999" is not a number from 1 to 65535`) {
		t.Fatalf("bad target: %v %s", err, stderr)
	}
	for flag, want := range map[string]string{
		"--ports=0":          `--ports: port "0" is not a number from 1 to 65535`,
		"--ports=":           `--ports: empty; give ports or ranges`, // scanned 443 in silence
		"--ports= ":          `--ports: empty; give ports or ranges`,
		"--concurrency=0":    "--concurrency 0: must be from 1 to 1024",
		"--max-endpoints=0":  "--max-endpoints 0: must be at least 1",
		"--timeout=0s":       "--timeout 0s: must be positive",
		"--sni=bad name":     `--sni "bad name": not a DNS name`,
		"--starttls=25":      `--starttls: invalid STARTTLS setting "25": expected PORT=PROTOCOL, e.g. 2525=smtp`,
		"--max-endpoints=10": "the targets expand to 14 endpoints (addresses × ports × SNI names), more than the limit of 10 per scan: scan fewer or smaller ranges, or raise --max-endpoints",
	} {
		if _, _, err := runCLI(t, nil, "scan", "run", "--data", data, flag, "10.0.0.0/28"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("scan run %s: %v, want %q", flag, err, want)
		}
	}
	out, _, err := runCLI(t, nil, "scan", "list", "--data", data, "--format", "json")
	if err != nil || !strings.Contains(out, `"items": []`) {
		t.Fatalf("a refused scan was recorded: %s %v", out, err)
	}

	out, _, err = runCLI(t, nil, "scan", "run", "--data", data, "--timeout", "10s", "127.0.0.1:"+strconv.Itoa(port)+","+strconv.Itoa(closedPort)+"@shadow.example.com")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "completed: 2 endpoints, 1 served a certificate, 1 failed; 1 certificates, 1 new in the inventory") ||
		!strings.Contains(lines[2], "shadow.example.com") || !strings.Contains(lines[2], "discovered  yes") || !strings.Contains(lines[2], "self-signed") {
		t.Fatalf("scan run output:\n%s", out)
	}
	id := strings.Fields(lines[0])[1]

	out, _, err = runCLI(t, nil, "scan", "show", "--data", data, "--errors", "--format", "json", id)
	if err != nil {
		t.Fatal(err)
	}
	var v discovery.ScanView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Findings) == 2 && v.Findings[0].Port == closedPort { // ordered by port
		v.Findings[0], v.Findings[1] = v.Findings[1], v.Findings[0]
	}
	if len(v.Findings) != 2 || !v.Findings[0].Shadow || v.Findings[0].SNI != "shadow.example.com" || v.Findings[1].Error != "connection refused" {
		t.Fatalf("scan show: %+v", v.Findings)
	}
	out, _, err = runCLI(t, nil, "scan", "list", "--data", data)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "completed") {
		t.Fatalf("scan list: %s %v", out, err)
	}
	out, _, err = runCLI(t, nil, "report", "shadow", "--data", data, "--format", "csv")
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, "5ca7,valid") || !strings.Contains(out, "discovered") {
		t.Fatalf("report shadow: %s %v", out, err)
	}
	// cert show lists where the certificate was seen (table and JSON).
	out, _, err = runCLI(t, nil, "cert", "show", "--data", data, "5ca7")
	if want := "seen at            127.0.0.1:" + strconv.Itoa(port) + " (SNI shadow.example.com), last seen "; err != nil || !strings.Contains(out, want) {
		t.Fatalf("cert show: %v\n%s\nwant a line with %q", err, out, want)
	}
	out, _, err = runCLI(t, nil, "cert", "show", "--data", data, "--format", "json", "5ca7")
	var shown struct {
		Serial    string                   `json:"serial"`
		Endpoints []discovery.EndpointView `json:"endpoints"`
	}
	if err != nil || json.Unmarshal([]byte(out), &shown) != nil || shown.Serial != "5ca7" || len(shown.Endpoints) != 1 ||
		shown.Endpoints[0].Port != port || shown.Endpoints[0].SNI != "shadow.example.com" || shown.Endpoints[0].LastScanID != id {
		t.Fatalf("cert show --format json: %v\n%s", err, out)
	}
	// A scan whose process died, left running: scan list marks it
	// interrupted (as serve does at its start) and shows the status, scan
	// show the reason.
	st, err := store.Open(context.Background(), server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	dead := &store.Scan{ID: store.NewID(time.Now().Add(-48 * time.Hour)), Status: store.ScanRunning, Targets: []string{"10.0.0.1"},
		StartedAt: time.Now().Add(-48 * time.Hour).UTC(), Endpoints: 1}
	err = st.CreateScan(context.Background(), dead)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, nil, "scan", "list", "--data", data)
	if err != nil || !strings.Contains(out, dead.ID) || !strings.Contains(out, "interrupted") {
		t.Fatalf("scan list of an interrupted scan: %s %v", out, err)
	}
	out, _, err = runCLI(t, nil, "scan", "show", "--data", data, dead.ID)
	if err != nil || !strings.Contains(out, "scan "+dead.ID+" interrupted") || !strings.Contains(out, discovery.InterruptedReason()) {
		t.Fatalf("scan show of an interrupted scan: %s %v", out, err)
	}
	if _, _, err := runCLI(t, nil, "scan", "show", "--data", data, "nope"); err == nil || err.Error() != `no scan "nope" (certgate scan list lists them)` {
		t.Fatalf("show of an unknown scan: %v", err)
	}
}

// TestScanChecksColumn: the CHECKS column names every fault of a finding;
// "untrusted" is left out only where another fault explains it (expired,
// unless no root is reached even inside the leaf's validity; incomplete
// chain; self-signed), not beside a name mismatch, which trust (judged
// names apart) does not include.
func TestScanChecksColumn(t *testing.T) {
	for _, tc := range []struct {
		f    discovery.FindingView
		want string
	}{
		{discovery.FindingView{Trusted: true, TLSVersion: "TLS 1.3"}, "ok (TLS 1.3)"},
		{discovery.FindingView{TLSVersion: "TLS 1.3"}, "untrusted (TLS 1.3)"},
		{discovery.FindingView{NameMismatch: true, TLSVersion: "TLS 1.3"}, "name mismatch, untrusted (TLS 1.3)"},
		{discovery.FindingView{Trusted: true, NameMismatch: true, TLSVersion: "TLS 1.2"}, "name mismatch (TLS 1.2)"},
		{discovery.FindingView{SelfSigned: true, NameMismatch: true, TLSVersion: "TLS 1.3"}, "name mismatch, self-signed (TLS 1.3)"},
		{discovery.FindingView{Expired: true, TLSVersion: "TLS 1.3", TrustError: "certificate has expired or is not yet valid: ..."}, "expired (TLS 1.3)"},
		// An expired leaf of a CA the trust store does not hold: both
		// (it read "expired" alone).
		{discovery.FindingView{Expired: true, TLSVersion: "TLS 1.3", TrustError: "certificate signed by unknown authority"}, "expired, untrusted (TLS 1.3)"},
	} {
		if got := issues(tc.f); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}

// TestScanRunStoppedExitsNonZero: a scan stopped before it ends (Ctrl-C:
// the command's context cancelled) prints what it found and fails, so a
// script does not take it for a whole scan; it exited 0.
func TestScanRunStoppedExitsNonZero(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() { // accepts and never answers the handshake
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			accepted <- struct{}{}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-accepted; cancel() }()
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetArgs([]string{"scan", "run", "--data", data, "--timeout", "30s", ln.Addr().String()})
	err = root.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "was stopped before it ended") {
		t.Fatalf("stopped scan: %v, want an error saying so\n%s", err, stdout.String())
	}
	if !strings.Contains(stdout.String(), "cancelled") {
		t.Errorf("stopped scan printed:\n%s", stdout.String())
	}
}
