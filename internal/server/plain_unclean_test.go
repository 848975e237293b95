package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// TestPlainHTTPUncleanPaths: on the plain-HTTP side of the listen port a
// path with "//", "." or ".." segments answers the HTTPS side's 404
// malformed problem, not ServeMux's 307 redirect (it answered 307 to
// /pki/root.pem for //pki/root.pem); the PKI paths themselves still answer.
func TestPlainHTTPUncleanPaths(t *testing.T) {
	env := testenv.New(t)
	base := "http://" + env.Server.Addr().String()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"//pki/root.pem", "/pki//root.pem", "//pki/crl", "/pki/./root.pem", "/x/../pki/root.pem", "//acme/directory"} {
		// Written by hand: net/http's client would send "//x" as the
		// absolute form http://x.
		conn, err := net.Dial("tcp", env.Server.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, "GET "+p+" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		conn.Close()
		var prob struct {
			Type   string
			Status int
		}
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" ||
			json.Unmarshal(body, &prob) != nil || prob.Type != "urn:ietf:params:acme:error:malformed" || prob.Status != 404 {
			t.Errorf("GET %s = %d %s %q (Location %q), want a 404 malformed problem", p, res.StatusCode, res.Header.Get("Content-Type"), body, res.Header.Get("Location"))
		}
	}
	res, err := c.Get(base + "/pki/root.pem")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "BEGIN CERTIFICATE") {
		t.Errorf("GET /pki/root.pem = %d %q, want the root", res.StatusCode, body)
	}
}
