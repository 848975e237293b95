package mpic

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// impostor is a Checker asked as one perspective that answers with
// another's result (what a redirected request would bring back).
type impostor struct {
	name string
	as   Checker
}

func (i impostor) Name() string { return i.name }
func (i impostor) Check(ctx context.Context, req Request) Result {
	return i.as.Check(ctx, req)
}

// TestAnswerFromAnotherPerspectiveNotCounted: an answer that names a
// perspective other than the one asked (forged name), or a perspective
// that already answered, counts as unreachable, never as a second vote.
func TestAnswerFromAnotherPerspectiveNotCounted(t *testing.T) {
	req := Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "http-01"}
	// b's "answer" is a's: with it counted, 2 of 3 agree and c's
	// disagreement is within the BR table; without it, 2 of 3 disagree.
	c := &Corroborator{Primary: ok("primary"), Remotes: []Checker{ok("a"), impostor{"b", ok("a")}, bad("c")}, Policy: Policy{MaxDisagree: -1}}
	out := c.Check(context.Background(), req)
	if out.Err == nil {
		t.Fatal("quorum met with perspective a counted twice")
	}
	if r := out.Results[2]; r.Perspective != "b" || r.Status != StatusUnreachable || r.Problem == nil || !strings.Contains(r.Problem.Detail, `from perspective "a", not "b"`) {
		t.Fatalf("b's result %+v: want unreachable naming a", r)
	}
	// Under "ignore" the impostor is left out: 1 of 2 disagrees, met;
	// it is never a vote for the primary.
	c.Policy.Unreachable = UnreachableIgnore
	if out := c.Check(context.Background(), req); out.Err != nil || out.Results[2].Status != StatusUnreachable {
		t.Fatalf("ignore policy: %v %+v", out.Err, out.Results[2])
	}
}

// TestRedirectedRequestRefused: all perspectives share one secret; an
// on-path attacker sends b's request to perspective a. a refuses it (it
// is addressed to b), so the primary counts b as unreachable and a once:
// with c disagreeing the quorum fails, where counting a twice would
// have met it.
func TestRedirectedRequestRefused(t *testing.T) {
	ctx := context.Background()
	req := Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "http-01", Token: "t", KeyAuthorization: "t.k"}
	a := startPerspective(t, "a", fakeVA{}, testSecret)
	cs := startPerspective(t, "c", fakeVA{validate: acme.NewProblem(acme.IncorrectResponse, "got 404")}, testSecret)
	c := &Corroborator{Primary: ok("primary"), Policy: Policy{MaxDisagree: -1}, Remotes: []Checker{
		NewRemote("a", a.URL, testSecret, 5*time.Second, nil),
		NewRemote("b", a.URL, testSecret, 5*time.Second, nil), // b's traffic redirected to a
		NewRemote("c", cs.URL, testSecret, 5*time.Second, nil),
	}}
	out := c.Check(ctx, req)
	if out.Err == nil {
		t.Fatalf("quorum met with a counted twice: %+v", out.Results)
	}
	if r := out.Results[2]; r.Status != StatusUnreachable || !strings.Contains(r.Cause, "421") || !strings.Contains(r.Cause, `not "b"`) {
		t.Fatalf("redirected request: %+v; want unreachable with a's HTTP 421", r)
	}
	if r := out.Results[1]; r.Status != StatusValid || r.Perspective != "a" {
		t.Fatalf("a itself: %+v", r)
	}
}

// rogue answers every request as perspective "a", signing with the
// shared secret: a misconfigured or compromised perspective that tries
// to answer for another one.
func rogue(t *testing.T, headerName, bodyName, macName string) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		out, _ := json.Marshal(Result{Perspective: bodyName, Status: StatusValid})
		w.Header().Set(HeaderName, headerName)
		w.Header().Set(HeaderMAC, responseMAC(testSecret, macName, r.Header.Get(HeaderNonce), out))
		w.Write(out)
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestSwappedAnswerRefused: an answer signed as, or naming, another
// perspective than the one asked is unreachable, whichever of the
// header, the MAC or the body carries the other name.
func TestSwappedAnswerRefused(t *testing.T) {
	ctx := context.Background()
	req := Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "http-01"}
	for name, srv := range map[string]*httptest.Server{
		"all say a":       rogue(t, "a", "a", "a"),
		"MAC for a":       rogue(t, "b", "b", "a"),
		"body names a":    rogue(t, "b", "a", "b"),
		"header names a":  rogue(t, "a", "b", "b"),
		"v1 MAC, no name": rogueV1(t),
	} {
		if r := NewRemote("b", srv.URL, testSecret, 5*time.Second, nil).Check(ctx, req); r.Status != StatusUnreachable || r.Perspective != "b" {
			t.Errorf("%s: %+v; want b unreachable", name, r)
		}
	}
	// The control: a correct answer for b is taken.
	if r := NewRemote("b", rogue(t, "b", "b", "b").URL, testSecret, 5*time.Second, nil).Check(ctx, req); r.Status != StatusValid {
		t.Fatalf("correct answer refused: %+v", r)
	}
}

// rogueV1 answers like a perspective of the previous protocol: the MAC
// binds only the nonce and the body.
func rogueV1(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		out, _ := json.Marshal(Result{Perspective: "a", Status: StatusValid})
		w.Header().Set(HeaderMAC, mac(testSecret, "certgate-mpic-v1 response", r.Header.Get(HeaderNonce), string(out)))
		w.Write(out)
	}))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestPingRemotes: the start-up check logs one warning per misconfigured
// perspective (wrong secret, wrong name, dead URL) naming it and why,
// and an info line for a good one; it refuses nothing.
func TestPingRemotes(t *testing.T) {
	good := startPerspective(t, "good", fakeVA{}, testSecret)
	other := startPerspective(t, "other", fakeVA{}, testSecret)
	secretive := startPerspective(t, "badsecret", fakeVA{}, testSecret)
	ln, _ := net.Listen("tcp", "127.0.0.3:0")
	dead := "https://" + ln.Addr().String()
	ln.Close()
	wrong := []byte("another secret of thirty-two bytes!!")
	c := &Corroborator{Primary: ok("primary"), Remotes: []Checker{
		NewRemote("good", good.URL, testSecret, 5*time.Second, nil),
		NewRemote("badsecret", secretive.URL, wrong, 5*time.Second, nil),
		NewRemote("misnamed", other.URL, testSecret, 5*time.Second, nil),
		NewRemote("dead", dead, testSecret, 5*time.Second, nil),
		ok("local"), // not a Pinger: not checked
	}}
	var buf bytes.Buffer
	failed := c.PingRemotes(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)))
	if strings.Join(failed, ",") != "badsecret,misnamed,dead" {
		t.Fatalf("failed %v, want badsecret,misnamed,dead\n%s", failed, buf.String())
	}
	logs := buf.String()
	for _, want := range []string{
		`level=INFO msg="multi-perspective validation: remote perspective answered" perspective=good`,
		`level=WARN`,
		`perspective=badsecret`, `HTTP 401`,
		`perspective=misnamed`, `HTTP 421`, `this is perspective \"other\", not \"misnamed\"`,
		`perspective=dead`, `connection refused`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "level=WARN"); n != 3 {
		t.Errorf("%d warnings, want 3:\n%s", n, logs)
	}
}
