package local

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/cputime"
)

// Lint-clean URL forms: plain http, as BR §7.1.2.7.7 and §7.1.2.11.2
// require. The hosts are internal names, as in a private deployment.
const (
	testIssuerURL = "http://ca.example.test:8080/pki/intermediate.der"
	testCRLURL    = "http://ca.example.test:8080/pki/intermediate.crl"
)

// testKeys are generated once per type, on first use: RSA 4096
// generation is slow.
var testKeys = func() map[string]func() (crypto.Signer, error) {
	m := map[string]func() (crypto.Signer, error){
		"ecdsa-p256": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) },
		"ecdsa-p384": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) },
		"ecdsa-p521": func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) },
		"rsa-1024":   func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 1024) },
		"rsa-2048":   func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		"rsa-2048-b": func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) },
		"rsa-4096":   func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 4096) },
		"ed25519": func() (crypto.Signer, error) {
			_, k, err := ed25519.GenerateKey(rand.Reader)
			return k, err
		},
	}
	for name, gen := range m {
		m[name] = sync.OnceValues(gen)
	}
	return m
}()

func pub(name string) crypto.PublicKey {
	k, err := testKeys[name]()
	if err != nil {
		panic(err)
	}
	return k.Public()
}

func mustSerial(t testing.TB) *big.Int {
	t.Helper()
	s, err := RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// goodRequest is a lint-clean request valid for 90 days from testNow.
func goodRequest(t testing.TB) LeafRequest {
	return LeafRequest{
		Serial:    mustSerial(t),
		PublicKey: pub("ecdsa-p256"),
		DNSNames:  []string{"a.example.test"},
		NotBefore: testNow,
		NotAfter:  testNow.Add(90*24*time.Hour - time.Second),
		IssuerURL: testIssuerURL,
		CRLURL:    testCRLURL,
	}
}

func TestSignLeaf(t *testing.T) {
	longName := strings.Repeat("x", 60) + ".example.test" // 73 chars > 64
	for _, tc := range []struct {
		name       string
		key        string
		dns        []string
		ips        []string
		clientAuth bool
		wantCN     string
		wantKU     x509.KeyUsage
	}{
		{"ecdsa-p256 dns", "ecdsa-p256", []string{"a.example.test"}, nil, false, "a.example.test", x509.KeyUsageDigitalSignature},
		{"ecdsa-p384 multi", "ecdsa-p384", []string{"a.example.test", "b.example.test"}, nil, false, "a.example.test", x509.KeyUsageDigitalSignature},
		{"rsa-2048 dns", "rsa-2048", []string{"a.example.test"}, nil, false, "a.example.test", x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment},
		{"rsa-4096 dns", "rsa-4096", []string{"a.example.test"}, nil, false, "a.example.test", x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment},
		{"wildcard", "ecdsa-p256", []string{"*.example.test", "example.test"}, nil, false, "*.example.test", x509.KeyUsageDigitalSignature},
		{"public name", "ecdsa-p256", []string{"www.example.com"}, nil, false, "www.example.com", x509.KeyUsageDigitalSignature},
		{"localhost", "ecdsa-p256", []string{"localhost"}, []string{"127.0.0.1", "::1"}, false, "localhost", x509.KeyUsageDigitalSignature},
		{"ipv4 only", "ecdsa-p256", nil, []string{"127.0.0.1"}, false, "127.0.0.1", x509.KeyUsageDigitalSignature},
		{"ipv6 only", "rsa-2048", nil, []string{"::1", "fd00::10"}, false, "::1", x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment},
		{"dns and ips", "ecdsa-p256", []string{"a.example.test"}, []string{"10.0.0.1", "2001:db8::1"}, false, "a.example.test", x509.KeyUsageDigitalSignature},
		{"long name empty CN", "ecdsa-p256", []string{longName, "a.example.test"}, nil, false, "", x509.KeyUsageDigitalSignature},
		{"client auth", "ecdsa-p256", []string{"a.example.test"}, nil, true, "a.example.test", x509.KeyUsageDigitalSignature},
	} {
		for _, lintFirst := range []bool{false, true} {
			name := tc.name
			if lintFirst {
				name += "/lint-before-sign"
			}
			t.Run(name, func(t *testing.T) {
				ca, _ := newTestCA(t, Options{LintBeforeSign: lintFirst})
				var ips []net.IP
				for _, s := range tc.ips {
					ips = append(ips, net.ParseIP(s))
				}
				req := goodRequest(t)
				req.PublicKey = pub(tc.key)
				req.DNSNames, req.IPAddresses, req.ClientAuth = tc.dns, ips, tc.clientAuth
				der, err := ca.SignLeaf(context.Background(), req)
				if err != nil {
					t.Fatalf("SignLeaf: %v", err)
				}
				if err := certlint.Check(der); err != nil {
					t.Errorf("certlint: %v", err)
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					t.Fatal(err)
				}
				checkLeafProfile(t, ca, cert, req, tc.wantCN, tc.wantKU)
				verifyLeaf(t, ca, cert, tc.dns, tc.ips, tc.clientAuth)
				if lintFirst {
					// The linted TBS is signed as is: it must be the TBS
					// x509.CreateCertificate makes for the same request.
					plain := *ca
					plain.lint = nil
					der2, err := plain.SignLeaf(context.Background(), req)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(mustTBS(t, der2), cert.RawTBSCertificate) {
						t.Error("the lint-before-sign TBS differs from x509.CreateCertificate's")
					}
				}
			})
		}
	}
}

func checkLeafProfile(t *testing.T, ca *CA, cert *x509.Certificate, req LeafRequest, wantCN string, wantKU x509.KeyUsage) {
	t.Helper()
	if cert.SerialNumber.Cmp(req.Serial) != 0 {
		t.Errorf("serial = %x, want %x", cert.SerialNumber, req.Serial)
	}
	if cert.Subject.CommonName != wantCN {
		t.Errorf("CN = %q, want %q", cert.Subject.CommonName, wantCN)
	}
	if wantCN == "" && len(cert.RawSubject) != 2 { // empty SEQUENCE
		t.Errorf("subject not empty: %v", cert.Subject)
	}
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) && ext.Critical != (wantCN == "") {
			t.Errorf("SAN critical = %v with CN %q", ext.Critical, wantCN)
		}
	}
	if !slices.Equal(cert.DNSNames, req.DNSNames) {
		t.Errorf("DNSNames = %v, want %v", cert.DNSNames, req.DNSNames)
	}
	if len(cert.IPAddresses) != len(req.IPAddresses) {
		t.Errorf("IPAddresses = %v, want %v", cert.IPAddresses, req.IPAddresses)
	}
	for i := range cert.IPAddresses {
		if !cert.IPAddresses[i].Equal(req.IPAddresses[i]) {
			t.Errorf("IPAddresses[%d] = %v, want %v", i, cert.IPAddresses[i], req.IPAddresses[i])
		}
	}
	if cert.KeyUsage != wantKU {
		t.Errorf("KeyUsage = %v, want %v", cert.KeyUsage, wantKU)
	}
	wantEKU := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if req.ClientAuth {
		wantEKU = append(wantEKU, x509.ExtKeyUsageClientAuth)
	}
	if !slices.Equal(cert.ExtKeyUsage, wantEKU) {
		t.Errorf("EKU = %v, want %v", cert.ExtKeyUsage, wantEKU)
	}
	if !cert.BasicConstraintsValid || cert.IsCA {
		t.Errorf("basicConstraints: valid=%v CA=%v, want CA:FALSE", cert.BasicConstraintsValid, cert.IsCA)
	}
	if !bytes.Equal(cert.AuthorityKeyId, ca.Intermediate().SubjectKeyId) {
		t.Errorf("AKI does not match intermediate SKI")
	}
	if len(cert.SubjectKeyId) != 0 {
		t.Errorf("leaf has SKI; BR 7.1.2.7.6 says NOT RECOMMENDED")
	}
	if !slices.Equal(cert.IssuingCertificateURL, []string{req.IssuerURL}) {
		t.Errorf("AIA caIssuers = %v", cert.IssuingCertificateURL)
	}
	if !slices.Equal(cert.CRLDistributionPoints, []string{req.CRLURL}) {
		t.Errorf("CRL DP = %v", cert.CRLDistributionPoints)
	}
	if len(cert.Policies) != 1 || cert.Policies[0].String() != "2.23.140.1.2.1" {
		t.Errorf("policies = %v", cert.Policies)
	}
	if want := wantSigAlg(t, ca.Intermediate().PublicKey); cert.SignatureAlgorithm != want {
		t.Errorf("signature algorithm = %v, want %v", cert.SignatureAlgorithm, want)
	}
	if !cert.NotBefore.Equal(req.NotBefore) || !cert.NotAfter.Equal(req.NotAfter) {
		t.Errorf("validity = %v..%v", cert.NotBefore, cert.NotAfter)
	}
}

