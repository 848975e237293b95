package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
)

// TestCertSuggestRenewalProfileWindow: for a certificate whose profile sets
// a renewalWindow, `cert suggest-renewal` measures "earlier" against the
// window renewalInfo serves (the profile's), not the server's default
// window. It used the default (2/3 to 5/6 of the lifetime), so a --before
// later than the profile's window was accepted and moved the window later,
// and the "was" line named a window no client had been given.
func TestCertSuggestRenewalProfileWindow(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := env.Server.Store().PutProfile(ctx, &store.Profile{Name: "early",
		Spec:      []byte(`{"name":"early","validity":"90d","renewalWindow":{"start":0.1,"end":0.2}}`),
		CreatedAt: now, UpdatedAt: now}, false); err != nil {
		t.Fatal(err)
	}
	cert := issueDirectProfile(t, env, "early")
	data := env.Config.Data
	serial := cert.SerialNumber.Text(16)
	life := cert.NotAfter.Sub(cert.NotBefore)
	w := renewalWindow(t, env, cert)
	if !near(w.End, cert.NotBefore.Add(life/5)) {
		t.Fatalf("renewalInfo window %v .. %v, want the profile's (ending a fifth into the lifetime)", w.Start, w.End)
	}

	// 30 days: earlier than the default window's end (75 days), later than
	// the profile's (18 days): refused, the window unchanged.
	_, _, err := runCLI(t, nil, "cert", "suggest-renewal", serial, "--before", "30d", "--data", data)
	if err == nil || !strings.Contains(err.Error(), "would not move it earlier") {
		t.Fatalf("--before 30d with a profile window ending %v: err = %v, want a refusal", w.End, err)
	}
	if got := renewalWindow(t, env, cert); got != w {
		t.Fatalf("window moved to %v .. %v after a refused suggest-renewal", got.Start, got.End)
	}

	// 24 hours: earlier than the profile's end; the "was" part names the
	// profile's window.
	out, _, err := runCLI(t, nil, "cert", "suggest-renewal", serial, "--before", "24h", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	was := "(was " + w.Start.UTC().Format(time.RFC3339) + " .. " + w.End.UTC().Format(time.RFC3339) + ")"
	if !strings.Contains(out, was) {
		t.Errorf("output %q, want %q", out, was)
	}
}
