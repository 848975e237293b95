package va

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"

	"github.com/certgate/certgate/internal/acme"
)

// dns01Label is the label prepended to the identifier (RFC 8555 §8.4).
const dns01Label = "_acme-challenge."

// validateDNS01 implements RFC 8555 §8.4: some TXT record at
// _acme-challenge.NAME (CNAMEs followed) must equal
// base64url(SHA-256(keyAuthorization)) without padding.
//
// A name without TXT records is an unauthorized problem, with either
// resolver; one that does not exist a dns problem with the configured
// resolver (NXDOMAIN), an unauthorized one with the system resolver, which
// cannot tell the two apart.
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
	if le := (*LookupError)(nil); errors.As(err, &le) && le.NotFound {
		// The system resolver cannot tell a name without TXT records from
		// one that does not exist: answer as for the former, the usual
		// case, and the same with either resolver.
		return failf(t.id, err, acme.Unauthorized, "no TXT record found at %s (no such name, or no TXT records at it)", name)
	}
	if err != nil {
		return dnsProblem(t.id, err)
	}
	if len(txts) == 0 {
		// Unauthorized, as Boulder answers it (va/dns.go, validateTXT):
		// the applicant has not proved control; NXDOMAIN stays a dns
		// problem there and here.
		return failf(t.id, nil, acme.Unauthorized, "no TXT record found at %s", name)
	}
	for _, txt := range txts {
		if subtle.ConstantTimeCompare([]byte(txt), []byte(want)) == 1 {
			return nil
		}
	}
	return failf(t.id, nil, acme.IncorrectResponse, "incorrect TXT record %s found at %s (%d record(s); expected %q)",
		excerpt([]byte(txts[0])), name, len(txts), want)
}