func verifyLeaf(t *testing.T, ca *CA, cert *x509.Certificate, dns, ips []string, clientAuth bool) {
	t.Helper()
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(ca.Root())
	inters.AddCert(ca.Intermediate())
	usages := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if clientAuth {
		usages = append(usages, x509.ExtKeyUsageClientAuth)
	}
	for _, name := range append(slices.Clone(dns), ips...) {
		if strings.HasPrefix(name, "*.") {
			name = "host" + name[1:]
		}
		for _, u := range usages {
			_, err := cert.Verify(x509.VerifyOptions{
				DNSName:       name,
				Roots:         roots,
				Intermediates: inters,
				CurrentTime:   testNow.Add(time.Hour),
				KeyUsages:     []x509.ExtKeyUsage{u},
			})
			if err != nil {
				t.Errorf("Verify(%q, %v): %v", name, u, err)
			}
		}
	}
}

func mustTBS(t *testing.T, der []byte) []byte {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c.RawTBSCertificate
}

func TestSignLeafRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*LeafRequest)
		// wantLint is the lint that refuses the request under
		// LintBeforeSign; "" means the CA's own checks reject it
		// (ErrInvalidRequest) whatever the option.
		wantLint string
	}{
		{"nil serial", func(r *LeafRequest) { r.Serial = nil }, ""},
		{"zero serial", func(r *LeafRequest) { r.Serial = big.NewInt(0) }, ""},
		{"negative serial", func(r *LeafRequest) { r.Serial = big.NewInt(-5) }, ""},
		{"21-octet serial", func(r *LeafRequest) { r.Serial = new(big.Int).Lsh(big.NewInt(1), 159) }, ""},
		{"ed25519 key", func(r *LeafRequest) { r.PublicKey = pub("ed25519") }, ""},
		{"rsa-1024 key", func(r *LeafRequest) { r.PublicKey = pub("rsa-1024") }, ""},
		{"p-521 key", func(r *LeafRequest) { r.PublicKey = pub("ecdsa-p521") }, ""},
		{"nil key", func(r *LeafRequest) { r.PublicKey = nil }, ""},
		{"empty SAN set", func(r *LeafRequest) { r.DNSNames = nil }, ""},
		{"empty DNS name", func(r *LeafRequest) { r.DNSNames = []string{""} }, ""},
		{"IP literal as DNS name", func(r *LeafRequest) { r.DNSNames = []string{"127.0.0.1"} }, ""},
		{"malformed IP", func(r *LeafRequest) { r.IPAddresses = []net.IP{{1, 2, 3}} }, ""},
		{"NotAfter before NotBefore", func(r *LeafRequest) { r.NotAfter = r.NotBefore.Add(-time.Hour) }, ""},
		{"NotAfter equals NotBefore", func(r *LeafRequest) { r.NotAfter = r.NotBefore }, ""},
		{"zero NotBefore", func(r *LeafRequest) { r.NotBefore = time.Time{} }, ""},
		// Accepted by the CA's own checks, refused by the linter.
		{"validity 365 days", func(r *LeafRequest) { r.NotAfter = r.NotBefore.Add(365 * 24 * time.Hour) }, "e_server_cert_valid_time_longer_than_200_days"},
		{"https AIA", func(r *LeafRequest) { r.IssuerURL = "https://ca.example.test:8443/pki/intermediate.der" }, "e_aia_ca_issuers_must_have_http_only"},
		{"https CRL DP", func(r *LeafRequest) { r.CRLURL = "https://ca.example.test:8443/pki/intermediate.crl" }, "e_crl_distrib_points_not_http"},
		{"no AIA", func(r *LeafRequest) { r.IssuerURL = "" }, "e_sub_cert_aia_missing"},
		{"no CRL DP", func(r *LeafRequest) { r.CRLURL = "" }, "e_missing_crl_distrib_point"},
		{"underscore in name", func(r *LeafRequest) { r.DNSNames = []string{"a_b.example.test"} }, "e_underscore_not_permissible_in_dnsname"},
		{"empty label", func(r *LeafRequest) { r.DNSNames = []string{"a..example.test"} }, "e_dnsname_empty_label"},
		{"wildcard not leftmost", func(r *LeafRequest) { r.DNSNames = []string{"a.*.example.test"} }, "e_dnsname_wildcard_only_in_left_label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, lintFirst := range []bool{false, true} {
				ca, _ := newTestCA(t, Options{LintBeforeSign: lintFirst})
				req := goodRequest(t)
				tc.mutate(&req)
				der, err := ca.SignLeaf(context.Background(), req)
				switch {
				case tc.wantLint == "":
					if !errors.Is(err, ErrInvalidRequest) {
						t.Errorf("lint=%v: err = %v, want ErrInvalidRequest", lintFirst, err)
					}
				case lintFirst:
					var le *certlint.LintError
					if !errors.Is(err, ErrLint) || !errors.As(err, &le) {
						t.Fatalf("err = %v, want ErrLint wrapping *certlint.LintError", err)
					}
					if !slices.ContainsFunc(le.Findings, func(f certlint.Finding) bool { return f.Lint == tc.wantLint }) {
						t.Errorf("findings %v lack %s", le.Findings, tc.wantLint)
					}
				default:
					// Without the linter the CA signs; the result fails
					// the same lint.
					if err != nil {
						t.Fatalf("without lint: %v", err)
					}
					if err := certlint.Check(der); err == nil || !strings.Contains(err.Error(), tc.wantLint) {
						t.Errorf("certlint.Check = %v, want it to name %s", err, tc.wantLint)
					}
				}
			}
		})
	}
}

