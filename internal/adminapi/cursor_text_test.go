package adminapi

import (
	"encoding/base64"
	"testing"

	"github.com/certgate/certgate/internal/auth"
)

// TestTamperedCursorNotPlainText, on both engines: a cursor whose decoded
// key holds a NUL character or invalid UTF-8 (a client can send any
// base64url) is a 422 malformed cursor, as any other cursor that is not
// one of ours; PostgreSQL's text type refuses such text, so the query
// failed there with a 500.
func TestTamperedCursorNotPlainText(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		tok := f.tokens[auth.RoleAuditor]
		acct, _ := f.account()
		b64 := base64.RawURLEncoding.EncodeToString
		for _, path := range []string{
			"/api/v1/accounts/" + acct + "/orders?cursor=" + b64([]byte("1:a\x00b")),
			"/api/v1/accounts/" + acct + "/orders?cursor=" + b64([]byte("1:a\xffb")),
			"/api/v1/certificates?cursor=" + b64([]byte(`{"o":"not_after","n":0,"s":"a\u0000b"}`)),
			"/api/v1/certificates?sort=serial&cursor=" + b64([]byte("{\"o\":\"serial\",\"n\":0,\"s\":\"a\x00b\"}")),
			"/api/v1/reports/issued?by=profile&cursor=" + b64([]byte(`{"b":"profile","k":"a\u0000b"}`)),
			"/api/v1/reports/issued?by=issuer&cursor=" + b64([]byte(`{"b":"issuer","k":"a\u0000b"}`)),
		} {
			r := f.rawDo("GET", path, tok, "", nil)
			if r.status != 422 {
				t.Errorf("GET %s: %d, want 422: %s", path, r.status, r.body)
			}
		}
	})
}
