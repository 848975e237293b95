package wfe_test

// Fuzz targets for what ACME clients send to the front end, driven through
// ServeHTTP of a front end built as internal/server builds it (benchNewEnv:
// SQLite store, built-in CA, RA, one registered ES256 account). Seeds come
// from the inputs of the hostile and client tests; findings are kept in
// testdata/fuzz/FuzzXxx/ and replayed by plain `go test`.
//
//	go test -run '^$' -fuzz '^FuzzJWS$' -fuzztime 3m -parallel 1 ./internal/wfe/

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	jose "github.com/go-jose/go-jose/v4"
)

// fuzzEndpoints are the POST resources FuzzJWS sends to, "{acct}" standing
// for the account's path, "{order}", "{authz}" and "{cert}" for the
// order, authorization and certificate of the harness's first issued
// certificate. keyChange (FuzzKeyChange) and finalize (FuzzFinalize)
// have targets of their own; challenges are left out, as the harness has
// no validation authority.
var fuzzEndpoints = []string{"/acme/new-account", "{acct}", "/acme/new-order", "/acme/revoke-cert", "{acct}/orders",
	"{order}", "{authz}", "{cert}"}

// fuzzJWSEnv is the front end with the account FuzzJWS signs for.
type fuzzJWSEnv struct {
	*benchEnv
	jwk string // the public JWK of key, JSON
	// payloads maps the placeholders of a payload to their values: $CERT
	// is the base64url DER of a certificate issued to the account (for
	// revokeCert), $CERTID the RFC 9773 identifier of another (for
	// newOrder "replaces"), both for fuzz.test.
	payloads *strings.Replacer
	certID   string // the value of $CERTID
	// paths maps {order}, {authz} and {cert} in fuzzEndpoints to the
	// paths of the order, authorization and certificate of $CERT.
	paths *strings.Replacer
	// rsaKey (RSA 2048) and edKey (Ed25519) sign requests whose header
	// names them by $RSAJWK and $EDJWK, their public JWKs, for the jwk
	// requests of the other account key types.
	rsaKey        *rsa.PrivateKey
	edKey         ed25519.PrivateKey
	rsaJWK, edJWK string
}

func newFuzzJWSEnv(t testing.TB) *fuzzJWSEnv {
	e, _ := benchNewEnv(t, 0, 0)
	f := &fuzzJWSEnv{benchEnv: e}
	f.setJWK(t)
	var err error
	if f.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if _, f.edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	f.rsaJWK, f.edJWK = jwkJSON(t, &f.rsaKey.PublicKey), jwkJSON(t, f.edKey.Public())
	der, _ := f.issue(t)
	_, f.certID = f.issue(t)
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	id := c.SerialNumber.Text(16)
	f.paths = strings.NewReplacer("{order}", "/acme/order/o"+id, "{authz}", "/acme/authz/az"+id, "{cert}", "/acme/cert/"+id)
	f.payloads = strings.NewReplacer("$CERTID", f.certID, "$CERT", base64.RawURLEncoding.EncodeToString(der))
	return f
}

