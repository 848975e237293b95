package wfe_test

import (
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/testenv"
)

// TestOversizedRSAAccountKeyIsBadPublicKey: a newAccount signed with an
// RSA key over 4096 bits (Debian's lego offers --key-type rsa8192, and
// uses it for the account) is refused with badPublicKey naming the
// accepted keys (RFC 8555 §6.7: "The JWS was signed by a public key the
// server does not support"). go-jose refuses to parse such a JWK, and the
// client got "malformed: the JWS cannot be parsed", while
// docs/configuration.md promised RSA up to 8192 bits.
func TestOversizedRSAAccountKeyIsBadPublicKey(t *testing.T) {
	env := testenv.New(t)
	c := clNewRawClient(t, env, clEcKey(t, elliptic.P256()))
	// A JWK with an 8192-bit modulus: go-jose refuses it while parsing the
	// protected header, before any signature check, so no real key (slow
	// to generate) is needed.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 8191))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, 8191, 1).SetBit(n, 0, 1)
	b64 := base64.RawURLEncoding.EncodeToString
	hdr, _ := json.Marshal(map[string]any{
		"alg": "RS256", "nonce": c.nonce(), "url": c.dir.NewAccount,
		"jwk": map[string]string{"kty": "RSA", "n": b64(n.Bytes()), "e": "AQAB"},
	})
	body, _ := json.Marshal(map[string]string{
		"protected": b64(hdr), "payload": b64([]byte(`{"termsOfServiceAgreed":true}`)), "signature": b64(make([]byte, 1024)),
	})
	r := clPostRaw(t, env, c.dir.NewAccount, body)
	p := r.problem()
	if r.status != http.StatusBadRequest || p.Type != "urn:ietf:params:acme:error:badPublicKey" ||
		!strings.Contains(p.Detail, "RSA keys of 2048 to 4096 bits") {
		t.Errorf("newAccount with an RSA 8192 key: %s, want 400 badPublicKey naming RSA 2048 to 4096 bits", r)
	}
}