func TestSignLeafDefaultsURLsFromOptions(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true, IssuerURL: testIssuerURL, CRLURL: testCRLURL})
	req := goodRequest(t)
	req.IssuerURL, req.CRLURL = "", ""
	der, err := ca.SignLeaf(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cert.IssuingCertificateURL, []string{testIssuerURL}) || !slices.Equal(cert.CRLDistributionPoints, []string{testCRLURL}) {
		t.Errorf("AIA %v CRL %v, want Options defaults", cert.IssuingCertificateURL, cert.CRLDistributionPoints)
	}
}

func TestSignLeafCanceled(t *testing.T) {
	ca, _ := newTestCA(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ca.SignLeaf(ctx, goodRequest(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestChainPEM(t *testing.T) {
	ca, _ := newTestCA(t, Options{})
	der, err := ca.SignLeaf(context.Background(), goodRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	rest := ca.ChainPEM(der)
	var blocks [][]byte
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			t.Errorf("block type %q", b.Type)
		}
		blocks = append(blocks, b.Bytes)
	}
	if len(blocks) != 2 || !bytes.Equal(blocks[0], der) || !bytes.Equal(blocks[1], ca.Intermediate().Raw) {
		t.Fatalf("chain is not leaf+intermediate (%d blocks)", len(blocks))
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("trailing data after chain")
	}
}

// testSerial returns a fresh serial (RandomSerial) for a test's
// certificate.
func testSerial(t testing.TB) *big.Int {
	t.Helper()
	serial, err := RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	return serial
}

func TestServerCertificate(t *testing.T) {
	serial := testSerial(t)
	ca, _ := newTestCA(t, Options{LintBeforeSign: true, IssuerURL: testIssuerURL, CRLURL: testCRLURL})
	cert, err := ca.ServerCertificate(context.Background(), serial, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf.SerialNumber.Cmp(serial) != 0 {
		t.Errorf("serial %x, want the reserved %x", cert.Leaf.SerialNumber, serial)
	}
	if len(cert.Certificate) != 2 || !bytes.Equal(cert.Certificate[1], ca.Intermediate().Raw) {
		t.Fatalf("chain has %d certificates, want leaf+intermediate", len(cert.Certificate))
	}
	if got := cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore) + time.Second; got != DefaultServerCertValidity {
		t.Errorf("validity = %v, want %v", got, DefaultServerCertValidity)
	}
	if err := certlint.Check(cert.Certificate[0]); err != nil {
		t.Errorf("certlint: %v", err)
	}

	// A real TLS handshake against the root, by IP and by name.
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root())
	for _, serverName := range []string{"localhost", "127.0.0.1", "::1"} {
		t.Run(serverName, func(t *testing.T) {
			c, s := net.Pipe()
			defer c.Close()
			defer s.Close()
			clock := func() time.Time { return testNow.Add(time.Hour) }
			srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}, Time: clock})
			go func() { _ = srv.Handshake() }()
			cli := tls.Client(c, &tls.Config{RootCAs: roots, ServerName: serverName, Time: clock})
			if err := cli.Handshake(); err != nil {
				t.Fatalf("handshake: %v", err)
			}
		})
	}

	if _, err := ca.ServerCertificate(context.Background(), testSerial(t), nil, nil, time.Hour); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("no names: err = %v, want ErrInvalidRequest", err)
	}
}

