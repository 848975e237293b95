package certlint

import (
	"sync"
	"time"

	"github.com/zmap/zlint/v3/lint"
)

// ValidityLimit is the longest validity period a lint allows, as named by
// the lint that enforces it.
type ValidityLimit struct {
	// Lint is the zlint name, e.g. "w_server_cert_valid_time_longer_than_199_days".
	Lint string
	// Days is the longest validity period in days of 86,400 seconds. zlint
	// counts the period from notBefore through notAfter inclusive (RFC 5280
	// §4.1.2.5): notAfter − notBefore + 1 second must not exceed it.
	Days int
	// Authority is who sets the limit: "CA/B Forum BR" or "Apple root
	// program" (from the lint's source).
	Authority string
	// Applies says which certificates the limit covers, with the date from
	// which it is in force (the lint's effective date), e.g. "TLS server
	// certificates issued from 2026-03-15".
	Applies string
}

// appliesTLSServer is ValidityLimit.Applies of the limits on TLS server
// certificates.
const appliesTLSServer = "TLS server certificates"

// validityLints is the single source of truth for the lints that cap a
// certificate's validity period: the cap in days and the certificates it
// covers. A test checks it against zlint's registry.
// e_sub_cert_valid_time_longer_than_39_months has no limit in days (0):
// every certificate it fails also fails the 825-day lint, which is
// tighter and is reported instead.
func validityLints() map[string]struct {
	days    int
	applies string
} {
	type v = struct {
		days    int
		applies string
	}
	const tls, sub = appliesTLSServer, "subscriber certificates"
	return map[string]v{
		// CA/B Forum ballot SC-081: 200 days from 2026-03-15, 100 from
		// 2027-03-15, 47 from 2029-03-15 (MUST NOT), each one day less as
		// a SHOULD NOT.
		"w_server_cert_valid_time_longer_than_199_days":     {199, tls},
		"e_server_cert_valid_time_longer_than_200_days":     {200, tls},
		"w_server_cert_valid_time_longer_than_99_days":      {99, tls},
		"e_server_cert_valid_time_longer_than_100_days":     {100, tls},
		"w_server_cert_valid_time_longer_than_46_days":      {46, tls},
		"e_server_cert_valid_time_longer_than_47_days":      {47, tls},
		"e_sub_cert_valid_time_longer_than_825_days":        {825, sub},
		"e_sub_cert_valid_time_longer_than_39_months":       {0, sub},
		"w_tls_server_cert_valid_time_longer_than_397_days": {397, tls},
		"e_tls_server_cert_valid_time_longer_than_398_days": {398, tls},
	}
}

// authority names the body of requirements in the words of the field.
func authority(s lint.LintSource) string {
	switch s {
	case lint.CABFBaselineRequirements:
		return "CA/B Forum BR"
	case lint.AppleRootStorePolicy:
		return "Apple root program"
	}
	return string(s)
}

// CapsValidity reports whether f is a lint that caps the validity period
// (see LintError.ValidityLimit).
func (f Finding) CapsValidity() bool {
	_, ok := validityLints()[f.Lint]
	return ok
}

// ValidityLimit returns the tightest limit on the validity period among the
// failing lints of e (the smallest Days); ok is false when none of e's
// findings caps the validity period.
//
// Every lint in force whose limit is below a certificate's validity period
// fails on it, so the tightest failing limit is the longest validity
// period that the lints in force at the certificate's notBefore allow.
func (e *LintError) ValidityLimit() (limit ValidityLimit, ok bool) {
	known := validityLints()
	for _, f := range e.Findings {
		v, caps := known[f.Lint]
		if !caps || v.days == 0 || (ok && v.days >= limit.Days) {
			continue
		}
		limit, ok = ValidityLimit{Lint: f.Lint, Days: v.days, Authority: authority(lint.LintSource(f.Source)), Applies: v.applies}, true
		if l := lint.GlobalRegistry().ByName(f.Lint); l != nil && !l.EffectiveDate.IsZero() {
			limit.Applies += " issued from " + l.EffectiveDate.Format("2006-01-02")
		}
	}
	return limit, ok
}

// MaxServerValidity returns the tightest limit that the validity lints in
// force for a TLS server certificate whose notBefore is t place on its
// validity period (ok is false when none is in force). Both the MUST NOT
// (e_) and the SHOULD NOT (w_) limits count, since a Linter refuses
// warnings too: 397 days before 2026-03-15, then 199 days, 99 days from
// 2027-03-15 and 46 days from 2029-03-15 (CA/B Forum ballot SC-081; zlint
// decides by notBefore, as this does). Days counts the period inclusively,
// as the lints do: notAfter − notBefore + 1 second.
func MaxServerValidity(t time.Time) (limit ValidityLimit, ok bool) {
	for _, l := range serverValidityLimits() {
		if (l.from.IsZero() || !t.Before(l.from)) && (l.until.IsZero() || t.Before(l.until)) && (!ok || l.Days < limit.Days) {
			limit, ok = l.ValidityLimit, true
		}
	}
	return limit, ok
}

// serverValidityLimit is a limit on TLS server certificates with the
// notBefore dates its lint is in force for: from (zero: always) until
// (zero: no end), as zlint's EffectiveDate and IneffectiveDate say.
type serverValidityLimit struct {
	ValidityLimit
	from, until time.Time
}

// serverValidityLimits resolves, once per process, the limits on TLS
// server certificates of validityLints against zlint's registry, for
// MaxServerValidity (called for every newOrder and issuance of a profile
// that follows the BR). The result is never modified.
var serverValidityLimits = sync.OnceValue(func() []serverValidityLimit {
	reg := lint.GlobalRegistry()
	var out []serverValidityLimit
	for name, v := range validityLints() {
		l := reg.ByName(name)
		if v.days == 0 || v.applies != appliesTLSServer || l == nil {
			continue
		}
		lim := serverValidityLimit{ValidityLimit: ValidityLimit{Lint: name, Days: v.days, Authority: authority(l.Source), Applies: v.applies},
			from: l.EffectiveDate, until: l.IneffectiveDate}
		if !l.EffectiveDate.IsZero() {
			lim.Applies += " issued from " + l.EffectiveDate.Format("2006-01-02")
		}
		out = append(out, lim)
	}
	return out
})
