package va

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"

	"github.com/certgate/certgate/internal/acme"
)

// dns01Label is the label prepended to the identifier (RFC 8555 §8.4).
const dns01Label = "_acme-challenge."

// validateDNS01 implements RFC 8555 §8.4: some TXT record at
// _acme-challenge.NAME (CNAMEs followed) must equal
// base64url(SHA-256(keyAuthorization)) without padding.
//
// ip identifiers are refused with malformed: RFC 8738 §7 says dns-01 MUST
// NOT be used for them, so such a request is invalid rather than a failed
// proof of control (unauthorized would suggest a record could fix it).
func (v *VA) validateDNS01(ctx context.Context, t target, keyAuthorization string) error {
	if t.isIP() {
		return problem(t.id, acme.Malformed, "dns-01 cannot validate ip identifiers (RFC 8738 §7); use http-01 or tls-alpn-01")
	}
	name := dns01Label + t.name
	sum := sha256.Sum256([]byte(keyAuthorization))
	want := base64.RawURLEncoding.EncodeToString(sum[:])

	txts, err := v.resolver.LookupTXT(ctx, name)
	if err != nil {
		return dnsProblem(t.id, err)
	}
	if len(txts) == 0 {
		return failf(t.id, nil, acme.IncorrectResponse, "no TXT record found at %s", name)
	}
	for _, txt := range txts {
		if subtle.ConstantTimeCompare([]byte(txt), []byte(want)) == 1 {
			return nil
		}
	}
	return failf(t.id, nil, acme.IncorrectResponse, "incorrect TXT record %s found at %s (%d record(s); expected %q)",
		excerpt([]byte(txts[0])), name, len(txts), want)
}
