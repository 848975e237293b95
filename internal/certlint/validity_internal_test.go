package certlint

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/zmap/zlint/v3/lint"
)

// TestValidityLintsMatchZlint: the table of validity lints names registered
// lints with the limit their names state, and leaves out no registered lint
// of the form *_valid_time_longer_than_N_days (a zlint upgrade adding one
// fails here until the table knows it).
func TestValidityLintsMatchZlint(t *testing.T) {
	days := regexp.MustCompile(`_valid_time_longer_than_(\d+)_days$`)
	table := validityLints()
	reg := lint.GlobalRegistry()
	for name, v := range table {
		if reg.ByName(name) == nil {
			t.Errorf("%s is not a registered zlint lint", name)
			continue
		}
		if m := days.FindStringSubmatch(name); m == nil && v.days != 0 || m != nil && m[1] != strconv.Itoa(v.days) {
			t.Errorf("%s: table says %d days", name, v.days)
		}
	}
	for _, name := range reg.Names() {
		if days.MatchString(name) {
			if _, ok := table[name]; !ok {
				t.Errorf("registered lint %s caps the validity period but is not in validityLints", name)
			}
		}
	}
}

// TestMaxServerValidity: the tightest validity limit on TLS server
// certificates in force on each side of every SC-081 milestone (zlint
// decides by notBefore).
func TestMaxServerValidity(t *testing.T) {
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		t    time.Time
		days int
		lint string
	}{
		{at(2025, 6, 1), 397, "w_tls_server_cert_valid_time_longer_than_397_days"},
		{at(2026, 3, 15).Add(-time.Second), 397, "w_tls_server_cert_valid_time_longer_than_397_days"},
		{at(2026, 3, 15), 199, "w_server_cert_valid_time_longer_than_199_days"},
		{at(2026, 11, 29), 199, "w_server_cert_valid_time_longer_than_199_days"},
		{at(2027, 3, 15).Add(-time.Second), 199, "w_server_cert_valid_time_longer_than_199_days"},
		{at(2027, 3, 15), 99, "w_server_cert_valid_time_longer_than_99_days"},
		{at(2029, 3, 15).Add(-time.Second), 99, "w_server_cert_valid_time_longer_than_99_days"},
		{at(2029, 3, 15), 46, "w_server_cert_valid_time_longer_than_46_days"},
		{at(2035, 1, 1), 46, "w_server_cert_valid_time_longer_than_46_days"},
	} {
		l, ok := MaxServerValidity(tc.t)
		if !ok || l.Days != tc.days || l.Lint != tc.lint || l.Applies == "" || l.Authority == "" {
			t.Errorf("MaxServerValidity(%s) = %+v, %v; want %d days (%s)", tc.t.Format(time.RFC3339), l, ok, tc.days, tc.lint)
		}
	}
}
