package wfe

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"
)

// SignatureAlgorithms is the JWS "alg" allowlist for ACME requests (RFC 8555
// §6.2). PS256 is deliberately absent: no widespread ACME client uses it and
// Let's Encrypt does not accept it, so offering it would only widen the
// attack surface. HS* and "none" are never accepted.
var SignatureAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

func algNames() []string {
	out := make([]string, len(SignatureAlgorithms))
	for i, a := range SignatureAlgorithms {
		out[i] = string(a)
	}
	return out
}

// flattened is the flattened JWS JSON serialization (RFC 7515 §7.2.2), the
// only form ACME accepts (RFC 8555 §6.2).
type flattened struct {
	Protected, Payload, Signature *string
}

// protectedHeader is what ACME requires in the JWS protected header.
type protectedHeader struct {
	Alg   string          `json:"alg"`
	JWK   json.RawMessage `json:"jwk"`
	Kid   string          `json:"kid"`
	Nonce string          `json:"nonce"`
	URL   *string         `json:"url"`
	B64   *bool           `json:"b64"`
	Crit  json.RawMessage `json:"crit"`
}

// keyMode says which key reference a request must carry (RFC 8555 §6.2).
type keyMode int

const (
	needKid    keyMode = iota // all requests except below
	needJWK                   // newAccount, inner keyChange
	jwkOrKid                  // revokeCert
	innerJWKNo                // inner keyChange JWS: jwk, no nonce
	// kidAnyKey is needKid for the requests an account whose key is
	// outside the account key policy (ra.CheckAccountKey; e.g. created
	// before it) may still make: keyChange, to roll over to a key within
	// it, and its account resource (fetch, update, deactivate).
	kidAnyKey
)

// request is a verified ACME POST.
type request struct {
	payload    []byte
	jwk        *jose.JSONWebKey // the signing key
	thumbprint string           // RFC 7638 thumbprint of jwk, base64url
	account    *store.Account   // set for kid requests
	url        string
}

func (r *request) postAsGet() bool { return len(r.payload) == 0 }

// readBody enforces the media type (RFC 8555 §6.2: application/jose+json,
// compared case-insensitively, parameters ignored) and the body limit.
func (w *WFE) readBody(rw http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/jose+json" {
		p := acme.NewProblem(acme.Malformed, "Content-Type must be application/jose+json")
		p.Status = http.StatusUnsupportedMediaType
		return nil, p
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, w.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			p := acme.NewProblem(acme.Malformed, "request body exceeds %d bytes", w.cfg.MaxBodyBytes)
			p.Status = http.StatusRequestEntityTooLarge
			return nil, p
		}
		return nil, acme.NewProblem(acme.Malformed, "reading the request body failed")
	}
	return body, nil
}

