// Package certlint runs zlint (github.com/zmap/zlint/v3) over certificates
// and CRLs produced by certgate's issuers and reports the findings that
// matter: warnings, errors and fatals. Notices, informational results,
// passes, "not applicable" and "not effective" results are dropped.
//
// A small, explicit set of lints is skipped because it does not apply to a
// private CA that issues for internal and test names; see Disabled. Every
// other registered lint (all sources: CA/B Forum BRs, RFC 5280, Mozilla,
// Apple, Chrome, ETSI, community) must pass.
package certlint

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// Level is the severity of a finding, as reported by zlint.
type Level string

// Severities kept by Lint; lower zlint statuses (notice, info, pass, NA, NE)
// are dropped.
const (
	LevelWarn  Level = "warn"  // a SHOULD / SHOULD NOT was not met
	LevelError Level = "error" // a MUST / MUST NOT was not met
	LevelFatal Level = "fatal" // the lint could not run (e.g. unparsable extension)
)

// Finding is one failing lint.
type Finding struct {
	// Lint is the zlint name, e.g. "e_dnsname_not_valid_tld".
	Lint string
	// Level is the severity.
	Level Level
	// Details is zlint's explanation, possibly empty.
	Details string
	// Citation is the requirement the lint enforces, e.g. "BRs: 7.1.2.3".
	Citation string
	// Source is the body of requirements, e.g. "CABF_BR" or "RFC5280".
	Source string
}

// String renders the finding as "name (level): details [citation]".
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", f.Lint, f.Level)
	if f.Details != "" {
		fmt.Fprintf(&b, ": %s", f.Details)
	}
	if f.Citation != "" {
		fmt.Fprintf(&b, " [%s]", f.Citation)
	}
	return b.String()
}

// Result is the outcome of linting one certificate or CRL.
type Result struct {
	// Findings holds every warn/error/fatal result of a lint not in
	// Disabled, sorted by lint name. Empty means the object is lint-clean.
	Findings []Finding
}

// OK reports whether there are no findings.
func (r Result) OK() bool { return len(r.Findings) == 0 }

// Err returns nil when r has no findings, else a *LintError listing them.
func (r Result) Err() error {
	if r.OK() {
		return nil
	}
	return &LintError{Findings: slices.Clone(r.Findings)}
}

// LintError is returned by Check and CheckCRL when at least one lint fails.
// Use errors.As to get at the individual findings.
type LintError struct {
	// Findings is non-empty and sorted by lint name.
	Findings []Finding
}

// Error names every failing lint with its level and details.
func (e *LintError) Error() string {
	parts := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		parts[i] = f.String()
	}
	return fmt.Sprintf("certlint: %d lint(s) failed: %s", len(e.Findings), strings.Join(parts, "; "))
}

// ErrParse is wrapped by the errors Lint and LintCRL return when the DER
// cannot be parsed by zcrypto (zlint's X.509 parser).
var ErrParse = errors.New("certlint: cannot parse")

// disabled is the single source of truth for Disabled. It is a function so
// that the package holds no mutable state.
func disabled() map[string]string {
	return map[string]string{
		// Private CA scope: internal names and addresses.
		"e_dnsname_not_valid_tld":                "private CA issues for internal names under TLDs outside the IANA root zone (.test, .localhost, .internal; RFC 6761)",
		"e_ext_san_contains_reserved_ip":         "private CA issues for loopback/private IP addresses (127.0.0.1, ::1, RFC 1918), which are IANA-reserved",
		"e_subject_contains_reserved_ip":         "same as e_ext_san_contains_reserved_ip, for the CN copy of the first IP SAN",
		"w_sub_cert_aia_contains_internal_names": "private CA serves caIssuers from internal hosts (localhost, *.test, host:port); the BR rule targets publicly-trusted certificates",
		// Profile choices that contradict a lint.
		"w_ext_subject_key_identifier_missing_sub_cert": "contradicts BR 7.1.2.7.6 (SKI NOT RECOMMENDED for subscriber certificates, enforced by w_ext_subject_key_identifier_not_recommended_subscriber); we follow the BR",
		"w_subject_common_name_included":                "profile choice: leaves carry CN = first SAN for older clients and tooling; BR 7.1.2.7.1 deprecates (NOT RECOMMENDED) but allows it",
	}
}

