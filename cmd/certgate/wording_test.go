package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestErrorsSayWhatIsWrong: refusals name the value given and what is
// wrong with it, in one line. The former code said `port ""` for
// 127.0.0.1:-1, "discovery: invalid request: malformed cursor" for scan
// list, ". exists" for backup --out "", the temporary file's name for ca
// root --out onto a directory and bench acme --json into a missing
// directory, "not a duration" for a --before too long and "invalid rate"
// for a count too large, and "not issued by this server" for the
// listener certificate the built-in CA issued.
func TestErrorsSayWhatIsWrong(t *testing.T) {
	data := t.TempDir()
	t.Run("serve", func(t *testing.T) {
		if _, err := startNode(t, data, ""); err != nil {
			t.Fatal(err)
		}
	})
	var listener string
	if err := storetest.RawDB(t, server.DSN(data, "")).QueryRow(`SELECT serial FROM certificates WHERE source = 'listener'`).Scan(&listener); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	missing := filepath.Join(t.TempDir(), "nonexist", "x.json")
	createOverrideSubjects(t, data, []string{"acct1"}, nil)
	for _, tc := range []struct {
		args       []string
		want, dont string
	}{
		{[]string{"scan", "run", "127.0.0.1:-1"}, `port "-1" is not a number`, `port ""`},
		{[]string{"scan", "run", "127.0.0.1:80-"}, `port "80-" is not a number`, `port ""`},
		{[]string{"scan", "list", "--cursor", "zz"}, `--cursor: malformed cursor`, "discovery:"},
		{[]string{"backup", "--out", ""}, `--out is empty`, "exists"},
		{[]string{"ca", "root", "--out", outDir}, "write " + outDir + ": is a directory", "/."},
		{[]string{"cert", "suggest-renewal", listener, "--before", "1h"}, "listener certificate", "not issued by this server"},
		{[]string{"cert", "suggest-renewal", listener, "--before", "99999999d"}, `--before: duration "99999999d" is too long`, "RFC 3339"},
		{[]string{"ratelimit", "set", "new-orders-per-account", "--account", "acct1", "--rate", "99999999999999999999/1h"},
			`count 99999999999999999999 is too large`, "want COUNT/PERIOD"},
		{[]string{"ratelimit", "set", "new-orders-per-account", "--account", "acct1", "--rate", "5/99999999d"},
			`period "99999999d" is too long (at most 36500d, 100 years)`, "want e.g."},
	} {
		_, _, err := runCLI(t, nil, append(tc.args, "--data", data)...)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.dont) {
			t.Errorf("%q: %v; want one line with %q, without %q", tc.args, err, tc.want, tc.dont)
		}
	}

	cmd := newRoot(io.Discard, io.Discard)
	cmd.SetArgs([]string{"bench", "acme", "-d", "https://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/dir", "-n", "1",
		"--http01-listen", "127.0.0.1:0", "--json", missing})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "--json: "+missing+": directory "+filepath.Dir(missing)) || strings.Contains(err.Error(), "/.x.json") {
		t.Errorf("bench acme --json %s: %v, want it and its directory named", missing, err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Error("bench acme made the --json directory")
	}
}
