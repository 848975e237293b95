package certlint

import (
	"regexp"
	"strconv"
	"testing"

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
