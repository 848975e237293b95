package server

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/config"
)

// LintSettingError reports that a setting makes the built-in CA's
// certificates fail the issuance lint, found by linting a sample
// certificate before any is issued (preflight, LintProfile). Its text is
// one line naming the setting and, for a validity period over a limit, the
// limit that applies and who sets it.
type LintSettingError struct {
	// Profile is the profile whose field is at fault; "" for a setting of
	// `certgate serve`.
	Profile string
	// Setting is the serve setting ("cert-validity") or the profile field
	// ("validity", "maxValidity") the sample certificate was made with.
	Setting string
	// Value is the setting's value: the sample certificate's notAfter −
	// notBefore.
	Value time.Duration
	// Lint holds every failing lint.
	Lint *certlint.LintError
}

// lintSettingError returns a *LintSettingError when err (from
// local.CA.CheckLeaf) carries lint findings, else err with the setting
// named.
func lintSettingError(profile, setting string, value time.Duration, err error) error {
	var le *certlint.LintError
	if errors.As(err, &le) {
		return &LintSettingError{Profile: profile, Setting: setting, Value: value, Lint: le}
	}
	prefix := ""
	if profile != "" {
		prefix = "profile " + profile + ": "
	}
	return fmt.Errorf("%s%s %s: sample certificate: %w", prefix, setting, config.FormatDuration(value), err)
}

// Error is e.g. "cert-validity 500d: leaf certificates would fail lint
// (CA/B Forum BR: at most 199 days for TLS server certificates issued from
// 2026-03-15, so cert-validity must be at most 199d;
// w_server_cert_valid_time_longer_than_199_days and 3 more lints)". The
// setting is the validity period as the BR count it, notAfter second
// included (RFC 5280 §4.1.2.5): a setting of 199d gives a period of
// exactly 199 days.
// Findings that do not concern the validity period follow, each with its
// details.
func (e *LintSettingError) Error() string {
	var b strings.Builder
	if e.Profile != "" {
		fmt.Fprintf(&b, "profile %s: ", e.Profile)
	}
	var rest []string
	validity := 0
	for _, f := range e.Lint.Findings {
		if f.CapsValidity() {
			validity++
			continue
		}
		s := f.Lint
		if f.Details != "" {
			s += ": " + f.Details
		}
		if f.Citation != "" && !strings.Contains(f.Citation, "://") {
			s += " [" + f.Citation + "]"
		}
		rest = append(rest, s)
	}
	if limit, ok := e.Lint.ValidityLimit(); ok {
		fmt.Fprintf(&b, "%s %s: leaf certificates would fail lint (%s: at most %d days for %s, so %s must be at most %dd; %s",
			e.Setting, config.FormatDuration(e.Value), limit.Authority, limit.Days, limit.Applies, e.Setting, limit.Days, limit.Lint)
		switch validity {
		case 1:
		case 2:
			b.WriteString(" and 1 more lint")
		default:
			fmt.Fprintf(&b, " and %d more lints", validity-1)
		}
		b.WriteString(")")
	} else {
		b.WriteString("leaf certificates would fail lint")
	}
	if len(rest) > 0 {
		b.WriteString(": " + strings.Join(rest, "; "))
	}
	return b.String()
}

// Unwrap returns the lint findings.
func (e *LintSettingError) Unwrap() error { return e.Lint }
