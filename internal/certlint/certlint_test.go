package certlint_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/zmap/zlint/v3/lint"
)

var now = time.Date(2026, time.November, 2, 10, 0, 0, 0, time.UTC)

// pki is a minimal issuer for building test leaves without depending on
// the CA package.
type pki struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newPKI(t testing.TB) pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"US"}, Organization: []string{"certgate test"}, CommonName: "certgate test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pki{key, cert}
}

func (p pki) leaf(t testing.TB, mutate func(*x509.Certificate)) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return p.leafWithKey(t, key.Public(), mutate)
}

// leafWithKey is leaf for the subject public key pub.
func (p pki) leafWithKey(t testing.TB, pub any, mutate func(*x509.Certificate)) []byte {
	t.Helper()
	policy, err := x509.OIDFromInts([]uint64{2, 23, 140, 1, 2, 1})
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: "a.example.com"},
		DNSNames:              []string{"a.example.com"},
		NotBefore:             now,
		NotAfter:              now.Add(90*24*time.Hour - time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IssuingCertificateURL: []string{"http://ca.example.com/ca.der"},
		CRLDistributionPoints: []string{"http://ca.example.com/ca.crl"},
		Policies:              []x509.OID{policy},
	}
	if mutate != nil {
		mutate(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, pub, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestLint(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name   string
		mutate func(*x509.Certificate)
		want   []string // failing lints, sorted; nil = clean
	}{
		{"clean public name", nil, nil},
		{"internal TLD and loopback IPs (disabled lints)", func(c *x509.Certificate) {
			c.Subject.CommonName = "127.0.0.1"
			c.DNSNames = []string{"a.example.test", "*.example.test", "localhost"}
			c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
			c.IssuingCertificateURL = []string{"http://localhost:8080/ca.der"}
		}, nil},
		{"https URLs", func(c *x509.Certificate) {
			c.IssuingCertificateURL = []string{"https://ca.example.com/ca.der"}
			c.CRLDistributionPoints = []string{"https://ca.example.com/ca.crl"}
		}, []string{
			"e_aia_ca_issuers_must_have_http_only",
			"e_crl_distrib_points_not_http",
			"e_sub_cert_crl_distribution_points_does_not_contain_url",
			"w_distribution_point_missing_ldap_or_uri",
			"w_ext_aia_access_location_missing",
			"w_sub_cert_aia_does_not_contain_issuing_ca_url",
		}},
		{"validity 300 days", func(c *x509.Certificate) {
			c.NotAfter = c.NotBefore.Add(300 * 24 * time.Hour)
		}, []string{"e_server_cert_valid_time_longer_than_200_days", "w_server_cert_valid_time_longer_than_199_days"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der := p.leaf(t, tc.mutate)
			r, err := certlint.Lint(der)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range r.Findings {
				got = append(got, f.Lint)
				if f.Level != certlint.LevelWarn && f.Level != certlint.LevelError && f.Level != certlint.LevelFatal {
					t.Errorf("finding %s has level %q", f.Lint, f.Level)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings = %v\nwant %v", r.Findings, tc.want)
			}
			if r.OK() != (len(tc.want) == 0) {
				t.Errorf("OK() = %v", r.OK())
			}

			err = certlint.Check(der)
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Check: %v", err)
				}
				return
			}
			var le *certlint.LintError
			if !errors.As(err, &le) || len(le.Findings) != len(tc.want) {
				t.Fatalf("Check = %v, want *LintError with %d findings", err, len(tc.want))
			}
			for _, name := range tc.want {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("Check error %q does not name %s", err, name)
				}
			}
		})
	}
}

func TestParseError(t *testing.T) {
	if _, err := certlint.Lint([]byte("junk")); !errors.Is(err, certlint.ErrParse) {
		t.Errorf("Lint: err = %v, want ErrParse", err)
	}
	if err := certlint.Check(nil); !errors.Is(err, certlint.ErrParse) {
		t.Errorf("Check: err = %v, want ErrParse", err)
	}
	if err := certlint.CheckCRL([]byte{0x30, 0x00}); !errors.Is(err, certlint.ErrParse) {
		t.Errorf("CheckCRL: err = %v, want ErrParse", err)
	}
}

func TestCRL(t *testing.T) {
	p := newPKI(t)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:     big.NewInt(7),
		ThisUpdate: now,
		NextUpdate: now.Add(24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: big.NewInt(99), RevocationTime: now.Add(-time.Minute), ReasonCode: 1},
		},
	}, p.cert, p.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := certlint.CheckCRL(der); err != nil {
		t.Errorf("CheckCRL: %v", err)
	}
}

