package mpic

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// TestUnreachableDetailHidesInternals: the problem of a perspective that
// gave no usable answer reaches the ACME client (as a subproblem of a
// failed quorum), so its detail says what kind of failure it was and
// nothing of the CA's own network or configuration: not the
// perspective's address, not a TLS or socket error, not the shared
// secret's state (RFC 8555 §6.7; a problem never carries internals).
// The reason itself is in Result.Cause and in the Corroborator's log.
func TestUnreachableDetailHidesInternals(t *testing.T) {
	ctx := context.Background()
	req := Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "http-01", Token: "t", KeyAuthorization: "t.k"}
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	_, deadPort, _ := net.SplitHostPort(deadAddr)
	ln.Close()
	good := startPerspective(t, "eu", fakeVA{}, testSecret)
	goodHost := strings.TrimPrefix(good.URL, "https://")
	wrong := []byte("another secret of thirty-two bytes!!")
	liar := rogue(t, "liar", "liar", "a") // signs its answers as perspective a

	cases := []struct {
		remote     *Remote
		kind       string   // in the detail
		cause      string   // in Result.Cause
		notInProbl []string // never in the detail
	}{
		{NewRemote("dead", "https://"+deadAddr, testSecret, 5*time.Second, nil), "connection failed", "connection refused",
			[]string{"127.0.0.3", deadPort, "dial", "refused"}},
		{NewRemote("eu", good.URL, wrong, 5*time.Second, nil), "request refused", "HTTP 401",
			[]string{goodHost, "401", "MAC", "secret"}},
		{NewRemote("misnamed", good.URL, testSecret, 5*time.Second, nil), "request refused", "HTTP 421",
			[]string{goodHost, "421", `"eu"`}},
		{NewRemote("liar", liar.URL, testSecret, 5*time.Second, nil), "answer not authenticated", "MAC does not verify",
			[]string{"MAC", "secret"}},
	}
	for _, c := range cases {
		r := c.remote.Check(ctx, req)
		if r.Status != StatusUnreachable || r.Problem == nil || r.Problem.Type != acme.Connection {
			t.Fatalf("%s: %+v; want unreachable with a connection problem", c.remote.Name(), r)
		}
		want := "no answer from perspective " + c.remote.Name() + " (" + c.kind + ")"
		if r.Problem.Detail != want {
			t.Errorf("%s: detail %q, want %q", c.remote.Name(), r.Problem.Detail, want)
		}
		for _, s := range c.notInProbl {
			if strings.Contains(r.Problem.Detail, s) {
				t.Errorf("%s: detail %q contains %q", c.remote.Name(), r.Problem.Detail, s)
			}
		}
		if !strings.Contains(r.Cause, c.cause) {
			t.Errorf("%s: cause %q lacks %q", c.remote.Name(), r.Cause, c.cause)
		}
		// The cause is the operator's: never in the JSON of a result.
		if b, _ := json.Marshal(r); strings.Contains(string(b), r.Cause) {
			t.Errorf("%s: the cause is marshalled: %s", c.remote.Name(), b)
		}
	}

	// Through the quorum: the client's problem and its subproblems name
	// neither address; the log has the reason.
	var logBuf bytes.Buffer
	co := &Corroborator{Primary: ok("primary"), Policy: Policy{MaxDisagree: -1},
		Log: slog.New(slog.NewTextHandler(&logBuf, nil)),
		Remotes: []Checker{
			NewRemote("dead", "https://"+deadAddr, testSecret, 5*time.Second, nil),
			NewRemote("eu", good.URL, wrong, 5*time.Second, nil),
			ok("us"),
		}}
	out := co.Check(ctx, req)
	if out.Err == nil {
		t.Fatal("quorum met with 2 of 3 perspectives unreachable")
	}
	b, _ := json.Marshal(out.Err)
	for _, s := range []string{"127.0.0.3", deadPort, goodHost, "401", "MAC"} {
		if strings.Contains(string(b), s) {
			t.Errorf("client problem contains %q: %s", s, b)
		}
	}
	logs := logBuf.String()
	for _, s := range []string{"level=WARN", "perspective=dead", "connection refused", "perspective=eu", "HTTP 401", "identifier=x.test"} {
		if !strings.Contains(logs, s) {
			t.Errorf("log lacks %q:\n%s", s, logs)
		}
	}
}
