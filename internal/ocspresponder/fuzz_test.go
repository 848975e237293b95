package ocspresponder

// Fuzz target for what relying parties send: OCSP requests (RFC 6960
// §4.1.1) as POST bodies and as GET {Path}/{base64} paths (Appendix A.1).
// Seeds are the requests of TestGET and TestMalformed; findings are kept
// in testdata/fuzz/FuzzOCSPRequest/ and replayed by plain `go test`.
//
//	go test -run '^$' -fuzz '^FuzzOCSPRequest$' -fuzztime 3m -parallel 1 ./internal/ocspresponder/

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/ocsp"
)

// FuzzOCSPRequest: the responder never panics and always answers HTTP 200
// with an OCSP response (RFC 6960 §2.3): malformedRequest for anything
// that is not one well-formed single-certificate request, unauthorized
// for another issuer's or for a serial this CA never issued, else a
// response signed by the intermediate about the serial asked for; never
// internalError.
func FuzzOCSPRequest(f *testing.F) {
	fx := newFixture(f, Config{})
	cert := fx.issue(f, "local")
	iss := fx.ca.Intermediate()
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		der := request(f, cert, iss, h)
		b64 := base64.StdEncoding.EncodeToString(der)
		f.Add(false, der)
		f.Add(true, []byte(url.PathEscape(b64)))
		f.Add(true, []byte(b64))
		f.Add(true, []byte(base64.RawURLEncoding.EncodeToString(der)))
		f.Add(false, der[:len(der)-3])
		f.Add(false, append(append([]byte{}, der...), 0))
	}
	f.Add(false, request(f, cert, fx.ca.Root(), crypto.SHA1))
	for _, s := range []string{"not an OCSP request", "", "@@@", "aGVsbG8=", "%zz", "MA==", "MAA", "..%2f"} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, get bool, in []byte) {
		var req *http.Request
		if get {
			u, err := url.Parse(path + "/" + string(in))
			if err != nil {
				return // not a URL a client could send
			}
			req = httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL = u
		} else {
			req = httptest.NewRequest(http.MethodPost, path, bytes.NewReader(in))
			req.Header.Set("Content-Type", "application/ocsp-request")
		}
		rec := httptest.NewRecorder()
		fx.resp.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != ContentType {
			t.Fatalf("HTTP %d, Content-Type %q for %q", rec.Code, rec.Header().Get("Content-Type"), in)
		}
		resp, err := ocsp.ParseResponse(rec.Body.Bytes(), iss)
		var re ocsp.ResponseError
		switch {
		case errors.As(err, &re):
			if re.Status != ocsp.Malformed && re.Status != ocsp.Unauthorized {
				t.Fatalf("OCSP status %s for %q", re.Status, in)
			}
			return
		case err != nil:
			t.Fatalf("the response does not parse or verify (%v) for %q", err, in)
		}
		// A signed response: the request must have been one well-formed
		// request, about the serial answered.
		der := in
		if get {
			s, _ := url.PathUnescape(getPart(req))
			if der, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
				der, _ = base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
			}
		}
		q, err := ocsp.ParseRequest(der)
		if err != nil {
			t.Fatalf("answered %q, which is no OCSP request (%v)", in, err)
		}
		if resp.SerialNumber.Cmp(q.SerialNumber) != 0 {
			t.Fatalf("answered about serial %x, asked %x", resp.SerialNumber, q.SerialNumber)
		}
		if q.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			t.Fatalf("signed status %d for serial %x, which was never issued (want the unsigned unauthorized response)", resp.Status, q.SerialNumber)
		}
	})
}

// getPart is the GET request's base64 part, still percent-encoded.
func getPart(req *http.Request) string {
	return strings.TrimPrefix(req.URL.EscapedPath(), path+"/")
}
