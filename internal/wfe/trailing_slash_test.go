package wfe_test

import (
	"net/http"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestResourceURLWithSlashAppendedNotFound: the URL of an account or of
// an order with a "/" appended names no resource, as for authorizations,
// challenges and certificates: a signed POST-as-GET to it is a 404
// malformed problem. The account and order handlers answered it as the
// resource itself (found by FuzzACMEPath).
func TestResourceURLWithSlashAppendedNotFound(t *testing.T) {
	e := newFuzzJWSEnv(t)
	const kidHdr = `{"alg":"ES256","kid":"$KID","nonce":"$NONCE","url":"$URL"}`
	order := e.paths.Replace("{order}")
	for _, path := range []string{e.acct, order} {
		req := e.build(t, kidHdr, benchBase+path, nil, `{"protected":"$P","payload":"$L","signature":"$S"}`, 0, 0)
		if rec := e.serve(req, path); rec.Code != http.StatusOK {
			t.Fatalf("POST-as-GET %s: %d %s", path, rec.Code, rec.Body)
		}
		path += "/"
		req = e.build(t, kidHdr, benchBase+path, nil, `{"protected":"$P","payload":"$L","signature":"$S"}`, 0, 0)
		rec := e.serve(req, path)
		if p := fuzzProblem(rec); rec.Code != http.StatusNotFound || p.Type != acme.Malformed {
			t.Errorf("POST-as-GET %s: %d %s, want 404 malformed", path, rec.Code, rec.Body)
		}
	}
}
