package certlint

import (
	"fmt"
	"maps"
	"slices"

	"strings"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3/lint"
)

// PreIssuanceSkipped lists the lints a Linter for pre-issuance checks
// leaves out, with the reason. A pre-issuance certificate is signed by a
// throwaway key, so lints about who signed it say nothing about the
// certificate that will be issued.
func PreIssuanceSkipped() map[string]string {
	return map[string]string{
		// Costs about 5 ms per certificate: it tries the signature against
		// eight compromised third-party P-384 keys.
		"e_cert_issued_by_compromised_emudhra_ca": "checks the signature against eMudhra's compromised CA keys; the pre-issuance certificate is signed by a throwaway key and certgate's issuers use their own keys",
	}
}

// Linter runs a fixed set of zlint certificate lints: every registered
// lint except Disabled() and the names it was built to skip. Skipped lints
// are not run at all, so they cost nothing. Safe for concurrent use.
//
// The lints to run are resolved once, in NewLinter, and Check runs them
// in name order itself, keeping only the failures: zlint's
// LintCertificateEx sorts the registry's ~420 names and builds a result
// for every lint on each call, which cost about a quarter of a
// certificate's lint time.
//
// e_ecdsa_small_private_key runs from precomputed tables for P-256 and
// P-384 keys (see smallKeys), with the same result as zlint's.
//
// Lint implementations are built (and configured) once per Linter and
// shared by every certificate and goroutine when that is safe (see
// shareLint); zlint builds and configures a new one for every lint of
// every certificate. The framework filter zlint applies before each
// CA/B Forum lint is evaluated once per certificate.
type Linter struct {
	reg       lint.Registry
	lints     []resolvedLint // sorted by name
	smallKeys *smallKeys
}

// resolvedLint is one lint of a Linter.
type resolvedLint struct {
	*lint.CertificateLint
	// shared is the instance every certificate uses, or nil when zlint
	// builds one per certificate.
	shared lint.CertificateLintInterface
}

// NewLinter returns a Linter that also skips the lints named in skip.
// It fails when a name is not a registered lint.
func NewLinter(skip ...string) (*Linter, error) {
	names := append(slices.Collect(maps.Keys(disabled())), skip...)
	for _, n := range skip {
		if lint.GlobalRegistry().ByName(n) == nil {
			return nil, fmt.Errorf("certlint: no lint named %q", n)
		}
	}
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{ExcludeNames: names})
	if err != nil {
		return nil, fmt.Errorf("certlint: build registry: %w", err)
	}
	cls := slices.Clone(reg.CertificateLints().Lints())
	slices.SortFunc(cls, func(a, b *lint.CertificateLint) int { return strings.Compare(a.Name, b.Name) })
	cfg, audited := reg.GetConfiguration(), auditedLints()
	lints := make([]resolvedLint, len(cls))
	for i, cl := range cls {
		lints[i] = resolvedLint{CertificateLint: cl, shared: shareLint(cl, cfg, audited)}
	}
	return &Linter{reg: reg, lints: lints, smallKeys: newSmallKeys()}, nil
}

// NewPreIssuanceLinter returns a Linter that skips PreIssuanceSkipped().
func NewPreIssuanceLinter() (*Linter, error) {
	return NewLinter(slices.Collect(maps.Keys(PreIssuanceSkipped()))...)
}

// Check lints the DER certificate: nil when clean, a *LintError naming
// every failing lint, or a parse error wrapping ErrParse.
func (l *Linter) Check(der []byte) error {
	c, err := zx509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("%w certificate: %w", ErrParse, err)
	}
	cfg := l.reg.GetConfiguration()
	skt, pub := l.smallKeys.table(c)
	facts := certFacts{c: c}
	var out Result
	for _, cl := range l.lints {
		var res *lint.LintResult
		switch {
		case skt != nil && cl.Name == smallKeyLint:
			res = skt.execute(pub)
		case cl.shared != nil:
			if res = runShared(cl.CertificateLint, cl.shared, &facts); res == nil {
				continue // NA or NE
			}
		default:
			// Execute recovers a panicking lint as a Fatal result.
			res = cl.Execute(c, cfg)
		}
		if f, ok := finding(cl.Name, res, cl.LintMetadata); ok {
			out.Findings = append(out.Findings, f)
		}
	}
	return out.Err()
}
