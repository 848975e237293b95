package certlint_test

import (
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
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

// BenchmarkPreIssuanceLint is the pre-issuance lint of one ECDSA P-256
// subscriber certificate (zcrypto parse and every lint).
func BenchmarkPreIssuanceLint(b *testing.B) {
	p := newPKI(b)
	der := p.leaf(b, nil)
	l, err := certlint.NewPreIssuanceLinter()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := l.Check(der); err != nil {
			b.Fatal(err)
		}
	}
}
