package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"strconv"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/discovery"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/tlstest"
)

// TestScanReads: a scan of a TLS server on loopback serving a self-signed
// certificate is listed and shown (with its refused endpoint when
// errors=true), the certificate's endpoints name the server, the shadow
// report lists it, and an unknown scan is a 404 problem.
func TestScanReads(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t))
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rec := f.selfSigned(key, "shadow.example.net", store.SourceDiscovered)
	port := tlstest.Serve(t, tls.Certificate{Certificate: [][]byte{rec.DER}, PrivateKey: key})
	closedPort := tlstest.ClosedPort(t)
	clock := func() time.Time { return f.now }
	v, err := discovery.New(f.st, f.inv, clock).Run(context.Background(), &discovery.Scanner{Timeout: 10 * time.Second, NoSystemRoots: true, Now: clock},
		discovery.Options{Targets: []string{"127.0.0.1:" + strconv.Itoa(port) + "," + strconv.Itoa(closedPort)}})
	if err != nil {
		t.Fatal(err)
	}
	tok := f.tokens[auth.RoleAuditor]

	r := f.do("GET", "/api/v1/scans", tok, nil)
	if p := decode[discovery.ScanPage](t, r); r.status != 200 || len(p.Items) != 1 || p.Items[0].ID != v.ID || p.Items[0].NewCertificates != 1 {
		t.Fatalf("GET scans: %d %s", r.status, r.body)
	}
	r = f.do("GET", "/api/v1/scans/"+v.ID+"?errors=true", tok, nil)
	sv := decode[discovery.ScanView](t, r)
	if len(sv.Findings) == 2 && sv.Findings[0].Port == closedPort { // ordered by port
		sv.Findings[0], sv.Findings[1] = sv.Findings[1], sv.Findings[0]
	}
	if r.status != 200 || len(sv.Findings) != 2 || !sv.Findings[0].Shadow || sv.Findings[0].Fingerprint != rec.FingerprintSHA256 ||
		sv.Findings[1].Error != "connection refused" {
		t.Fatalf("GET scan: %d %s", r.status, r.body)
	}
	r = f.do("GET", "/api/v1/scans/"+v.ID, tok, nil)
	if sv := decode[discovery.ScanView](t, r); len(sv.Findings) != 1 {
		t.Fatalf("GET scan without errors: %s", r.body)
	}
	r = f.do("GET", "/api/v1/certificates/"+rec.FingerprintSHA256+"/endpoints", tok, nil)
	eps := decode[struct{ Items []discovery.EndpointView }](t, r)
	if r.status != 200 || len(eps.Items) != 1 || eps.Items[0].Port != port || !eps.Items[0].FirstSeen.Equal(f.now) {
		t.Fatalf("GET endpoints: %d %s", r.status, r.body)
	}
	r = f.do("GET", "/api/v1/reports/shadow", tok, nil)
	if p := decode[inventory.Page](t, r); r.status != 200 || len(p.Items) != 1 || p.Items[0].FingerprintSHA256 != rec.FingerprintSHA256 {
		t.Fatalf("GET shadow report: %d %s", r.status, r.body)
	}
	if err := isProblem(f.do("GET", "/api/v1/scans/nope", tok, nil), 404); err != nil {
		t.Errorf("unknown scan: %v", err)
	}
	if err := isProblem(f.do("GET", "/api/v1/scans", "", nil), 401); err != nil {
		t.Errorf("no token: %v", err)
	}
}

// scan stores a completed scan (no network) that found a new discovered
// certificate on 127.0.0.1:443 and a refused 127.0.0.1:8443, and returns
// the scan's ID and the certificate's serial.
func (f *fixture) scan() (string, string) {
	f.t.Helper()
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := f.selfSigned(key, "found.example.net", store.SourceDiscovered)
	c.CreatedAt = f.now
	if err := f.st.InsertCertificates(ctx, []*store.Certificate{c}); err != nil {
		f.t.Fatal(err)
	}
	sc := &store.Scan{ID: store.NewID(f.now), Status: store.ScanRunning, Targets: []string{"127.0.0.1:443,8443"}, StartedAt: f.now, Endpoints: 2}
	if err := f.st.CreateScan(ctx, sc); err != nil {
		f.t.Fatal(err)
	}
	sc.Status, sc.FinishedAt, sc.Served, sc.Failed, sc.Certificates, sc.NewCertificates = store.ScanCompleted, f.now, 1, 1, 1, 1
	err := f.st.FinishScan(ctx, sc, []*store.Finding{
		{Address: "127.0.0.1", Port: 443, Fingerprint: c.FingerprintSHA256, TLSVersion: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256",
			TrustError: "certificate signed by unknown authority", SelfSigned: true, SeenAt: f.now},
		{Address: "127.0.0.1", Port: 8443, Error: "connection refused", SeenAt: f.now},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return sc.ID, c.Serial
}