// Disabled returns the lints deliberately skipped, keyed by zlint name, with
// a one-line reason each. The map is a fresh copy on every call; changing it
// has no effect on linting.
func Disabled() map[string]string { return disabled() }

// Lint parses der as an X.509 certificate and runs every registered zlint
// certificate lint on it, returning the warn/error/fatal findings of lints
// not in Disabled. The error is non-nil (wrapping ErrParse) only when der
// cannot be parsed; lint failures are reported in Result, not as an error.
func Lint(der []byte) (Result, error) {
	c, err := zx509.ParseCertificate(der)
	if err != nil {
		return Result{}, fmt.Errorf("%w certificate: %w", ErrParse, err)
	}
	return collect(zlint.LintCertificate(c)), nil
}

// LintCRL is Lint for a DER-encoded certificate revocation list (RFC 5280
// §5): it runs every registered zlint revocation-list lint.
func LintCRL(der []byte) (Result, error) {
	crl, err := zx509.ParseRevocationList(der)
	if err != nil {
		return Result{}, fmt.Errorf("%w CRL: %w", ErrParse, err)
	}
	return collect(zlint.LintRevocationList(crl)), nil
}

// LintCACRL is LintCRL for a CRL over CA certificates, such as a root's
// CRL: e_crl_next_update_invalid checks the bound BR §4.9.7 sets for such
// CRLs (nextUpdate at most twelve months after thisUpdate) instead of the
// ten days of a CRL over subscriber certificates. The lint registry it
// runs is its own (zlint's global one keeps its configuration).
func LintCACRL(der []byte) (Result, error) {
	crl, err := zx509.ParseRevocationList(der)
	if err != nil {
		return Result{}, fmt.Errorf("%w CRL: %w", ErrParse, err)
	}
	reg, err := lint.GlobalRegistry().Filter(lint.FilterOptions{ExcludeNames: slices.Sorted(maps.Keys(disabled()))})
	if err != nil {
		return Result{}, fmt.Errorf("certlint: %w", err)
	}
	cfg, err := lint.NewConfigFromString("[e_crl_next_update_invalid]\nSubscriberCRL = false\n")
	if err != nil {
		return Result{}, fmt.Errorf("certlint: %w", err)
	}
	reg.SetConfiguration(cfg)
	return collect(zlint.LintRevocationListEx(crl, reg)), nil
}

// CheckCACRL is CheckCRL for a CRL over CA certificates (see LintCACRL).
func CheckCACRL(der []byte) error {
	r, err := LintCACRL(der)
	if err != nil {
		return err
	}
	return r.Err()
}

// Check lints the DER certificate and returns nil if it is clean, a
// *LintError naming every failing lint otherwise, or a parse error wrapping
// ErrParse.
func Check(der []byte) error {
	r, err := Lint(der)
	if err != nil {
		return err
	}
	return r.Err()
}

// CheckCRL is Check for a DER-encoded CRL.
func CheckCRL(der []byte) error {
	r, err := LintCRL(der)
	if err != nil {
		return err
	}
	return r.Err()
}

func collect(rs *zlint.ResultSet) Result {
	skip := disabled()
	var out Result
	for _, name := range slices.Sorted(maps.Keys(rs.Results)) {
		if _, ok := skip[name]; ok {
			continue
		}
		res := rs.Results[name]
		if f, ok := finding(name, res, res.LintMetadata); ok {
			out.Findings = append(out.Findings, f)
		}
	}
	return out
}

// finding turns the result of lint name into a Finding when its status is
// warn, error or fatal; ok is false for every lower status.
func finding(name string, res *lint.LintResult, md lint.LintMetadata) (f Finding, ok bool) {
	var lvl Level
	switch res.Status {
	case lint.Warn:
		lvl = LevelWarn
	case lint.Error:
		lvl = LevelError
	case lint.Fatal:
		lvl = LevelFatal
	default:
		return Finding{}, false
	}
	return Finding{
		Lint:     name,
		Level:    lvl,
		Details:  res.Details,
		Citation: md.Citation,
		Source:   string(md.Source),
	}, true
}
