package discovery_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/discovery"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serialN atomic.Int64

// mint signs tmpl with parent/parentKey (self-signed when parent is nil).
func mint(t *testing.T, tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(1000 + serialN.Add(1))
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caTemplate(cn string, now time.Time) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
}

func leafTemplate(name string, nb, na time.Time) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
}

// tlsCert is a served chain (leaf first) with the leaf's key.
func tlsCert(key crypto.Signer, chain ...*x509.Certificate) *tls.Certificate {
	c := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// serve runs a TLS server on addr (host:0 or host:port) whose
// certificate for each handshake is pick(SNI name); it returns the port.
func (l *lab) serve(addr string, pick func(sni string) *tls.Certificate) int {
	t := l.t
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tl := tls.NewListener(ln, &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		return pick(h.ServerName), nil
	}})
	t.Cleanup(func() { tl.Close() })
	l.mu.Lock()
	l.lns[ln.Addr().String()] = tl
	l.mu.Unlock()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// serveText runs a plain TCP server on addr that answers anything with
// an HTTP error: not TLS.
func serveText(t *testing.T, addr string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort returns a port of addr's host that nothing listens on.
func closedPort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

func fixed(c *tls.Certificate) func(string) *tls.Certificate {
	return func(string) *tls.Certificate { return c }
}

func hp(host string, port int) string { return host + ":" + strconv.Itoa(port) }

// byEndpoint indexes a scan's findings by "address:port/sni".
func byEndpoint(v *discovery.ScanView) map[string]discovery.FindingView {
	m := map[string]discovery.FindingView{}
	for _, f := range v.Findings {
		m[hp(f.Address, f.Port)+"/"+f.SNI] = f
	}
	return m
}

// TestScan scans real TLS servers on loopback and checks each finding,
// the shadow flag, the inventory records, deduplication across rescans
// and the endpoints' first and last seen, on both engines.
func TestScan(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		base := time.Now().UTC().Truncate(time.Second)
		clk := &clock{t: base}

		// certgate's CA, and a certificate it issued (in the inventory as issued).
		ca, err := local.LoadOrCreate(t.TempDir(), local.Options{})
		if err != nil {
			t.Fatal(err)
		}
		issuedKey := newKey(t)
		issuedDER, err := ca.SignLeaf(ctx, local.LeafRequest{Serial: big.NewInt(77001), PublicKey: &issuedKey.PublicKey,
			DNSNames: []string{"issued.test"}, NotBefore: base.Add(-time.Hour), NotAfter: base.Add(90 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		issued, _ := x509.ParseCertificate(issuedDER)
		rec := inventory.Record(issued, "", store.SourceIssued)
		rec.CreatedAt = base
		if err := st.InsertCertificates(ctx, []*store.Certificate{rec}); err != nil {
			t.Fatal(err)
		}
		// Another of certgate's CA, imported, served without its intermediate.
		impKey := newKey(t)
		impDER, err := ca.SignLeaf(ctx, local.LeafRequest{Serial: big.NewInt(77002), PublicKey: &impKey.PublicKey,
			DNSNames: []string{"imported.test"}, NotBefore: base.Add(-time.Hour), NotAfter: base.Add(90 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		imp, _ := x509.ParseCertificate(impDER)
		inv := inventory.New(st, clk.now)
		if _, err := inv.ImportCertificates(ctx, []*x509.Certificate{imp}); err != nil {
			t.Fatal(err)
		}

		// A foreign CA (root and intermediate) made here, unknown to certgate.
		fRootKey, fInterKey := newKey(t), newKey(t)
		fRoot := mint(t, caTemplate("Foreign Root", base), fRootKey, nil, nil)
		fInter := mint(t, caTemplate("Foreign Issuing CA", base), fInterKey, fRoot, fRootKey)
		leaf := func(name string, nb, na time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
			k := newKey(t)
			return mint(t, leafTemplate(name, nb, na), k, fInter, fInterKey), k
		}
		foreign, foreignKey := leaf("foreign.test", base.Add(-time.Hour), base.Add(30*24*time.Hour))
		expiredKey := newKey(t)
		expired := mint(t, leafTemplate("expired.test", base.Add(-48*time.Hour), base.Add(-24*time.Hour)), expiredKey, nil, nil)
		sniA, sniAKey := leaf("a.test", base.Add(-time.Hour), base.Add(10*24*time.Hour))
		sniB, sniBKey := leaf("b.test", base.Add(-time.Hour), base.Add(20*24*time.Hour))
		deflt, defltKey := leaf("default.test", base.Add(-time.Hour), base.Add(40*24*time.Hour))

		l := &lab{t: t, lns: map[string]net.Listener{}}
		issuedChain := tlsCert(issuedKey, issued, ca.Intermediate())
		foreignChain := tlsCert(foreignKey, foreign, fInter)
		// The same port on 127.0.0.1 and 127.0.0.2 (the CIDR scan).
		pIncomplete := l.serve("127.0.0.3:0", fixed(tlsCert(impKey, imp)))
		pExpired := l.serve("127.0.0.3:0", fixed(tlsCert(expiredKey, expired)))
		var rotated atomic.Bool // the SNI server's default certificate changes later
		rotatedCert, rotatedKey := leaf("default.test", base.Add(-time.Hour), base.Add(50*24*time.Hour))
		pSNI := l.serve("127.0.0.4:0", func(sni string) *tls.Certificate {
			switch {
			case sni == "a.test":
				return tlsCert(sniAKey, sniA, fInter)
			case sni == "b.test":
				return tlsCert(sniBKey, sniB, fInter)
			case rotated.Load():
				return tlsCert(rotatedKey, rotatedCert, fInter)
			}
			return tlsCert(defltKey, deflt, fInter)
		})
		pText := serveText(t, "127.0.0.5:0")
		pClosed := closedPort(t, "127.0.0.5")
		// Last: a port free on all of 127.0.0.1-6 and none of the above.
		pCIDR := l.samePort([]string{"127.0.0.1", "127.0.0.2"}, []func(string) *tls.Certificate{fixed(issuedChain), fixed(foreignChain)},
			[]string{"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"}, pClosed)

		svc := discovery.New(st, inv, clk.now)
		sc := &discovery.Scanner{Concurrency: 4, Timeout: 10 * time.Second, Roots: []*x509.Certificate{ca.Root()},
			Intermediates: []*x509.Certificate{ca.Intermediate()}, NoSystemRoots: true, Now: clk.now}
		targets := []string{
			"127.0.0.0/29:" + strconv.Itoa(pCIDR),
			hp("127.0.0.3", pIncomplete) + "," + strconv.Itoa(pExpired),
			hp("127.0.0.4", pSNI),
			hp("127.0.0.4", pSNI) + "@a.test,b.test",
			hp("127.0.0.5", pText),
			hp("127.0.0.5", pClosed),
		}
		var progress []int
		v, err := svc.Run(ctx, sc, discovery.Options{Targets: targets, Actor: "test",
			Progress: func(done, total int) { progress = append(progress, done) }})
		if err != nil {
			t.Fatal(err)
		}
		// /29 without network and broadcast: .1-.6; then 2 + 1 + 2 + 1 + 1.
		if v.Status != store.ScanCompleted || v.Endpoints != 13 || v.Served != 7 || v.Failed != 6 || v.Certificates != 7 || v.NewCertificates != 5 {
			t.Fatalf("scan summary %+v", v.ScanSummary)
		}
		if len(progress) != 13 || progress[12] != 13 {
			t.Fatalf("progress calls %v", progress)
		}
		f := byEndpoint(v)
		want := func(key string, check func(f discovery.FindingView) bool) {
			t.Helper()
			got, ok := f[key]
			if !ok {
				t.Fatalf("no finding for %s in %v", key, f)
			}
			if !check(got) {
				t.Fatalf("finding %s: %+v", key, got)
			}
		}
		cidr := strconv.Itoa(pCIDR)
		want("127.0.0.1:"+cidr+"/", func(f discovery.FindingView) bool {
			return f.Trusted && !f.Incomplete && !f.Expired && !f.Shadow && f.Source == store.SourceIssued && f.Serial == rec.Serial &&
				f.TLSVersion == "TLS 1.3" && f.CipherSuite != "" && f.Error == ""
		})
		want("127.0.0.2:"+cidr+"/", func(f discovery.FindingView) bool {
			return !f.Trusted && f.TrustError != "" && !f.Incomplete && f.Shadow && f.Source == store.SourceDiscovered &&
				f.Names[0] == "foreign.test" && f.NotAfter.Equal(foreign.NotAfter)
		})
		for _, h := range []string{"127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"} {
			want(h+":"+cidr+"/", func(f discovery.FindingView) bool { return f.Error == "connection refused" && f.Fingerprint == "" })
		}
		want(hp("127.0.0.3", pIncomplete)+"/", func(f discovery.FindingView) bool {
			return f.Incomplete && !f.Trusted && !f.Shadow && f.Source == store.SourceImported
		})
		want(hp("127.0.0.3", pExpired)+"/", func(f discovery.FindingView) bool {
			return f.Expired && f.SelfSigned && !f.Trusted && !f.Incomplete && f.Shadow
		})
		want(hp("127.0.0.4", pSNI)+"/", func(f discovery.FindingView) bool { return f.Names[0] == "default.test" && f.Shadow })
		want(hp("127.0.0.4", pSNI)+"/a.test", func(f discovery.FindingView) bool { return f.Names[0] == "a.test" && !f.NameMismatch })
		want(hp("127.0.0.4", pSNI)+"/b.test", func(f discovery.FindingView) bool { return f.Names[0] == "b.test" && !f.NameMismatch })
		want(hp("127.0.0.5", pText)+"/", func(f discovery.FindingView) bool {
			return f.Error == "not a TLS server (its first bytes are no TLS record)"
		})
		want(hp("127.0.0.5", pClosed)+"/", func(f discovery.FindingView) bool { return f.Error == "connection refused" })

		// The inventory: 5 discovered (foreign, expired, a, b, default);
		// the issued and the imported one keep their source.
		page, err := inv.List(ctx, inventory.Query{Source: store.SourceDiscovered, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 5 {
			t.Fatalf("%d discovered certificates, want 5", len(page.Items))
		}

		// A rescan an hour later: nothing new, last seen moves, first seen stays.
		t1 := base.Add(time.Hour)
		clk.set(t1)
		rotated.Store(true)
		v2, err := svc.Run(ctx, sc, discovery.Options{Targets: targets})
		if err != nil {
			t.Fatal(err)
		}
		if v2.NewCertificates != 1 || v2.Certificates != 7 { // only the rotated default certificate is new
			t.Fatalf("rescan summary %+v", v2.ScanSummary)
		}
		page, err = inv.List(ctx, inventory.Query{Source: store.SourceDiscovered, Limit: 100})
		if err != nil || len(page.Items) != 6 {
			t.Fatalf("%d discovered certificates after the rescan, want 6 (%v)", len(page.Items), err)
		}
		eps, err := svc.Endpoints(ctx, byEndpoint(v2)[hp("127.0.0.2", pCIDR)+"/"].Fingerprint)
		if err != nil {
			t.Fatal(err)
		}
		if len(eps) != 1 || !eps[0].FirstSeen.Equal(base) || !eps[0].LastSeen.Equal(t1) || eps[0].LastScanID != v2.ID {
			t.Fatalf("endpoints of the foreign certificate: %+v", eps)
		}
		// The SNI server's default certificate changed: its endpoint now
		// serves the new one since t1, and the old one is served nowhere.
		eps, err = svc.Endpoints(ctx, byEndpoint(v2)[hp("127.0.0.4", pSNI)+"/"].Fingerprint)
		if err != nil || len(eps) != 1 || !eps[0].FirstSeen.Equal(t1) {
			t.Fatalf("endpoints of the rotated certificate: %+v %v", eps, err)
		}
		eps, err = svc.Endpoints(ctx, byEndpoint(v)[hp("127.0.0.4", pSNI)+"/"].Fingerprint)
		if err != nil || len(eps) != 0 {
			t.Fatalf("endpoints of the replaced certificate: %+v %v", eps, err)
		}

		// The endpoint that stops serving keeps its certificate and gets the error.
		t2 := base.Add(2 * time.Hour)
		clk.set(t2)
		v3, err := svc.Run(ctx, sc, discovery.Options{Targets: []string{hp("127.0.0.3", pExpired)}})
		if err != nil || v3.Served != 1 {
			t.Fatalf("third scan: %+v %v", v3, err)
		}
		expFP := byEndpoint(v3)[hp("127.0.0.3", pExpired)+"/"].Fingerprint
		l.closeServer("127.0.0.3", pExpired)
		clk.set(t2.Add(time.Minute))
		v4, err := svc.Run(ctx, sc, discovery.Options{Targets: []string{hp("127.0.0.3", pExpired)}})
		if err != nil || v4.Failed != 1 {
			t.Fatalf("fourth scan: %+v %v", v4, err)
		}
		eps, err = svc.Endpoints(ctx, expFP)
		if err != nil || len(eps) != 1 || !eps[0].LastSeen.Equal(t2) || eps[0].LastError != "connection refused" ||
			eps[0].ErrorAt == nil || !eps[0].ErrorAt.Equal(t2.Add(time.Minute)) || eps[0].LastScanID != v4.ID {
			t.Fatalf("endpoint after it stopped serving: %+v %v", eps, err)
		}

		// List and Show read what Run recorded.
		lp, err := svc.List(ctx, "", 2)
		if err != nil || len(lp.Items) != 2 || lp.Items[0].ID != v4.ID || lp.Items[1].ID != v3.ID || lp.NextCursor == "" {
			t.Fatalf("list page 1: %+v %v", lp, err)
		}
		lp, err = svc.List(ctx, lp.NextCursor, 2)
		if err != nil || len(lp.Items) != 2 || lp.Items[0].ID != v2.ID || lp.Items[1].ID != v.ID || lp.NextCursor != "" {
			t.Fatalf("list page 2: %+v %v", lp, err)
		}
		if _, err := svc.List(ctx, "a b", 2); !errors.Is(err, discovery.ErrInvalid) {
			t.Fatalf("list after a malformed cursor: %v", err)
		}
		shown, err := svc.Show(ctx, v.ID, false)
		if err != nil || len(shown.Findings) != 7 || shown.Actor != "test" {
			t.Fatalf("show without errors: %d findings, %v", len(shown.Findings), err)
		}
		if _, err := svc.Show(ctx, "nope", true); !errors.Is(err, discovery.ErrNotFound) {
			t.Fatalf("show of an unknown scan: %v", err)
		}
	})
}

// lab holds the test servers of one test, by host:port.
type lab struct {
	t   *testing.T
	mu  sync.Mutex
	lns map[string]net.Listener
}

// closeServer stops the server listening on host:port.
func (l *lab) closeServer(host string, port int) {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ln, ok := l.lns[hp(host, port)]
	if !ok {
		l.t.Fatalf("no server on %s", hp(host, port))
	}
	ln.Close()
}

// samePort starts one server per host, all on the same port, and returns
// the port: a free port of the first host that the others, and the hosts
// of alsoFree, have free too, and that is not not.
func (l *lab) samePort(hosts []string, picks []func(string) *tls.Certificate, alsoFree []string, not int) int {
	t := l.t
	t.Helper()
	for range 20 {
		p := closedPort(t, hosts[0])
		var lns []net.Listener
		ok := p != not
		for _, h := range append(slices.Clone(hosts), alsoFree...) {
			if !ok {
				break
			}
			ln, err := net.Listen("tcp", hp(h, p))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			for i, h := range hosts {
				l.serve(hp(h, p), picks[i])
			}
			return p
		}
	}
	t.Fatal("no port free on all of " + fmt.Sprint(hosts))
	return 0
}
