package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/testlog"
)

// TestRefusalsAreLogged: the requests the server answers itself, outside
// the ACME front end and the admin API — plain HTTP where HTTPS is needed
// (an ACME path, an admin API path), the admin API on listen when
// admin-listen serves it, another path on admin-listen, plain HTTP on
// admin-listen — each leave one "request" line with their method, path,
// status and remote address (docs/operations.md, "Logs": one line per
// request), an API token in the path cut to cgt_ID_...; they left none, so
// a client or scanner using the wrong scheme or address was not in the log.
func TestRefusalsAreLogged(t *testing.T) {
	var logs testlog.Buffer
	env := testenv.NewWithOptions(t, testenv.Options{AdminListen: true, Log: &logs})
	c := &http.Client{Timeout: 30 * time.Second, Transport: env.HTTPClient.Transport}
	plain := "http://" + strings.TrimPrefix(env.BaseURL, "https://")
	adminAddr := env.Server.AdminAddr().String()
	const secret = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3t"
	for _, tc := range []struct {
		url, want string
		status    int
	}{
		{plain + "/acme/new-order", `component=wfe method=GET path=/acme/new-order status=400 problem=urn:ietf:params:acme:error:malformed remote=127.0.0.1:`, 400},
		{plain + "/api/v1/tokens/cgt_0123456789abcdef_" + secret, `component=adminapi method=GET path=/api/v1/tokens/cgt_0123456789abcdef_... status=404 actor="" remote=127.0.0.1:`, 404},
		{env.BaseURL + "/api/v1/accounts", `component=adminapi method=GET path=/api/v1/accounts status=404 actor="" remote=127.0.0.1:`, 404},
		{env.AdminURL + "/acme/directory", `component=adminapi method=GET path=/acme/directory status=404 actor="" remote=127.0.0.1:`, 404},
		{"http://" + adminAddr + "/api/v1/accounts", `component=adminapi method=GET path=/api/v1/accounts status=400 actor="" remote=127.0.0.1:`, 400},
	} {
		if a := do(t, c, "GET", tc.url, "", ""); a.status != tc.status {
			t.Errorf("GET %s = %d %s, want %d", tc.url, a.status, a.body, tc.status)
		}
		if l := logs.String(); !strings.Contains(l, `msg=request `+tc.want) {
			t.Errorf("GET %s: no request line %q in the log:\n%s", tc.url, tc.want, l)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("the log holds a token's secret:\n%s", logs.String())
	}
}