// TestDisabled keeps the skip list honest: every entry names a registered
// zlint lint and has a reason, and the returned map is a copy.
func TestDisabled(t *testing.T) {
	d := certlint.Disabled()
	if len(d) == 0 {
		t.Fatal("Disabled is empty")
	}
	reg := lint.GlobalRegistry()
	for name, reason := range d {
		if reg.ByName(name) == nil {
			t.Errorf("%s is not a registered zlint lint", name)
		}
		if strings.TrimSpace(reason) == "" || strings.Contains(reason, "\n") {
			t.Errorf("%s: reason must be one non-empty line", name)
		}
	}
	clear(d)
	if len(certlint.Disabled()) == 0 {
		t.Error("changing the returned map changed the package's list")
	}
}

// TestValidityLimit: the limit reported for a validity period that is too
// long is the tightest rule in force at the certificate's notBefore, with
// the body that sets it and the date it applies from.
func TestValidityLimit(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name      string
		notBefore time.Time
		validity  time.Duration // notAfter − notBefore
		want      certlint.ValidityLimit
		others    int // further validity lints failing
	}{
		{"500 days in 2026", now, 500 * 24 * time.Hour, certlint.ValidityLimit{Lint: "w_server_cert_valid_time_longer_than_199_days",
			Days: 199, Authority: "CA/B Forum BR", Applies: "TLS server certificates issued from 2026-03-15"}, 3},
		// 199 days + the notAfter second: over the SHOULD NOT of 199 days only.
		{"199 days in 2026", now, 199 * 24 * time.Hour, certlint.ValidityLimit{Lint: "w_server_cert_valid_time_longer_than_199_days",
			Days: 199, Authority: "CA/B Forum BR", Applies: "TLS server certificates issued from 2026-03-15"}, 0},
		{"500 days in 2025", time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), 500 * 24 * time.Hour, certlint.ValidityLimit{Lint: "w_tls_server_cert_valid_time_longer_than_397_days",
			Days: 397, Authority: "Apple root program", Applies: "TLS server certificates issued from 2020-09-01"}, 1},
		{"900 days in 2028", time.Date(2028, 1, 10, 0, 0, 0, 0, time.UTC), 900 * 24 * time.Hour, certlint.ValidityLimit{Lint: "w_server_cert_valid_time_longer_than_99_days",
			Days: 99, Authority: "CA/B Forum BR", Applies: "TLS server certificates issued from 2027-03-15"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := certlint.Check(p.leaf(t, func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = tc.notBefore, tc.notBefore.Add(tc.validity)
			}))
			var le *certlint.LintError
			if !errors.As(err, &le) {
				t.Fatalf("Check = %v, want a *LintError", err)
			}
			got, ok := le.ValidityLimit()
			if !ok || got != tc.want {
				t.Errorf("ValidityLimit = %+v, %v; want %+v", got, ok, tc.want)
			}
			n := 0
			for _, f := range le.Findings {
				if f.CapsValidity() {
					n++
				}
			}
			if n != tc.others+1 {
				t.Errorf("%d findings cap the validity, want %d: %v", n, tc.others+1, le)
			}
		})
	}
	t.Run("no validity finding", func(t *testing.T) {
		err := certlint.Check(p.leaf(t, func(c *x509.Certificate) { c.IssuingCertificateURL = []string{"https://ca.example.com/ca.der"} }))
		var le *certlint.LintError
		if !errors.As(err, &le) {
			t.Fatalf("Check = %v, want a *LintError", err)
		}
		if l, ok := le.ValidityLimit(); ok {
			t.Errorf("ValidityLimit = %+v, want none", l)
		}
	})
}

// TestLintCACRLBound: a CRL valid 200 days fails the ten-day bound of a
// CRL over subscriber certificates (LintCRL) and passes the twelve-month
// bound of one over CA certificates (LintCACRL); one valid 13 months
// fails both; LintCRL after LintCACRL still applies the ten days (the
// global registry keeps its configuration: the loop runs LintCACRL first).
func TestLintCACRLBound(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	names := func(r certlint.Result) []string {
		var out []string
		for _, f := range r.Findings {
			out = append(out, f.Lint)
		}
		return out
	}
	for _, tc := range []struct {
		validity       time.Duration
		subscriber, ca bool // e_crl_next_update_invalid found
	}{
		{200 * 24 * time.Hour, true, false},
		{396 * 24 * time.Hour, true, true},
	} {
		der := testCRL(t, now, now.Add(tc.validity))
		for _, lintCA := range []bool{true, false} {
			lintFn, want := certlint.LintCRL, tc.subscriber
			if lintCA {
				lintFn, want = certlint.LintCACRL, tc.ca
			}
			res, err := lintFn(der)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Contains(names(res), "e_crl_next_update_invalid"); got != want {
				t.Errorf("validity %v, CA CRL %v: e_crl_next_update_invalid %v, want %v (%v)", tc.validity, lintCA, got, want, res.Findings)
			}
		}
	}
}

// testCRL is a CRL of a test CA, empty, from thisUpdate to nextUpdate.
func testCRL(t *testing.T, thisUpdate, nextUpdate time.Time) []byte {
	t.Helper()
	p := newPKI(t)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}, p.cert, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