func TestSignCRL(t *testing.T) {
	ca, _ := newTestCA(t, Options{})
	this, next := testNow, testNow.Add(7*24*time.Hour)
	entries := []x509.RevocationListEntry{
		{SerialNumber: mustSerial(t), RevocationTime: testNow.Add(-time.Hour), ReasonCode: 1}, // keyCompromise
		{SerialNumber: mustSerial(t), RevocationTime: testNow.Add(-2 * time.Hour)},            // unspecified: no reason extension
		{SerialNumber: mustSerial(t), RevocationTime: testNow.Add(-3 * time.Hour), ReasonCode: 4},
	}
	der, err := ca.SignCRL(big.NewInt(42), this, next, entries)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Intermediate()); err != nil {
		t.Errorf("signature: %v", err)
	}
	if crl.Number.Cmp(big.NewInt(42)) != 0 {
		t.Errorf("number = %v", crl.Number)
	}
	if !bytes.Equal(crl.AuthorityKeyId, ca.Intermediate().SubjectKeyId) {
		t.Errorf("AKI does not match intermediate SKI")
	}
	if !crl.ThisUpdate.Equal(this) || !crl.NextUpdate.Equal(next) {
		t.Errorf("updates = %v, %v", crl.ThisUpdate, crl.NextUpdate)
	}
	if !bytes.Equal(crl.RawIssuer, ca.Intermediate().RawSubject) {
		t.Errorf("issuer is not the intermediate")
	}
	if len(crl.RevokedCertificateEntries) != len(entries) {
		t.Fatalf("%d entries, want %d", len(crl.RevokedCertificateEntries), len(entries))
	}
	for i, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(entries[i].SerialNumber) != 0 || e.ReasonCode != entries[i].ReasonCode {
			t.Errorf("entry %d = %v/%d, want %v/%d", i, e.SerialNumber, e.ReasonCode, entries[i].SerialNumber, entries[i].ReasonCode)
		}
	}
	if err := certlint.CheckCRL(der); err != nil {
		t.Errorf("certlint: %v", err)
	}

	// Empty CRLs are normal.
	if der, err := ca.SignCRL(big.NewInt(43), this, next, nil); err != nil {
		t.Errorf("empty CRL: %v", err)
	} else if err := certlint.CheckCRL(der); err != nil {
		t.Errorf("empty CRL certlint: %v", err)
	}

	for _, tc := range []struct {
		name       string
		number     *big.Int
		this, next time.Time
	}{
		{"nil number", nil, this, next},
		{"negative number", big.NewInt(-1), this, next},
		{"21-octet number", new(big.Int).Lsh(big.NewInt(1), 160), this, next},
		{"next before this", big.NewInt(1), next, this},
		{"zero thisUpdate", big.NewInt(1), time.Time{}, next},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ca.SignCRL(tc.number, tc.this, tc.next, nil); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
}

