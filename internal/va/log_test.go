package va

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/testenv/testlog"
)

// TestLogLinesGiveMilliseconds: the VA's log lines (validation succeeded,
// validation failed, CAA check passed) give their time as "ms", a number
// of milliseconds, as the request lines do (`--log-format json`); they
// gave "duration", which the JSON handler writes as an integer count of
// nanoseconds (1048851 for 1 ms) and the text handler as "1.048851ms".
func TestLogLinesGiveMilliseconds(t *testing.T) {
	const keyAuth = testToken + ".thumbprint"
	dnsSrv := startFuncServer(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)}}
		}
		_ = w.WriteMsg(m)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Host, "good.log.test") {
			_, _ = w.Write([]byte(keyAuth))
			return
		}
		http.NotFound(w, r)
	}))
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	var buf testlog.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	v, err := New(Config{HTTPPort: ln.Addr().(*net.TCPAddr).Port, DNSResolver: dnsSrv.addr, Timeout: 5 * time.Second,
		CAAIdentities: []string{"certgate.test"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := v.Validate(ctx, acme.Identifier{Type: acme.IdentifierDNS, Value: "good.log.test"}, acme.ChallengeHTTP01, testToken, keyAuth); err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(ctx, acme.Identifier{Type: acme.IdentifierDNS, Value: "bad.log.test"}, acme.ChallengeHTTP01, testToken, keyAuth); err == nil {
		t.Fatal("validation of a name whose server answers 404 succeeded")
	}
	if err := v.CheckCAA(ctx, acme.Identifier{Type: acme.IdentifierDNS, Value: "good.log.test"}, false, acme.ChallengeHTTP01, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader([]byte(buf.String())))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not a JSON log line: %v: %s", err, sc.Text())
		}
		msg, _ := line["msg"].(string)
		if _, ok := line["duration"]; ok {
			t.Errorf("%q: has \"duration\" (nanoseconds): %s", msg, sc.Text())
		}
		switch msg {
		case "validation succeeded", "validation failed", "CAA check passed":
			ms, ok := line["ms"].(float64)
			if !ok || ms < 0 || ms > 5000 {
				t.Errorf("%q: ms = %v, want a number of milliseconds: %s", msg, line["ms"], sc.Text())
			}
			seen[msg] = true
		}
	}
	for _, msg := range []string{"validation succeeded", "validation failed", "CAA check passed"} {
		if !seen[msg] {
			t.Errorf("no %q line in the log:\n%s", msg, buf.String())
		}
	}
}

// TestFailureLogGivesDetailOnce: the "validation failed" line gives the
// problem's type and detail once each; its "err" repeated them ("TYPE:
// DETAIL") for every failure, the problem being the error itself.
func TestFailureLogGivesDetailOnce(t *testing.T) {
	var buf testlog.Buffer
	v, err := New(Config{Timeout: time.Second}, slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	verr := v.Validate(t.Context(), acme.Identifier{Type: acme.IdentifierDNS, Value: "example.test"}, "bogus-01", testToken, "x")
	p, ok := acme.AsProblem(verr)
	if !ok || p.Detail == "" {
		t.Fatalf("Validate: %v, want a problem with a detail", verr)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil || line["msg"] != "validation failed" {
		t.Fatalf("want one \"validation failed\" line: %v\n%s", err, buf.String())
	}
	if line["detail"] != p.Detail || line["problem"] != string(p.Type) {
		t.Errorf("detail %v, problem %v; want %q, %q", line["detail"], line["problem"], p.Detail, p.Type)
	}
	enc, _ := json.Marshal(p.Detail) // as the line has it, quotes escaped
	if n := strings.Count(buf.String(), strings.Trim(string(enc), `"`)); n != 1 {
		t.Errorf("the detail is in the line %d times, want once: %s", n, buf.String())
	}
}