// issue records a certificate for fuzz.test issued to the harness's
// account, as finalize would (store.InsertIssued), for the revokeCert and
// "replaces" seeds. It returns its DER and RFC 9773 certificate ID.
func (f *fuzzJWSEnv) issue(t testing.TB) (der []byte, certID string) {
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := local.RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	const name = "fuzz.test"
	der, err = f.ca.SignLeaf(ctx, local.LeafRequest{Serial: serial, PublicKey: key.Public(), DNSNames: []string{name},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(90 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	acct := f.kid[strings.LastIndex(f.kid, "/")+1:]
	id := serial.Text(16)
	fp := sha256.Sum256(der)
	az := &store.Authorization{ID: "az" + id, AccountID: acct, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: name},
		Status: acme.StatusValid, Expires: now.Add(time.Hour), CreatedAt: now}
	o := &store.Order{ID: "o" + id, AccountID: acct, Status: acme.StatusValid, Expires: now.Add(time.Hour), Identifiers: []acme.Identifier{az.Identifier},
		AuthzIDs: []string{az.ID}, CertSerial: id, CreatedAt: now, UpdatedAt: now}
	c := &store.Certificate{Serial: id, Issuer: "local", OrderID: o.ID, AccountID: acct, DER: der, ChainPEM: string(f.ca.ChainPEM(der)),
		SANs: []string{name}, KeyType: "ECDSA P-256", FingerprintSHA256: hex.EncodeToString(fp[:]),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Status: acme.StatusValid, CreatedAt: now}
	if err := f.st.InsertIssued(ctx, []store.IssuedRecord{{Order: o, Authz: az, Cert: c}}); err != nil {
		t.Fatal(err)
	}
	return der, ariCertID(cert)
}

func (f *fuzzJWSEnv) setJWK(t testing.TB) { f.jwk = jwkJSON(t, &f.key.PublicKey) }

// jwkJSON is the public key pub as a JWK (RFC 7517), JSON.
func jwkJSON(t testing.TB, pub any) string {
	b, err := json.Marshal(jose.JSONWebKey{Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// renew registers a new account (with a new key) after a fuzzed request
// deactivated the harness's one.
func (f *fuzzJWSEnv) renew(t testing.TB) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rec := f.serve(benchSign(t, key, "", f.nonces(t, 1)[0], benchBase+"/acme/new-account", []byte(`{"termsOfServiceAgreed":true}`)), "/acme/new-account")
	if rec.Code != http.StatusCreated {
		t.Fatalf("newAccount: %d %s", rec.Code, rec.Body)
	}
	f.key, f.kid = key, rec.Header().Get("Location")
	f.acct = f.kid[len(benchBase):]
	f.setJWK(t)
}

// esSign is the ES256 JWS signature (RFC 7518 §3.4: R || S, 32 octets
// each) of input with key.
func esSign(t testing.TB, key *ecdsa.PrivateKey, input string) []byte {
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// build fills in the header template (placeholders $NONCE, $URL, $KID,
// and $JWK, $RSAJWK or $EDJWK, JSON values, the others inside strings),
// signs it with payload (placeholders $CERT, $CERTID) under the harness's
// key (RS256 with the RSA key if the header names it, EdDSA with the
// Ed25519 key if it names that, else ES256 with the account key),
// optionally changes byte i of the signature (xor x, when x != 0), and
// fills the flattened JWS into the body template ($P, $L, $S: the
// base64url protected header, payload and signature).
func (f *fuzzJWSEnv) build(t testing.TB, header, url string, payload []byte, body string, i int, x byte) []byte {
	h := strings.NewReplacer("$NONCE", f.nonces(t, 1)[0], "$URL", url, "$KID", f.kid, "$JWK", f.jwk,
		"$RSAJWK", f.rsaJWK, "$EDJWK", f.edJWK).Replace(header)
	p := base64.RawURLEncoding.EncodeToString([]byte(h))
	l := base64.RawURLEncoding.EncodeToString([]byte(f.payloads.Replace(string(payload))))
	var sig []byte
	switch input := p + "." + l; {
	case strings.Contains(header, "$RSAJWK"):
		sum := sha256.Sum256([]byte(input))
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, f.rsaKey, crypto.SHA256, sum[:]); err != nil {
			t.Fatal(err)
		}
	case strings.Contains(header, "$EDJWK"):
		sig = ed25519.Sign(f.edKey, []byte(input))
	default:
		sig = esSign(t, f.key, input)
	}
	if x != 0 {
		sig[i%len(sig)] ^= x
	}
	return []byte(strings.NewReplacer("$P", p, "$L", l, "$S", base64.RawURLEncoding.EncodeToString(sig)).Replace(body))
}

// fuzzProblemTypes are the problems a request to the fuzzed endpoints may
// be refused with: anything but serverInternal, and nothing the server
// does not define.
var fuzzProblemTypes = map[acme.ProblemType]bool{
	acme.Malformed: true, acme.BadNonce: true, acme.BadSignatureAlgorithm: true, acme.BadPublicKey: true,
	acme.Unauthorized: true, acme.AccountDoesNotExist: true, acme.RejectedIdentifier: true, acme.UnsupportedIdentifier: true,
	acme.RateLimited: true, acme.BadRevocationReason: true, acme.AlreadyRevoked: true, acme.AlreadyReplaced: true,
	acme.InvalidProfile: true, acme.InvalidContact: true, acme.UnsupportedContact: true, acme.ExternalAccountRequired: true,
	acme.UserActionRequired: true, acme.CAA: true,
}

// checkRefusal fails t unless rec is a success or an RFC 8555 §6.7 problem
// document of one of fuzzProblemTypes with a 4xx status.
func checkRefusal(t *testing.T, rec *httptest.ResponseRecorder, body []byte) {
	t.Helper()
	if rec.Code < 400 {
		return
	}
	var p acme.Problem
	if rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
		t.Fatalf("status %d without a problem document: %q\nrequest: %s", rec.Code, rec.Body, body)
	}
	if rec.Code >= 500 || !fuzzProblemTypes[p.Type] {
		t.Fatalf("status %d, problem %s (%s)\nrequest: %s", rec.Code, p.Type, p.Detail, body)
	}
}

// FuzzJWS sends fuzzed flattened-JWS POSTs (RFC 8555 §6.2) to newAccount
// (jwk), the account, newOrder, the orders list, an order, an
// authorization and a certificate (kid) and revokeCert (either). The header is signed correctly by the harness whatever it
// says, so the fuzzer reaches every check after the signature's. It
// checks that the front end never panics, refuses only with a 4xx problem
// of a defined type (never serverInternal), that an order it accepts
// holds identifiers in normal form (ra.NormalizeIdentifiers), and that a
// request it accepts is refused, as malformed, once any byte of its
// signature is changed.
func FuzzJWS(f *testing.F) {
	const kidHdr = `{"alg":"ES256","kid":"$KID","nonce":"$NONCE","url":"$URL"}`
	const jwkHdr = `{"alg":"ES256","jwk":$JWK,"nonce":"$NONCE","url":"$URL"}`
	const flat = `{"protected":"$P","payload":"$L","signature":"$S"}`
	order := `{"identifiers":[{"type":"dns","value":"ok.fuzz.test"}]}`
	for _, s := range []struct {
		ep      uint8
		hdr     string
		payload string
		body    string
	}{
		{0, jwkHdr, `{"termsOfServiceAgreed":true}`, flat},
		{0, jwkHdr, `{"onlyReturnExisting":true}`, flat},
		{0, jwkHdr, `{"contact":["mailto:a@example.com"],"termsOfServiceAgreed":true}`, flat},
		{0, kidHdr, `{}`, flat},
		{0, `{"alg":"RS256","jwk":$RSAJWK,"nonce":"$NONCE","url":"$URL"}`, `{"termsOfServiceAgreed":true}`, flat},
		{0, `{"alg":"EdDSA","jwk":$EDJWK,"nonce":"$NONCE","url":"$URL"}`, `{"termsOfServiceAgreed":true}`, flat},
		{0, `{"alg":"ES256","jwk":$RSAJWK,"nonce":"$NONCE","url":"$URL"}`, `{"termsOfServiceAgreed":true}`, flat},
		{0, `{"alg":"RS256","jwk":$EDJWK,"nonce":"$NONCE","url":"$URL"}`, `{"termsOfServiceAgreed":true}`, flat},
		{3, `{"alg":"EdDSA","jwk":$EDJWK,"nonce":"$NONCE","url":"$URL"}`, `{"certificate":"$CERT","reason":1}`, flat},
		{1, kidHdr, ``, flat},
		{1, kidHdr, `{"contact":[]}`, flat},
		{1, jwkHdr, ``, flat},
		{2, kidHdr, order, flat},
		{2, kidHdr, `{"identifiers":[{"type":"ip","value":"192.0.2.7"},{"type":"dns","value":"*.Fuzz.TEST"}]}`, flat},
		{2, kidHdr, `{"identifiers":[{"type":"dns","value":"ok.fuzz.test"}],"replaces":"AQID.AQ"}`, flat},
		{2, kidHdr, `{"identifiers":[{"type":"dns","value":"ok.fuzz.test"}],"profile":"nope","notAfter":"2030-01-01T00:00:00Z"}`, flat},
		{2, `{"alg":"none","kid":"$KID","nonce":"$NONCE","url":"$URL"}`, order, flat},
		{2, `{"alg":"RS256","kid":"$KID","nonce":"$NONCE","url":"$URL"}`, order, flat},
		{2, `{"alg":"ES256","kid":"$KID","jwk":$JWK,"nonce":"$NONCE","url":"$URL"}`, order, flat},
		{2, `{"alg":"ES256","kid":"$KID","nonce":"$NONCE","url":"$URL","b64":false,"crit":["b64"]}`, order, flat},
		{2, `{"alg":"ES256","kid":"$KID","url":"$URL"}`, order, flat},
		{2, `{"alg":"ES256","kid":"$KID/x","nonce":"$NONCE","url":"$URL"}`, order, flat},
		{2, `{"alg":"ES256","kid":"$KID\u0000","nonce":"$NONCE","url":"$URL"}`, order, flat},
		{2, `{"alg":"ES256","kid":"$KID","nonce":"$NONCE","url":"$URL/"}`, order, flat},
		{2, kidHdr, order, `{"protected":"$P","payload":"$L","signature":"$S","header":{}}`},
		{2, kidHdr, order, `{"payload":"$L","signatures":[{"protected":"$P","signature":"$S"}]}`},
		{2, kidHdr, order, `{"protected":"$P","payload":"$L","signature":"$S","Protected":"$P"}`},
		{2, kidHdr, order, `{"protected":"$P","payload":"$L","signature":"$S"} {}`},
		{2, kidHdr, order, `{"protected":"\u0024P","payload":"$L","signature":"$S"}`},
		{2, kidHdr, order, `$P.$L.$S`},
		{2, kidHdr, `{"identifiers":[{"type":"dns","value":"fuzz.test"}],"replaces":"$CERTID"}`, flat},
		{2, kidHdr, `{"identifiers":[{"type":"dns","value":"other.fuzz.test"}],"replaces":"$CERTID"}`, flat},
		{3, kidHdr, `{"certificate":"$CERT","reason":4}`, flat},
		{3, kidHdr, `{"certificate":"$CERT","reason":1}`, flat},
		{3, kidHdr, `{"certificate":"$CERT","reason":7}`, flat},
		{3, kidHdr, `{"certificate":"$CERT","reason":-1}`, flat},
		{3, kidHdr, `{"certificate":"$CERT"}`, flat},
		{3, jwkHdr, `{"certificate":"$CERT","reason":1}`, flat},
		{3, kidHdr, `{"certificate":"MIIB","reason":1}`, flat},
		{3, kidHdr, `{"certificate":"","reason":7}`, flat},
		{3, jwkHdr, `{"certificate":"MIIBAQ","reason":0}`, flat},
		{4, kidHdr, ``, flat},
		{5, kidHdr, ``, flat},
		{5, kidHdr, `{}`, flat},
		{6, kidHdr, ``, flat},
		{6, kidHdr, `{"status":"valid"}`, flat},
		{6, kidHdr, `{"status":"deactivated","x":[]}`, flat},
		{6, kidHdr, `{"status":"deactivated","status":"deactivated"}`, flat},
		{7, kidHdr, ``, flat},
		{7, jwkHdr, ``, flat},
	} {
		f.Add(s.ep, s.hdr, []byte(s.payload), s.body, uint16(0))
	}
	e := newFuzzJWSEnv(f)
	f.Fuzz(func(t *testing.T, ep uint8, hdr string, payload []byte, body string, tamper uint16) {
		path := e.paths.Replace(strings.ReplaceAll(fuzzEndpoints[int(ep)%len(fuzzEndpoints)], "{acct}", e.acct))
		url := benchBase + path
		req := e.build(t, hdr, url, payload, body, 0, 0)
		rec := e.serve(req, path)
		checkRefusal(t, rec, req)
		checkReplayNonce(t, rec, req)
		if rec.Code >= 300 {
			return
		}
		if path == "/acme/new-order" {
			// What reached the RA was well formed: the order's
			// identifiers are already in normal form.
			var o acme.Order
			if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil || len(o.Identifiers) == 0 {
				t.Fatalf("newOrder accepted: %s (%v)", rec.Body, err)
			}
			if n, err := ra.NormalizeIdentifiers(o.Identifiers); err != nil || !slices.Equal(n, o.Identifiers) {
				t.Fatalf("newOrder accepted identifiers %v, whose normal form is %v (%v)\nrequest: %s", o.Identifiers, n, err, req)
			}
		}
		if strings.Contains(rec.Body.String(), `"status":"deactivated"`) {
			// The request deactivated the harness's account (RFC 8555
			// §7.3.6): the next ones need another.
			e.renew(t)
			return
		}
		// Accepted: the same request, with a new nonce and one byte of
		// its signature changed, must be refused as malformed.
		i, x := int(tamper>>8), byte(tamper)
		if x == 0 {
			x = 1
		}
		bad := e.build(t, hdr, url, payload, body, i, x)
		rec2 := e.serve(bad, path)
		checkRefusal(t, rec2, bad)
		checkReplayNonce(t, rec2, bad)
		if rec2.Code < 300 {
			t.Fatalf("accepted with signature byte %d changed (status %d)\nrequest: %s", i%64, rec2.Code, bad)
		}
		if p := fuzzProblem(rec2); p.Type != acme.Malformed {
			t.Fatalf("signature byte %d changed: %s, want malformed\nrequest: %s", i%64, p.Type, bad)
		}
	})
}

// checkReplayNonce fails t unless rec, the answer to a POST, carries a
// fresh nonce: RFC 8555 §6.5 requires one on every success and on every
// badNonce problem, and asks for one on other errors, which the server
// gives too.
func checkReplayNonce(t *testing.T, rec *httptest.ResponseRecorder, body []byte) {
	t.Helper()
	if rec.Header().Get("Replay-Nonce") == "" {
		t.Fatalf("status %d without a Replay-Nonce: %s\nrequest: %s", rec.Code, rec.Body, body)
	}
}

func fuzzProblem(rec *httptest.ResponseRecorder) acme.Problem {
	var p acme.Problem
	json.Unmarshal(rec.Body.Bytes(), &p)
	return p
}

// FuzzRenewalInfo sends fuzzed RFC 9773 certificate identifiers to GET
// renewalInfo ($CERTID standing for that of a certificate issued to the
// harness's account): never a panic; only the identifier of that
// certificate gets a renewal window, anything else is a 4xx malformed
// problem (404 for an identifier of no certificate).
func FuzzRenewalInfo(f *testing.F) {
	aki := base64.RawURLEncoding.EncodeToString([]byte{1, 2, 3})
	for _, s := range []string{"$CERTID", "$CERTID.", "$CERTIDA", "x$CERTID", "$CERTID/x", aki + ".AQ", aki + ".AIdl", ".", aki, aki + ".",
		"a+b." + aki, aki + "=.AQ", aki + ".gA", aki + ".AAE", "x/y", "%00", "%FF.AQ", "AQ%0A.AQ"} {
		f.Add(s)
	}
	e := newFuzzJWSEnv(f)
	f.Fuzz(func(t *testing.T, certID string) {
		req, err := http.NewRequest(http.MethodGet, benchBase+"/acme/renewal-info/"+e.payloads.Replace(certID), nil)
		if err != nil {
			return // not a URL a client could send
		}
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		checkRefusal(t, rec, []byte(req.URL.String()))
		if rec.Code < 300 && req.URL.Path != "/acme/renewal-info/"+e.certID {
			t.Fatalf("renewalInfo %q: %d %s; only %q names a certificate", req.URL, rec.Code, rec.Body, e.certID)
		}
	})
}
