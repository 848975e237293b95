package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
)

// TestCARotatePKIURL: an intermediate made before certgate published a root
// CRL names no CRL distribution point and no AIA, and `ca rotate` copied
// that to the new intermediate, so rotating never gave such a CA what
// zlint's e_sub_ca_crl_distribution_points_missing asks for. Such a
// rotation now needs --pki-url, and the new intermediate names the root
// certificate and root CRL under it; a URL that is not http://HOST[:PORT]
// is refused in one line.
func TestCARotatePKIURL(t *testing.T) {
	data := t.TempDir()
	// A CA as an older certgate made it: no root URLs in its intermediate.
	if _, err := local.LoadOrCreate(server.CADir(data), local.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Run("serve", func(t *testing.T) {
		if _, err := startNode(t, data, ""); err != nil {
			t.Fatal(err)
		}
	})
	before, err := local.ReadIntermediate(server.CADir(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(before.CRLDistributionPoints) != 0 {
		t.Fatalf("the test's CA names a CRL distribution point %v: it does not reach the case", before.CRLDistributionPoints)
	}

	_, _, err = runCLI(t, nil, "ca", "rotate", "--data", data)
	if err == nil || !strings.Contains(err.Error(), "--pki-url") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("rotate of an intermediate without CRL DP, no --pki-url: %v, want one line asking for --pki-url", err)
	}
	for _, bad := range []string{"https://ca.example.test", "ca.example.test:8443", "http://ca.example.test/pki", "http://ca.example.test?x=1", "http://"} {
		_, _, err := runCLI(t, nil, "ca", "rotate", "--data", data, "--pki-url", bad)
		if err == nil || !strings.Contains(err.Error(), "--pki-url") || strings.Contains(err.Error(), "\n") {
			t.Errorf("--pki-url %q: %v, want refused in one line", bad, err)
		}
	}
	if cur, err := local.ReadIntermediate(server.CADir(data)); err != nil || !cur.Equal(before) {
		t.Fatalf("a refused rotation changed the intermediate (%v)", err)
	}

	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data, "--pki-url", "http://ca.example.test:8443/"); err != nil {
		t.Fatal(err)
	}
	cur, err := local.ReadIntermediate(server.CADir(data))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cur.CRLDistributionPoints, []string{"http://ca.example.test:8443/pki/root.crl"}) ||
		!slices.Equal(cur.IssuingCertificateURL, []string{"http://ca.example.test:8443/pki/root.crt"}) {
		t.Errorf("new intermediate: CRL DP %v, AIA %v; want the root CRL and certificate under --pki-url", cur.CRLDistributionPoints, cur.IssuingCertificateURL)
	}
	// The next rotation keeps the URLs without --pki-url.
	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data); err != nil {
		t.Fatal(err)
	}
	next, err := local.ReadIntermediate(server.CADir(data))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(next.CRLDistributionPoints, cur.CRLDistributionPoints) || !slices.Equal(next.IssuingCertificateURL, cur.IssuingCertificateURL) {
		t.Errorf("second rotation: CRL DP %v, AIA %v; want the first's", next.CRLDistributionPoints, next.IssuingCertificateURL)
	}
}