func BenchmarkSignLeaf(b *testing.B) {
	for _, lintFirst := range []bool{false, true} {
		name := "lint=false"
		if lintFirst {
			name = "lint=true"
		}
		b.Run(name, func(b *testing.B) {
			ca, _ := newTestCA(b, Options{LintBeforeSign: lintFirst})
			benchSignLeaf(b, ca)
		})
	}
}

// badSigner signs the wrong digest: its signatures are well formed but
// do not verify.
type badSigner struct{ crypto.Signer }

func (s badSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	wrong := slices.Clone(digest)
	wrong[0] ^= 1
	return s.Signer.Sign(r, wrong, opts)
}

// TestSignLeafRefusesBadSignature checks that a signature that does not
// verify is never returned as a certificate on the lint-before-sign path.
func TestSignLeafRefusesBadSignature(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true})
	ca.interKey = badSigner{ca.interKey}
	if der, err := ca.SignLeaf(context.Background(), goodRequest(t)); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("SignLeaf = %d octets, %v; want a signature verification error", len(der), err)
	}
}

// countingSigner counts the signatures its key makes.
type countingSigner struct {
	crypto.Signer
	n int
}

func (s *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.n++
	return s.Signer.Sign(r, digest, opts)
}

// TestLintFailureNeverSigns checks that the intermediate's key makes no
// signature at all for a request the pre-issuance lint refuses (CA/B BR
// §4.3.1.2: the TBS is linted before it is signed), makes exactly one for
// a clean one, and none for CheckLeaf.
func TestLintFailureNeverSigns(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true})
	key := &countingSigner{Signer: ca.interKey}
	ca.interKey = key
	bad := goodRequest(t)
	bad.DNSNames = []string{"a_b.example.test"}
	if _, err := ca.SignLeaf(context.Background(), bad); !errors.Is(err, ErrLint) {
		t.Fatalf("SignLeaf(underscore) = %v, want ErrLint", err)
	}
	if key.n != 0 {
		t.Errorf("the key signed %d times for a certificate that failed the lint", key.n)
	}
	if err := ca.CheckLeaf(bad); !errors.Is(err, ErrLint) {
		t.Errorf("CheckLeaf(underscore) = %v, want ErrLint", err)
	}
	if err := ca.CheckLeaf(goodRequest(t)); err != nil {
		t.Errorf("CheckLeaf(good) = %v", err)
	}
	if key.n != 0 {
		t.Errorf("CheckLeaf made %d signatures", key.n)
	}
	if _, err := ca.SignLeaf(context.Background(), goodRequest(t)); err != nil {
		t.Fatalf("SignLeaf(good): %v", err)
	}
	if key.n != 1 {
		t.Errorf("the key signed %d times for one clean certificate, want 1", key.n)
	}
}

