package certlint

import (
	"os"
	"strings"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3/lint"
)

// TestAuditedZlintVersion fails when go.mod requires another zlint than
// the one auditedLints was read against: read the lints it names again
// (CheckApplies and Execute must not write the instance) and update
// auditedZlintVersion.
func TestAuditedZlintVersion(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(mod)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "github.com/zmap/zlint/v3" {
			if f[1] != auditedZlintVersion {
				t.Fatalf("go.mod requires zlint %s, auditedLints was read for %s: read its lints again", f[1], auditedZlintVersion)
			}
			return
		}
	}
	t.Fatal("go.mod does not require github.com/zmap/zlint/v3")
}

// TestSharedLints checks that every name in auditedLints is a registered
// lint, and that with the audited zlint every certificate lint runs from a
// shared instance (a lint left out would silently cost a construction per
// certificate again).
func TestSharedLints(t *testing.T) {
	l, err := NewLinter()
	if err != nil {
		t.Fatal(err)
	}
	for name := range auditedLints() {
		if lint.GlobalRegistry().ByName(name) == nil {
			t.Errorf("auditedLints names %s, which is not a registered lint", name)
		}
	}
	for _, rl := range l.lints {
		if rl.shared == nil {
			t.Errorf("%s is built per certificate", rl.Name)
		}
	}
}

type panicLint struct{ in string }

func (p *panicLint) CheckApplies(*zx509.Certificate) bool {
	if p.in == "CheckApplies" {
		panic("boom in CheckApplies")
	}
	return true
}

func (p *panicLint) Execute(*zx509.Certificate) *lint.LintResult {
	if p.in == "Execute" {
		panic("boom in Execute")
	}
	return &lint.LintResult{Status: lint.Warn, Details: "ran"}
}

type configurableLint struct{ panicLint }

func (c *configurableLint) Configure() any { return c }

// TestRunSharedMatchesExecute compares runShared with zlint's own
// CertificateLint.Execute on lints that panic, are filtered by source or
// are not yet effective.
func TestRunSharedMatchesExecute(t *testing.T) {
	c := &zx509.Certificate{NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		ExtKeyUsage: []zx509.ExtKeyUsage{zx509.ExtKeyUsageClientAuth}}
	cfg := lint.NewEmptyConfig()
	for _, tc := range []struct {
		name string
		md   lint.LintMetadata
		in   string
	}{
		{"panic in CheckApplies", lint.LintMetadata{Source: lint.Community}, "CheckApplies"},
		{"panic in Execute", lint.LintMetadata{Source: lint.Community}, "Execute"},
		{"warn", lint.LintMetadata{Source: lint.RFC5280}, ""},
		{"TLS BR on a client certificate", lint.LintMetadata{Source: lint.CABFBaselineRequirements}, ""},
		{"TLS BR with OverrideFrameworkFilter", lint.LintMetadata{Source: lint.CABFBaselineRequirements, OverrideFrameworkFilter: true}, ""},
		{"S/MIME BR", lint.LintMetadata{Source: lint.CABFSMIMEBaselineRequirements}, ""},
		{"code-signing BR", lint.LintMetadata{Source: lint.CABFCSBaselineRequirements}, ""},
		{"not yet effective", lint.LintMetadata{Source: lint.Community, EffectiveDate: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}, "Execute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.md.Name = "x_test"
			cl := &lint.CertificateLint{LintMetadata: tc.md, Lint: func() lint.CertificateLintInterface { return &panicLint{in: tc.in} }}
			want := cl.Execute(c, cfg)
			got := runShared(cl, &panicLint{in: tc.in}, &certFacts{c: c})
			if got == nil {
				if want.Status != lint.NA && want.Status != lint.NE {
					t.Fatalf("runShared = nil, zlint %v", want)
				}
				return
			}
			if *got != *want {
				t.Errorf("runShared = %+v, zlint %+v", *got, *want)
			}
		})
	}
	// A fielded, configurable type not in auditedLints is not shared.
	cl := &lint.CertificateLint{LintMetadata: lint.LintMetadata{Name: "x_test"},
		Lint: func() lint.CertificateLintInterface { return &configurableLint{} }}
	if shareLint(cl, cfg, auditedLints()) != nil {
		t.Error("an unaudited configurable lint is shared")
	}
	cl.Lint = func() lint.CertificateLintInterface { panic("constructor") }
	if shareLint(cl, cfg, auditedLints()) != nil {
		t.Error("a lint whose constructor panics is shared")
	}
}
