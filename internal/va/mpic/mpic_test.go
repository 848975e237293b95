package mpic

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// fixed is a Checker with a set answer.
type fixed Result

func (f fixed) Name() string                          { return f.Perspective }
func (f fixed) Check(context.Context, Request) Result { return Result(f) }

func ok(name string) Checker { return fixed{Perspective: name, Status: StatusValid} }
func bad(name string) Checker {
	return fixed{Perspective: name, Status: StatusInvalid, Problem: acme.NewProblem(acme.IncorrectResponse, "wrong key authorization")}
}
func down(name string) Checker {
	return fixed{Perspective: name, Status: StatusUnreachable, Problem: acme.NewProblem(acme.Connection, "connection refused")}
}

func TestAllowedDisagreements(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 0, 2: 1, 3: 1, 5: 1, 6: 2, 7: 2, 12: 2} {
		if got := AllowedDisagreements(n); got != want {
			t.Errorf("AllowedDisagreements(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestQuorum: the BR table both ways, the unreachable policy, a failing
// primary, and the problem listing the perspectives that disagreed.
func TestQuorum(t *testing.T) {
	req := Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "http-01"}
	for _, c := range []struct {
		name    string
		primary Checker
		remotes []Checker
		policy  Policy
		pass    bool
		listed  []string // perspectives named in the problem
	}{
		{"3 agree", ok("primary"), []Checker{ok("a"), ok("b"), ok("c")}, Policy{MaxDisagree: -1}, true, nil},
		{"1 of 3 disagrees", ok("primary"), []Checker{ok("a"), ok("b"), bad("c")}, Policy{MaxDisagree: -1}, true, nil},
		{"2 of 3 disagree", ok("primary"), []Checker{ok("a"), bad("b"), bad("c")}, Policy{MaxDisagree: -1}, false, []string{"b invalid", "c invalid"}},
		{"2 of 6 disagree", ok("primary"), []Checker{ok("a"), ok("b"), ok("c"), ok("d"), bad("e"), bad("f")}, Policy{MaxDisagree: -1}, true, nil},
		{"3 of 6 disagree", ok("primary"), []Checker{ok("a"), ok("b"), ok("c"), bad("d"), bad("e"), bad("f")}, Policy{MaxDisagree: -1}, false, []string{"d", "e", "f"}},
		{"1 of 1 disagrees", ok("primary"), []Checker{bad("a")}, Policy{MaxDisagree: -1}, false, []string{"a invalid"}},
		{"down counts (fail)", ok("primary"), []Checker{ok("a"), bad("b"), down("c")}, Policy{Unreachable: UnreachableFail, MaxDisagree: -1}, false, []string{"b invalid", "c unreachable"}},
		{"down ignored", ok("primary"), []Checker{ok("a"), bad("b"), down("c")}, Policy{Unreachable: UnreachableIgnore, MaxDisagree: -1}, true, nil},
		{"all down ignored", ok("primary"), []Checker{down("a"), down("b")}, Policy{Unreachable: UnreachableIgnore, MaxDisagree: -1}, false, []string{"a unreachable", "b unreachable"}},
		{"max-disagree 0", ok("primary"), []Checker{ok("a"), ok("b"), bad("c")}, Policy{MaxDisagree: 0}, false, []string{"c invalid"}},
		{"primary fails", bad("primary"), []Checker{ok("a"), ok("b"), ok("c")}, Policy{MaxDisagree: -1}, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := (&Corroborator{Primary: c.primary, Remotes: c.remotes, Policy: c.policy}).Check(context.Background(), req)
			if (out.Err == nil) != c.pass {
				t.Fatalf("pass = %v (%v), want %v", out.Err == nil, out.Err, c.pass)
			}
			if len(out.Results) != 1+len(c.remotes) || out.Results[0].Perspective != "primary" {
				t.Fatalf("results %+v: want the primary then every remote", out.Results)
			}
			if len(c.listed) == 0 {
				return
			}
			p, _ := acme.AsProblem(out.Err)
			if p == nil || p.Identifier == nil || p.Identifier.Value != "x.test" {
				t.Fatalf("problem %+v lacks the identifier", p)
			}
			for _, name := range c.listed {
				if !strings.Contains(p.Detail, name) {
					t.Errorf("detail %q does not list %q", p.Detail, name)
				}
			}
			if len(p.Subproblems) != len(c.listed) {
				t.Errorf("%d subproblems, want one per listed perspective (%d): %+v", len(p.Subproblems), len(c.listed), p.Subproblems)
			}
			if strings.Contains(c.name, "disagree") && p.Type != acme.IncorrectResponse {
				t.Errorf("type %s, want the disagreeing perspectives' incorrectResponse", p.Type)
			}
		})
	}
}

type fakeVA struct{ validate, caa error }

func (f fakeVA) Validate(context.Context, acme.Identifier, string, string, string) error {
	return f.validate
}
func (f fakeVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error {
	return f.caa
}

// TestLocalCAARefusalIsFinal: the primary's CAA refusal fails the
// outcome as final; a challenge failure does not.
func TestLocalCAARefusalIsFinal(t *testing.T) {
	req := Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "dns-01"}
	out := (&Corroborator{Primary: Local{Perspective: "primary", VA: fakeVA{caa: acme.NewProblem(acme.CAA, "no")}}, Policy: Policy{MaxDisagree: -1}}).Check(context.Background(), req)
	if p, _ := acme.AsProblem(out.Err); p == nil || p.Type != acme.CAA || !out.Final {
		t.Fatalf("CAA refusal: %v final=%v; want a final caa problem", out.Err, out.Final)
	}
	out = (&Corroborator{Primary: Local{Perspective: "primary", VA: fakeVA{validate: acme.NewProblem(acme.DNS, "nx")}}, Policy: Policy{MaxDisagree: -1}}).Check(context.Background(), req)
	if p, _ := acme.AsProblem(out.Err); p == nil || p.Type != acme.DNS || out.Final {
		t.Fatalf("challenge failure: %v final=%v; want a retryable dns problem", out.Err, out.Final)
	}
}

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func startPerspective(t *testing.T, name string, v Validator, secret []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(NewHandler(Local{Perspective: name, VA: v}, secret, nil, slog.New(slog.DiscardHandler)))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestRemoteRoundTrip: a remote perspective's answers arrive with their
// problem; a wrong secret on either side or a dead perspective is
// unreachable, never a forged success.
func TestRemoteRoundTrip(t *testing.T) {
	ctx := context.Background()
	req := Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "http-01", Token: "t", KeyAuthorization: "t.k"}
	good := startPerspective(t, "eu", fakeVA{}, testSecret)
	failing := startPerspective(t, "us", fakeVA{validate: acme.NewProblem(acme.IncorrectResponse, "got 404")}, testSecret)
	if r := NewRemote("eu", good.URL, testSecret, 5*time.Second, nil).Check(ctx, req); r.Status != StatusValid || r.Perspective != "eu" {
		t.Fatalf("good perspective: %+v", r)
	}
	r := NewRemote("us", failing.URL, testSecret, 5*time.Second, nil).Check(ctx, req)
	if r.Status != StatusInvalid || r.Problem == nil || r.Problem.Type != acme.IncorrectResponse || !strings.Contains(r.Problem.Detail, "404") {
		t.Fatalf("failing perspective: %+v", r)
	}
	other := []byte("another secret of thirty-two bytes!!")
	if r := NewRemote("eu", good.URL, other, 5*time.Second, nil).Check(ctx, req); r.Status != StatusUnreachable || !strings.Contains(r.Cause, "401") {
		t.Fatalf("wrong secret at the primary: %+v", r)
	}
	liar := startPerspective(t, "liar", fakeVA{}, other) // answers, but cannot sign for testSecret
	liarRemote := NewRemote("liar", liar.URL, testSecret, 5*time.Second, nil)
	if r := liarRemote.Check(ctx, req); r.Status != StatusUnreachable {
		t.Fatalf("perspective with another secret: %+v", r)
	}
	ln, _ := net.Listen("tcp", "127.0.0.3:0")
	addr := ln.Addr().String()
	ln.Close()
	if r := NewRemote("gone", "https://"+addr, testSecret, 5*time.Second, nil).Check(ctx, req); r.Status != StatusUnreachable || r.Problem.Type != acme.Connection {
		t.Fatalf("dead perspective: %+v", r)
	}
}

// TestHandlerRefusesForgedStaleAndReplayed checks the request
// authentication of a perspective directly.
func TestHandlerRefusesForgedStaleAndReplayed(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	h := NewHandler(Local{Perspective: "p", VA: fakeVA{}}, testSecret, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	body, _ := json.Marshal(Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "http-01"})
	sendTo := func(to, macName string, at time.Time, nonce string, secret []byte) *httptest.ResponseRecorder {
		ts := strconv.FormatInt(at.Unix(), 10)
		r := httptest.NewRequest(http.MethodPost, CheckPath, bytes.NewReader(body))
		r.Header.Set(HeaderName, to)
		r.Header.Set(HeaderTime, ts)
		r.Header.Set(HeaderNonce, nonce)
		r.Header.Set(HeaderMAC, requestMAC(secret, macName, ts, nonce, CheckPath, body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	send := func(at time.Time, nonce string, secret []byte) *httptest.ResponseRecorder {
		return sendTo("p", "p", at, nonce, secret)
	}
	if w := send(now, "n1", testSecret); w.Code != 200 || w.Header().Get(HeaderName) != "p" ||
		w.Header().Get(HeaderMAC) != responseMAC(testSecret, "p", "n1", w.Body.Bytes()) {
		t.Fatalf("good request: %d %s", w.Code, w.Body)
	}
	for name, c := range map[string]struct {
		w    *httptest.ResponseRecorder
		code int
	}{
		"replayed":       {send(now, "n1", testSecret), http.StatusUnauthorized},
		"forged":         {send(now, "n2", []byte("not the shared secret, but 32+ bytes")), http.StatusUnauthorized},
		"stale":          {send(now.Add(-2*time.Minute), "n3", testSecret), http.StatusUnauthorized},
		"future":         {send(now.Add(2*time.Minute), "n4", testSecret), http.StatusUnauthorized},
		"no nonce":       {send(now, "", testSecret), http.StatusUnauthorized},
		"for another":    {sendTo("q", "q", now, "n5", testSecret), http.StatusMisdirectedRequest},
		"name rewritten": {sendTo("p", "q", now, "n6", testSecret), http.StatusUnauthorized}, // q's request, header changed on path
	} {
		if c.w.Code != c.code {
			t.Errorf("%s request: HTTP %d, want %d", name, c.w.Code, c.code)
		}
	}
}

func TestParseRemotes(t *testing.T) {
	names, urls, err := ParseRemotes("eu1=https://127.0.0.2:8444, us-2=https://va.example.net:443/")
	if err != nil || strings.Join(names, ",") != "eu1,us-2" || strings.Join(urls, ",") != "https://127.0.0.2:8444,https://va.example.net:443" {
		t.Fatalf("got %v %v %v", names, urls, err)
	}
	for _, bad := range []string{"eu1", "eu1=http://x:1", "eu1=https://x/path", "a=https://x:1,a=https://y:1", "primary=https://x:1", "b c=https://x:1"} {
		if _, _, err := ParseRemotes(bad); err == nil {
			t.Errorf("ParseRemotes(%q) accepted", bad)
		}
	}
}

// TestQuorumUnreachableIsServerInternal: a quorum that fails only because
// remote perspectives did not answer (the CA's own infrastructure) is a
// serverInternal problem, which the RA does not charge to the account's
// failed-validations limit (it was connection, and charged); one that the
// perspectives that saw a failure fail on their own has their type.
func TestQuorumUnreachableIsServerInternal(t *testing.T) {
	req := Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "http-01"}
	fail := Policy{Unreachable: UnreachableFail, MaxDisagree: -1}
	for _, c := range []struct {
		name    string
		remotes []Checker
		policy  Policy
		want    acme.ProblemType
	}{
		{"the one remote down", []Checker{down("a")}, fail, acme.ServerInternal},
		{"one down tips one disagreement over", []Checker{ok("a"), bad("b"), down("c")}, fail, acme.ServerInternal},
		{"two down of three", []Checker{ok("a"), down("b"), down("c")}, fail, acme.ServerInternal},
		{"all down ignored", []Checker{down("a"), down("b")}, Policy{Unreachable: UnreachableIgnore, MaxDisagree: -1}, acme.ServerInternal},
		{"two disagree, one down", []Checker{bad("a"), bad("b"), down("c")}, fail, acme.IncorrectResponse},
		{"down listed before two that disagree", []Checker{down("a"), bad("b"), bad("c")}, fail, acme.IncorrectResponse},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := (&Corroborator{Primary: ok("primary"), Remotes: c.remotes, Policy: c.policy}).Check(context.Background(), req)
			p, _ := acme.AsProblem(out.Err)
			if p == nil || p.Type != c.want {
				t.Fatalf("problem %+v, want type %s", p, c.want)
			}
		})
	}
}