// benchSignLeaf signs goodRequest with ca b.N times, reporting
// allocations and CPU time per leaf.
func benchSignLeaf(b *testing.B, ca *CA) {
	req := goodRequest(b)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for b.Loop() {
		if _, err := ca.SignLeaf(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	cputime.ReportPerOp(b, cpu0)
}

// failingSigner is a key that cannot sign (an HSM that is unreachable).
type failingSigner struct{ crypto.Signer }

var errKeyUnavailable = errors.New("key unavailable")

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errKeyUnavailable
}

// TestSignLeafSignerError checks that a key that fails to sign is reported
// as such on the lint-before-sign path, its error wrapped, and not as a
// signature that does not verify (none was made).
func TestSignLeafSignerError(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true})
	ca.interKey = failingSigner{ca.interKey}
	der, err := ca.SignLeaf(context.Background(), goodRequest(t))
	if !errors.Is(err, errKeyUnavailable) || strings.Contains(err.Error(), "does not verify") || errors.Is(err, ErrLint) {
		t.Fatalf("SignLeaf = %d octets, %v; want the key's error, not a verification or lint error", len(der), err)
	}
}

// TestRSAKeyUsageFollowsEKUs: an RSA leaf carries keyEncipherment only
// where one of its EKUs allows it (RFC 5280 §4.2.1.12: serverAuth,
// emailProtection); a clientAuth or codeSigning certificate with it was
// refused by the pre-issuance lint (e_key_usage_and_extended_key_usage_inconsistent),
// so such a profile could issue nothing for an RSA key. Each is signed
// with the lint on and passes certlint.
func TestRSAKeyUsageFollowsEKUs(t *testing.T) {
	ds, ke := x509.KeyUsageDigitalSignature, x509.KeyUsageKeyEncipherment
	for _, tc := range []struct {
		ekus []x509.ExtKeyUsage
		want x509.KeyUsage
	}{
		{[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, ds},
		{[]x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, ds},
		{[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageCodeSigning}, ds},
		{[]x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}, ds | ke},
		{[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection}, ds | ke},
		{[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, ds | ke},
		{[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, ds | ke},
	} {
		ca, _ := newTestCA(t, Options{LintBeforeSign: true})
		req := goodRequest(t)
		req.PublicKey = pub("rsa-2048")
		req.ExtKeyUsages = tc.ekus
		der, err := ca.SignLeaf(context.Background(), req)
		if err != nil {
			t.Errorf("EKUs %v: SignLeaf: %v", tc.ekus, err)
			continue
		}
		if err := certlint.Check(der); err != nil {
			t.Errorf("EKUs %v: certlint: %v", tc.ekus, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if cert.KeyUsage != tc.want {
			t.Errorf("EKUs %v: key usage %b, want %b", tc.ekus, cert.KeyUsage, tc.want)
		}
	}
}
