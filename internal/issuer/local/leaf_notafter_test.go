package local

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
)

// TestSignLeafClampedToIntermediate: a leaf never outlives the
// intermediate that signs it. Under an intermediate of 30 days a 90-day
// request is signed with the intermediate's notAfter (and the chain
// verifies at the leaf's last second); a request that ends before the
// intermediate keeps its notAfter. It was signed as asked, two months
// after the chain stopped verifying.
func TestSignLeafClampedToIntermediate(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true, IntermediateValidity: 30 * 24 * time.Hour})
	end := ca.Intermediate().NotAfter

	req := goodRequest(t) // 90 days from testNow
	der, err := ca.SignLeaf(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if !cert.NotAfter.Equal(end) {
		t.Errorf("notAfter %s, want the intermediate's %s", cert.NotAfter, end)
	}
	if !cert.NotBefore.Equal(req.NotBefore) {
		t.Errorf("notBefore %s, want the request's %s", cert.NotBefore, req.NotBefore)
	}
	if err := certlint.Check(der); err != nil {
		t.Errorf("certlint: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root())
	inters := x509.NewCertPool()
	inters.AddCert(ca.Intermediate())
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: cert.NotAfter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("the chain does not verify at the leaf's notAfter: %v", err)
	}

	// Within the intermediate's validity: as requested.
	req = goodRequest(t)
	req.NotAfter = end.Add(-time.Hour)
	der, err = ca.SignLeaf(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if cert, _ = x509.ParseCertificate(der); !cert.NotAfter.Equal(req.NotAfter) {
		t.Errorf("notAfter %s, want the requested %s", cert.NotAfter, req.NotAfter)
	}

	// ClampToIntermediate says the same without signing.
	if got, err := ca.ClampToIntermediate(testNow, testNow.Add(90*24*time.Hour)); err != nil || !got.Equal(end) {
		t.Errorf("ClampToIntermediate = %s, %v; want %s", got, err, end)
	}
}

// TestSignLeafIntermediateExpired: an intermediate that has expired, or
// that expires before the requested notBefore, signs nothing
// (ErrIntermediateExpired, naming certgate ca rotate) instead of a leaf
// whose notAfter is not after its notBefore, or that never verifies.
func TestSignLeafIntermediateExpired(t *testing.T) {
	ca, dir := newTestCA(t, Options{IntermediateValidity: 30 * 24 * time.Hour})
	end := ca.Intermediate().NotAfter

	req := goodRequest(t)
	req.NotBefore, req.NotAfter = end, end.Add(24*time.Hour)
	_, err := ca.SignLeaf(context.Background(), req)
	if !errors.Is(err, ErrIntermediateExpired) || !strings.Contains(err.Error(), "certgate ca rotate") {
		t.Errorf("notBefore at the intermediate's notAfter: err = %v, want ErrIntermediateExpired naming certgate ca rotate", err)
	}

	later := func() time.Time { return end.Add(time.Second) }
	expired, err := LoadOrCreate(dir, Options{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	req = goodRequest(t)
	req.NotBefore, req.NotAfter = later(), later().Add(24*time.Hour)
	_, err = expired.SignLeaf(context.Background(), req)
	if !errors.Is(err, ErrIntermediateExpired) || !strings.Contains(err.Error(), "expired on "+end.UTC().Format(time.RFC3339)) {
		t.Errorf("expired intermediate: err = %v, want ErrIntermediateExpired with its notAfter", err)
	}
	_, err = expired.ServerCertificate(context.Background(), testSerial(t), []string{"localhost"}, nil, 0)
	if !errors.Is(err, ErrIntermediateExpired) {
		t.Errorf("ServerCertificate under an expired intermediate: err = %v, want ErrIntermediateExpired", err)
	}
}

// TestServerCertificateClampedToIntermediate: the listener's own
// certificate is cut to the intermediate's notAfter too.
func TestServerCertificateClampedToIntermediate(t *testing.T) {
	ca, _ := newTestCA(t, Options{LintBeforeSign: true, IssuerURL: testIssuerURL, CRLURL: testCRLURL, IntermediateValidity: 10 * 24 * time.Hour})
	cert, err := ca.ServerCertificate(context.Background(), testSerial(t), []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if end := ca.Intermediate().NotAfter; !cert.Leaf.NotAfter.Equal(end) {
		t.Errorf("notAfter %s, want the intermediate's %s", cert.Leaf.NotAfter, end)
	}
}
