package certlint_test

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/cputime"
)

// TestLinterMatchesLint checks that a Linter built with no extra skips
// reports exactly what Lint reports (same lints, levels, details, in the
// same order), for clean and failing certificates, and that a
// pre-issuance Linter reports the same except for its skipped lints.
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
	for name, mutate := range map[string]func(*x509.Certificate){
		"clean": nil,
		"https URLs and long validity": func(c *x509.Certificate) {
			c.IssuingCertificateURL = []string{"https://ca.example.com/ca.der"}
			c.CRLDistributionPoints = []string{"https://ca.example.com/ca.crl"}
			c.NotAfter = c.NotBefore.Add(300 * 24 * time.Hour)
		},
		"no policies, no EKU": func(c *x509.Certificate) {
			c.Policies = nil
			c.ExtKeyUsage = nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			der := p.leaf(t, mutate)
			r, err := certlint.Lint(der)
			if err != nil {
				t.Fatal(err)
			}
			if name != "clean" && r.OK() {
				t.Fatal("the test certificate is lint-clean; it should fail some lints")
			}
			for _, tc := range []struct {
				name string
				l    *certlint.Linter
				skip map[string]string
			}{{"NewLinter()", all, nil}, {"NewPreIssuanceLinter()", pre, certlint.PreIssuanceSkipped()}} {
				want := slices.DeleteFunc(slices.Clone(r.Findings), func(f certlint.Finding) bool { _, ok := tc.skip[f.Lint]; return ok })
				var got []certlint.Finding
				var le *certlint.LintError
				if err := tc.l.Check(der); errors.As(err, &le) {
					got = le.Findings
				} else if err != nil {
					t.Fatalf("%s.Check: %v", tc.name, err)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s.Check findings = %v, want %v", tc.name, got, want)
				}
			}
		})
	}
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
