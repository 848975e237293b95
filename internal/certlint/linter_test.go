package certlint_test

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/cputime"
)

// TestLinterMatchesLint checks that a Linter built with no extra skips
// reports exactly what zlint's own LintCertificateEx reports (same lints,
// levels, details, citations, in name order) but for Disabled(), and that
// a pre-issuance Linter reports the same except for its skipped lints.
// The certificates are clean and failing ones of every kind the lints
// distinguish: TLS server, CA, S/MIME, code-signing, RSA and ECDSA keys,
// each configurable or stateful lint triggered (Linter shares their
// instances across certificates), and old certificates for which lints
// are not yet effective. All certificates are checked first one by one,
// then again from eight goroutines at once (run with -race).
func TestLinterMatchesLint(t *testing.T) {
	p := newPKI(t)
	all, err := certlint.NewLinter()
	if err != nil {
		t.Fatal(err)
	}
	pre, err := certlint.NewPreIssuanceLinter()
	if err != nil {
		t.Fatal(err)
	}
	oid := func(arcs ...uint64) x509.OID {
		o, err := x509.OIDFromInts(arcs)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	type tc struct {
		name   string
		pub    any // nil: a fresh P-256 key
		mutate func(*x509.Certificate)
		clean  bool
	}
	cases := []tc{
		{"clean", nil, nil, true},
		{"clean P-384", p384.Public(), nil, true},
		{"clean RSA", rsaKey.Public(), func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageKeyEncipherment }, true},
		{"https URLs and long validity", nil, func(c *x509.Certificate) {
			c.IssuingCertificateURL = []string{"https://ca.example.com/ca.der"}
			c.CRLDistributionPoints = []string{"https://ca.example.com/ca.crl"}
			c.NotAfter = c.NotBefore.Add(300 * 24 * time.Hour)
		}, false},
		{"no policies, no EKU", nil, func(c *x509.Certificate) {
			c.Policies = nil
			c.ExtKeyUsage = nil
		}, false},
		{"bad characters in DNS names", nil, func(c *x509.Certificate) {
			c.Subject.CommonName = "a!b.example.com"
			c.DNSNames = []string{"a!b.example.com", "x y.example.com", "-a.example.com", "*.*.example.com", "a..example.com"}
		}, false},
		{"HTML entity and OU in subject", nil, func(c *x509.Certificate) {
			c.Subject.Organization = []string{"A &amp; B"}
			c.Subject.OrganizationalUnit = []string{"unit"}
			c.Subject.Country = []string{"us"}
		}, false},
		{"RSA exponent 3", &rsa.PublicKey{N: rsaKey.N, E: 3}, func(c *x509.Certificate) { c.KeyUsage |= x509.KeyUsageKeyEncipherment }, false},
		{"RSA modulus with close factors", closePrimesKey(t), nil, false},
		{"small ECDSA key", keyWithScalar(t, elliptic.P256(), big.NewInt(4242)), nil, false},
		{"subordinate CA", nil, func(c *x509.Certificate) {
			c.IsCA = true
			c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
			c.Subject = pkix.Name{OrganizationalUnit: []string{"unit"}, Country: []string{"ZZ"}}
			c.DNSNames = nil
			c.Policies = []x509.OID{oid(2, 23, 140, 1, 2, 1), oid(2, 23, 140, 1, 2, 2)}
		}, false},
		{"CA without subject", nil, func(c *x509.Certificate) {
			c.IsCA = true
			c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
			c.Subject = pkix.Name{}
		}, false},
		{"S/MIME mailbox-validated", nil, func(c *x509.Certificate) {
			c.Subject = pkix.Name{CommonName: "a@example.com", Organization: []string{"org"}, Locality: []string{"town"}}
			c.DNSNames = nil
			c.EmailAddresses = []string{"a@example.com"}
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
			c.Policies = []x509.OID{oid(2, 23, 140, 1, 5, 1, 3)}
		}, false},
		{"code signing", nil, func(c *x509.Certificate) {
			c.Subject = pkix.Name{CommonName: "signer"}
			c.DNSNames = nil
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
			c.Policies = []x509.OID{oid(2, 23, 140, 1, 4, 1)}
			c.NotAfter = c.NotBefore.Add(500 * 24 * time.Hour)
		}, false},
		{"IP address only, no subject", nil, func(c *x509.Certificate) {
			c.Subject = pkix.Name{}
			c.DNSNames = nil
			c.IPAddresses = []net.IP{net.IPv4(192, 0, 2, 1).To4(), net.ParseIP("2001:db8::1")}
		}, true},
		{"issued in 2012 (lints not yet effective)", nil, func(c *x509.Certificate) {
			c.NotBefore = time.Date(2012, time.March, 1, 0, 0, 0, 0, time.UTC)
			c.NotAfter = c.NotBefore.Add(5 * 365 * 24 * time.Hour)
			c.Subject.CommonName = "a_b.example.com"
			c.DNSNames = []string{"a_b.example.com"}
		}, false},
	}
	type check struct {
		name string
		l    *certlint.Linter
		want []certlint.Finding
	}
	var checks []check
	var ders [][]byte
	for _, c := range cases {
		pub := c.pub
		if pub == nil {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			pub = k.Public()
		}
		der := p.leafWithKey(t, pub, c.mutate)
		want := zlintFindings(t, der)
		if c.clean != (len(want) == 0) {
			t.Fatalf("%s: zlint findings %v; the test wants the certificate clean: %v", c.name, want, c.clean)
		}
		ders = append(ders, der)
		checks = append(checks,
			check{c.name + "/NewLinter()", all, want},
			check{c.name + "/NewPreIssuanceLinter()", pre, slices.DeleteFunc(slices.Clone(want), func(f certlint.Finding) bool {
				_, ok := certlint.PreIssuanceSkipped()[f.Lint]
				return ok
			})})
	}
	run := func(i int) error {
		c := checks[i]
		var got []certlint.Finding
		var le *certlint.LintError
		if err := c.l.Check(ders[i/2]); errors.As(err, &le) {
			got = le.Findings
		} else if err != nil {
			return fmt.Errorf("%s: Check: %w", c.name, err)
		}
		if !slices.Equal(got, c.want) {
			return fmt.Errorf("%s: Check findings = %v, want %v", c.name, got, c.want)
		}
		return nil
	}
	for i := range checks {
		if err := run(i); err != nil {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(checks))
	for g := range 8 {
		wg.Go(func() {
			for j := range checks {
				if err := run((j + g*5) % len(checks)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error("concurrent:", err)
	}
}

// zlintFindings runs zlint's LintCertificateEx with the global registry
// on der and returns its warn, error and fatal results, but for the
// lints in certlint.Disabled(), as Findings in name order.
func zlintFindings(t *testing.T, der []byte) []certlint.Finding {
	t.Helper()
	c, err := zx509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	rs := zlint.LintCertificateEx(c, lint.GlobalRegistry())
	levels := map[lint.LintStatus]certlint.Level{lint.Warn: certlint.LevelWarn, lint.Error: certlint.LevelError, lint.Fatal: certlint.LevelFatal}
	var out []certlint.Finding
	for _, name := range slices.Sorted(maps.Keys(rs.Results)) {
		res := rs.Results[name]
		lvl, ok := levels[res.Status]
		if _, off := certlint.Disabled()[name]; !ok || off {
			continue
		}
		out = append(out, certlint.Finding{Lint: name, Level: lvl, Details: res.Details,
			Citation: res.LintMetadata.Citation, Source: string(res.LintMetadata.Source)})
	}
	return out
}

// closePrimesKey returns an RSA-2048 public key whose factors are
// consecutive primes, which e_rsa_fermat_factorization reports.
func closePrimesKey(t *testing.T) *rsa.PublicKey {
	t.Helper()
	p, err := rand.Prime(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	q := new(big.Int).Add(p, big.NewInt(2))
	for !q.ProbablyPrime(20) {
		q.Add(q, big.NewInt(2))
	}
	return &rsa.PublicKey{N: new(big.Int).Mul(p, q), E: 65537}
}

// keyWithScalar returns the ECDSA public key d*G on curve.
func keyWithScalar(t testing.TB, curve elliptic.Curve, d *big.Int) *ecdsa.PublicKey {
	t.Helper()
	ec := map[elliptic.Curve]ecdh.Curve{elliptic.P256(): ecdh.P256(), elliptic.P384(): ecdh.P384()}[curve]
	k, err := ec.NewPrivateKey(d.FillBytes(make([]byte, (curve.Params().BitSize+7)/8)))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, k.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestLinterSmallKeys checks the Linter's own e_ecdsa_small_private_key
// against zlint's: private scalars 1, 2, 12345, 2^16 and the negations
// n-1, n-54321 are reported, 2^16+1 and a random key are not, on P-256
// and P-384, with the same findings as Lint.
func TestLinterSmallKeys(t *testing.T) {
	p := newPKI(t)
	l, err := certlint.NewPreIssuanceLinter()
	if err != nil {
		t.Fatal(err)
	}
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		n := curve.Params().N
		random, err := rand.Int(rand.Reader, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			d    *big.Int
			weak bool
		}{
			{"1", big.NewInt(1), true},
			{"2", big.NewInt(2), true},
			{"12345", big.NewInt(12345), true},
			{"2^16", big.NewInt(1 << 16), true},
			{"n-1", new(big.Int).Sub(n, big.NewInt(1)), true},
			{"n-54321", new(big.Int).Sub(n, big.NewInt(54321)), true},
			{"2^16+1", big.NewInt(1<<16 + 1), false},
			{"random", random.Add(random, big.NewInt(1<<20)), false},
		} {
			t.Run(curve.Params().Name+" d="+tc.name, func(t *testing.T) {
				pub := keyWithScalar(t, curve, tc.d)
				der := p.leafWithKey(t, pub, nil)
				r, err := certlint.Lint(der)
				if err != nil {
					t.Fatal(err)
				}
				zlintWeak := slices.ContainsFunc(r.Findings, func(f certlint.Finding) bool { return f.Lint == "e_ecdsa_small_private_key" })
				if zlintWeak != tc.weak {
					t.Fatalf("zlint reports the key weak: %v, want %v (findings %v)", zlintWeak, tc.weak, r.Findings)
				}
				var got []certlint.Finding
				var le *certlint.LintError
				if err := l.Check(der); errors.As(err, &le) {
					got = le.Findings
				} else if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, r.Findings) {
					t.Errorf("Linter findings = %v, want zlint's %v", got, r.Findings)
				}
			})
		}
	}
}

// BenchmarkPreIssuanceLint is the pre-issuance lint of one ECDSA P-256
// subscriber certificate (zcrypto parse and every lint).
func BenchmarkPreIssuanceLint(b *testing.B) {
	p := newPKI(b)
	der := p.leaf(b, nil)
	l, err := certlint.NewPreIssuanceLinter()
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Check(der); err != nil { // first use sorts the small-key index
		b.Fatal(err)
	}
	cpu0 := cputime.Process()
	for b.Loop() {
		if err := l.Check(der); err != nil {
			b.Fatal(err)
		}
	}
	cputime.ReportPerOp(b, cpu0)
}