// verify parses and checks a flattened JWS body (RFC 8555 §6.2–6.5): shape,
// alg allowlist, key reference per mode, nonce (consumed even if a later
// check fails), url equal to the request URL, signature; for kid it loads
// the account, which must be valid. A missing nonce, or one that is unknown,
// expired or used, is badNonce; one that is not base64url is malformed, as
// RFC 8555 §6.5.2 requires: "If the value of a "nonce" header parameter is
// not valid according to this encoding, then the verifier MUST reject the
// JWS as malformed."
func (w *WFE) verify(ctx context.Context, body []byte, base, url string, mode keyMode) (*request, error) {
	// Decode into a map first: encoding/json matches member names
	// case-insensitively and keeps duplicates' last value, while go-jose
	// does not, so "Protected" beside "protected" could smuggle an unsigned
	// header past the signature check. Only the three exact names are
	// read; "signatures" and "header" are refused (RFC 8555 §6.2), and any
	// other member, "Protected" included, is ignored, as RFC 7515 §7.2.1
	// requires of members an implementation does not understand.
	// json.Unmarshal refuses anything but white space after the object
	// (the body is not parsed as a whole again below).
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, bodyProblem(body)
	}
	// The members are looked at in a fixed order, so that a body with
	// several faults always gets the same problem.
	if _, ok := members["signatures"]; ok {
		return nil, acme.NewProblem(acme.Malformed, "JWS general serialization (\"signatures\") is not allowed; use the flattened form")
	}
	if _, ok := members["header"]; ok {
		return nil, acme.NewProblem(acme.Malformed, "the JWS unprotected header is not allowed (RFC 8555 §6.2)")
	}
	var f flattened
	for _, m := range [...]struct {
		name string
		dst  **string
	}{{"protected", &f.Protected}, {"payload", &f.Payload}, {"signature", &f.Signature}} {
		raw, ok := members[m.name]
		if !ok {
			continue
		}
		// null is not a string (RFC 7515 §7.2.1), although encoding/json
		// would leave the string empty and report no error.
		v, ok := plainJSONString(raw)
		if !ok && (string(raw) == "null" || json.Unmarshal(raw, &v) != nil) {
			return nil, acme.NewProblem(acme.Malformed, "JWS member %q must be a string", m.name)
		}
		*m.dst = &v
	}
	if f.Protected == nil || f.Payload == nil || f.Signature == nil {
		return nil, acme.NewProblem(acme.Malformed, "the JWS needs \"protected\", \"payload\" and \"signature\"")
	}
	hb, err := base64.RawURLEncoding.DecodeString(*f.Protected)
	if err != nil {
		return nil, acme.NewProblem(acme.Malformed, "the JWS protected header is not base64url")
	}
	// go-jose's decoder, as go-jose reads the header it verifies:
	// member names are case-sensitive (RFC 7515 §4; encoding/json read
	// "URL" as "url" and "Nonce" as "nonce", parameters go-jose ignores)
	// and a duplicate name is refused (RFC 7515 §4: reject or take the
	// last; encoding/json took the last).
	var h protectedHeader
	if err := josejson.Unmarshal(hb, &h); err != nil {
		// encoding/json names the member of a type error ("nonce": 1),
		// which go-jose's decoder does not.
		var te *json.UnmarshalTypeError
		if jerr := json.Unmarshal(hb, new(protectedHeader)); errors.As(jerr, &te) && te.Field != "" {
			return nil, acme.NewProblem(acme.Malformed, "the JWS protected header member %q has the wrong type (RFC 7515 §4.1, RFC 8555 §6.2)", te.Field)
		}
		return nil, acme.NewProblem(acme.Malformed, "the JWS protected header is not a JSON object with distinct member names (RFC 7515 §4)")
	}
	if mode != innerJWKNo {
		if h.Nonce == "" {
			return nil, acme.NewProblem(acme.BadNonce, "the JWS has no nonce")
		}
		if !validBase64URL(h.Nonce) {
			return nil, acme.NewProblem(acme.Malformed, "the JWS nonce is not base64url (RFC 8555 §6.5.2)")
		}
		ok, err := w.nonces.Redeem(ctx, h.Nonce)
		if err != nil {
			return nil, w.internal(ctx, "nonce check", err)
		}
		if !ok {
			return nil, acme.NewProblem(acme.BadNonce, "the nonce is unknown, expired or already used")
		}
	} else if h.Nonce != "" {
		return nil, acme.NewProblem(acme.Malformed, "the inner keyChange JWS must not carry a nonce (RFC 8555 §7.3.5)")
	}
	if !validAlg(h.Alg) {
		p := acme.NewProblem(acme.BadSignatureAlgorithm, "JWS algorithm %q is not supported", h.Alg)
		p.Algorithms = algNames()
		return nil, p
	}
	if h.B64 != nil || h.Crit != nil {
		return nil, acme.NewProblem(acme.Malformed, "the JWS must not use \"b64\" or \"crit\" (RFC 8555 §6.2)")
	}
	if h.URL == nil {
		return nil, acme.NewProblem(acme.Malformed, "the JWS protected header needs a \"url\"")
	}
	if *h.URL != url {
		return nil, acme.NewProblem(acme.Unauthorized, "the JWS url %q does not match the request URL %q", *h.URL, url)
	}
	hasJWK, hasKid := len(h.JWK) > 0 && string(h.JWK) != "null", h.Kid != ""
	if hasJWK == hasKid {
		return nil, acme.NewProblem(acme.Malformed, "the JWS must have exactly one of \"jwk\" and \"kid\"")
	}
	switch mode {
	case needKid, kidAnyKey:
		if !hasKid {
			return nil, acme.NewProblem(acme.Malformed, "this request must be signed with the account key and identify it by \"kid\"")
		}
	case needJWK, innerJWKNo:
		if !hasJWK {
			return nil, acme.NewProblem(acme.Malformed, "this request must carry the public key in \"jwk\", not \"kid\"")
		}
	}
	// The members are checked above and there is no unprotected header, so
	// the compact form of the same three values is the same JWS; parsing it
	// skips go-jose's second decoding of the whole body.
	jws, err := jose.ParseSignedCompact(*f.Protected+"."+*f.Payload+"."+*f.Signature, SignatureAlgorithms)
	if hasJWK && errors.Is(err, jose.ErrUnsupportedKeyType) {
		// A "jwk" go-jose does not take: an RSA modulus over 4096 bits
		// (jose.MaxRSAModulusBits; lego offers rsa8192) or another key type.
		return nil, acme.NewProblem(acme.BadPublicKey, "the key in \"jwk\" is not supported: %s", ra.AcceptedAccountKeys)
	}
	if err != nil && hasJWK {
		// Say which part is wrong when it is the key: "jwk" holds a
		// string, a number, or an object that is no JWK.
		var k jose.JSONWebKey
		if t := bytes.TrimSpace(h.JWK); len(t) == 0 || t[0] != '{' {
			return nil, acme.NewProblem(acme.Malformed, "the JWS protected header member \"jwk\" must be a JSON object, a public JWK (RFC 7515 §4.1.3, RFC 7517)")
		} else if k.UnmarshalJSON(t) != nil {
			return nil, acme.NewProblem(acme.Malformed, "the JWS protected header member \"jwk\" is not a valid JWK (RFC 7517)")
		} else if !k.IsPublic() {
			// go-jose takes only public keys in a JWS header: this one
			// holds private parts ("d") or is a symmetric ("oct") key.
			return nil, acme.NewProblem(acme.Malformed, "the JWS protected header member \"jwk\" must be a public key; it holds a private or symmetric key (send only the public part, RFC 8555 §6.2)")
		}
	}
	if err != nil || len(jws.Signatures) != 1 {
		return nil, acme.NewProblem(acme.Malformed, "the JWS cannot be parsed")
	}
	// signedBy checks that jwk, the key of acct (nil for a "jwk"
	// request), fits alg and verifies the signature; a "jwk" key must
	// be within the account key policy.
	signedBy := func(jwk *jose.JSONWebKey, acct *store.Account) ([]byte, error) {
		if err := checkAccountKey(jwk.Key, h.Alg, acct == nil); err != nil {
			if p, ok := acme.AsProblem(err); ok && p.Type == acme.BadSignatureAlgorithm && acct != nil {
				// The alg is supported but does not fit the stored account
				// key: the request was not signed by the account's key.
				return nil, acme.NewProblem(acme.Malformed, "the JWS is not signed by the account's key")
			}
			return nil, err
		}
		payload, err := jws.Verify(jwk)
		if err != nil {
			return nil, acme.NewProblem(acme.Malformed, "the JWS signature does not verify")
		}
		return payload, nil
	}
	req := &request{url: url}
	var payload []byte
	if hasJWK {
		jwk := jws.Signatures[0].Protected.JSONWebKey
		if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
			return nil, acme.NewProblem(acme.Malformed, "the \"jwk\" is not a valid public key")
		}
		req.jwk = jwk
		if payload, err = signedBy(jwk, nil); err != nil {
			return nil, err
		}
	} else {
		acct, jwk, cached, err := w.accountByKid(ctx, base, h.Kid, false)
		if err != nil {
			return nil, err
		}
		payload, err = signedBy(jwk, acct)
		if err != nil && cached {
			// The cached key may be stale: another node may have rolled
			// the account over (keyChange) since, and the client now
			// signs with the new key. The store has the current one.
			if acct, jwk, _, err = w.accountByKid(ctx, base, h.Kid, true); err != nil {
				return nil, err
			}
			payload, err = signedBy(jwk, acct)
		}
		if err != nil {
			return nil, err
		}
		if mode != kidAnyKey {
			// The signature verified: the account's key is outside
			// the policy only if it was stored before the policy.
			if err := ra.CheckAccountKey(jwk.Key); err != nil {
				p, _ := acme.AsProblem(err)
				return nil, acme.NewProblem(acme.BadPublicKey, "the account key is no longer accepted (%s): roll it over to an accepted key with keyChange (RFC 8555 §7.3.5)", p.Detail)
			}
		}
		req.account, req.jwk = acct, jwk
	}
	if req.account != nil && req.account.KeyThumbprint != "" {
		// The account's stored thumbprint is that of its key (the
		// signature just verified with it); no need to hash it again.
		req.thumbprint = req.account.KeyThumbprint
	} else {
		tp, err := req.jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, acme.NewProblem(acme.Malformed, "cannot compute the key thumbprint")
		}
		req.thumbprint = base64.RawURLEncoding.EncodeToString(tp)
	}
	req.payload = payload
	return req, nil
}

