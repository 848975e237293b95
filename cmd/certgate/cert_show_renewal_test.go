package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/testenv"
)

// TestCertShowRenewalWindow: `certgate cert show` shows the renewal window
// renewalInfo (RFC 9773) serves for a certificate issued here, the default
// one and, after `cert suggest-renewal`, the one set; its JSON has it as
// renewal_window with its source. It showed neither, so the only way to
// see the window set was an ARI request.
func TestCertShowRenewalWindow(t *testing.T) {
	env := testenv.New(t)
	cert := issueDirect(t, env)
	data := env.Config.Data
	serial := cert.SerialNumber.Text(16)
	t3339 := func(v time.Time) string { return v.UTC().Format(time.RFC3339) }

	check := func(source, text string) {
		t.Helper()
		w := renewalWindow(t, env, cert)
		out, _, err := runCLI(t, nil, "cert", "show", serial, "--data", data)
		if err != nil {
			t.Fatal(err)
		}
		want := "renewal window     " + t3339(w.Start) + " .. " + t3339(w.End) + " (" + text + ")"
		if !strings.Contains(out, want) {
			t.Errorf("cert show:\n%s\nwant the line %q", out, want)
		}
		out, _, err = runCLI(t, nil, "cert", "show", serial, "--format", "json", "--data", data)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			RenewalWindow *struct {
				Start, End time.Time
				Source     string
			} `json:"renewal_window"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if rw := got.RenewalWindow; rw == nil || !rw.Start.Equal(w.Start) || !rw.End.Equal(w.End) || rw.Source != source {
			t.Errorf("cert show --format json: renewal_window %+v, want %v .. %v from %s: %s", rw, w.Start, w.End, source, out)
		}
	}
	check("default", "default")
	if _, _, err := runCLI(t, nil, "cert", "suggest-renewal", serial, "--before", "24h", "--data", data); err != nil {
		t.Fatal(err)
	}
	check("suggest-renewal", "set by cert suggest-renewal")
}
