package main

import (
	"strings"
	"testing"
)

// TestFlagChecksSeeEnv: a command's own checks of its flags run after
// config.Resolve, so they see a value given by its CERTGATE_* variable as
// one given on the command line. They ran before it (config.Resolve ran
// in openStore): `certgate approval reject` refused a CERTGATE_COMMENT as
// a missing --comment, `certgate audit list` let a CERTGATE_ACTION (or
// --before) through unchecked, `certgate cert list` a CERTGATE_LIMIT of 0,
// and a required flag (`token create --name`) given by its variable was
// "not set". Each case runs on a data directory without a database:
// "no certgate database" says that the checks passed; a check's own
// message that it refused the value from the environment.
func TestFlagChecksSeeEnv(t *testing.T) {
	t.Setenv("CERTGATE_DB", "")
	t.Setenv("CERTGATE_CONFIG", "")
	const opened = "no certgate database at"
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"CERTGATE_COMMENT": "not ours"}, []string{"approval", "reject", "ap1"}, opened},
		{map[string]string{"CERTGATE_ACTION": "certificate.revoked"}, []string{"audit", "list"}, `--action: unknown audit action "certificate.revoked"`},
		{map[string]string{"CERTGATE_BEFORE": "-3"}, []string{"audit", "list"}, "--before -3: must be a seq of 1 or more"},
		{map[string]string{"CERTGATE_STATUS": "maybe"}, []string{"approval", "list"}, `--status "maybe"`},
		{map[string]string{"CERTGATE_LIMIT": "0"}, []string{"cert", "list"}, "--limit 0: must be 1 to 1000"},
		{map[string]string{"CERTGATE_ATTR": "noequals"}, []string{"report", "expiring"}, `"noequals"`},
		{map[string]string{"CERTGATE_CURSOR": "not-an-id!"}, []string{"account", "list"}, `--cursor "not-an-id!"`},
		{map[string]string{"CERTGATE_CLEAR": "true"}, []string{"account", "set-attributes", "acct1"}, opened},
		{map[string]string{"CERTGATE_BEFORE": "someday"}, []string{"cert", "suggest-renewal", "0a"}, `--before "someday"`},
		{map[string]string{"CERTGATE_CERT_VALIDITY": "long"}, []string{"report", "violations"}, "--cert-validity"},
		{map[string]string{"CERTGATE_RATE": "lots"}, []string{"ratelimit", "set", "new-orders-per-account", "--account", "acct1"}, "--rate"},
		{map[string]string{"CERTGATE_RUNS": "0"}, []string{"bench", "inventory"}, "--runs must be positive"},
		{map[string]string{"CERTGATE_EXPIRES": "-5d"}, []string{"token", "create", "--name", "ci", "--role", "auditor"}, "--expires"},
		{map[string]string{"CERTGATE_NAME": "ci", "CERTGATE_ROLE": "auditor"}, []string{"token", "create"}, opened},
		{map[string]string{"CERTGATE_RATE": "10/1h"}, []string{"ratelimit", "set", "new-orders-per-account", "--account", "acct1"}, opened},
	} {
		t.Run(strings.Join(tc.args[:2], "-"), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, _, err := runCLI(t, nil, append(tc.args, "--data", t.TempDir())...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v %q: %v, want an error containing %q", tc.env, tc.args, err, tc.want)
			}
		})
	}
}