// bodyProblem is the problem for a body that is not one JSON object
// followed by nothing but white space.
func bodyProblem(body []byte) error {
	var v map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if dec.Decode(&v) == nil && v != nil {
		return acme.NewProblem(acme.Malformed, "unexpected data after the JWS")
	}
	return acme.NewProblem(acme.Malformed, "the body is not a JWS in flattened JSON serialization")
}

// plainJSONString returns the value of raw, a JSON value taken from a valid
// document, if it is a string of printable ASCII without escapes (as
// base64url members are): then the value is the text between the quotes.
// Anything else is left to encoding/json (ok false).
func plainJSONString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for _, c := range in {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return "", false
		}
	}
	return string(in), true
}

func validAlg(alg string) bool {
	for _, a := range SignatureAlgorithms {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// checkAccountKey checks that alg fits the type of key, a JWS key: RS256
// for RSA, ES256/384/512 for ECDSA P-256/384/521, EdDSA for Ed25519; with
// policy, that key is within the account key policy (ra.CheckAccountKey),
// as a key sent in "jwk" must be (newAccount, the inner keyChange JWS,
// revokeCert by the certificate's key). Errors are badPublicKey or
// badSignatureAlgorithm.
func checkAccountKey(key any, alg string, policy bool) error {
	if policy {
		if err := ra.CheckAccountKey(key); err != nil {
			return err
		}
	}
	var want string
	switch k := key.(type) {
	case *rsa.PublicKey:
		want = "RS256"
	case *ecdsa.PublicKey:
		want = map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[k.Curve.Params().Name]
	case ed25519.PublicKey:
		want = "EdDSA"
	}
	if want == "" {
		// Only a stored account key can get here (policy false).
		return acme.NewProblem(acme.BadPublicKey, "unsupported account key type; %s", ra.AcceptedAccountKeys)
	}
	if alg != want {
		p := acme.NewProblem(acme.BadSignatureAlgorithm, "JWS algorithm %q does not fit the key type", alg)
		p.Algorithms = algNames()
		return p
	}
	return nil
}

// accountByKid resolves a "kid" account URL to a valid account and its
// key, from the account cache (cached true) unless fresh, else from the
// store.
func (w *WFE) accountByKid(ctx context.Context, base, kid string, fresh bool) (_ *store.Account, _ *jose.JSONWebKey, cached bool, _ error) {
	id, ok := strings.CutPrefix(kid, base+accountPath)
	if !ok || id == "" || strings.Contains(id, "/") {
		return nil, nil, false, acme.NewProblem(acme.AccountDoesNotExist, "\"kid\" is not an account URL of this server")
	}
	if !fresh {
		if acct, jwk, ok := w.accounts.get(id); ok && acct.Status == acme.StatusValid {
			return acct, jwk, true, nil
		}
	}
	var acct *store.Account
	err := store.ErrNotFound // an ID with a NUL or invalid UTF-8 names no account (PostgreSQL would refuse it)
	if store.PlainText(id) {
		acct, err = w.store.GetAccount(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, false, acme.NewProblem(acme.AccountDoesNotExist, "no account exists at %q", kid)
	}
	if err != nil {
		return nil, nil, false, w.internal(ctx, "account lookup", err)
	}
	if acct.Status != acme.StatusValid {
		w.accounts.forget(id)
		return nil, nil, false, ra.AccountNotValid(acct)
	}
	jwk, err := w.accounts.put(acct)
	if err != nil {
		return nil, nil, false, w.internal(ctx, "account key", err)
	}
	return acct, jwk, false, nil
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of k, base64url.
func thumbprint(k *jose.JSONWebKey) (string, error) {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// validBase64URL reports whether s is valid base64url as RFC 7515 §2
// defines it, the encoding of a JWS "nonce" (RFC 8555 §6.5.2): only the 64
// characters of the URL- and filename-safe alphabet, no "=" padding, no
// line breaks or white space (which the decoder would skip), a length no
// octet string encodes to refused (1 more than a multiple of 4), and the
// last character's unused low bits zero (RFC 4648 §3.5).
func validBase64URL(s string) bool {
	if strings.ContainsAny(s, "\r\n") {
		return false
	}
	_, err := nonceEncoding.DecodeString(s)
	return err == nil
}
