package ra

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"

	"github.com/certgate/certgate/internal/acme"
)

// Account key sizes and exponent (RSA): go-jose parses no JWK with a
// modulus over 4096 bits (jose.MaxRSAModulusBits), and certgate leaves
// that library default alone; 65537 is the smallest exponent the CA/B BR
// (§6.1.6) and NIST SP 800-89 §5.3.3 allow, and it must be odd.
const (
	MinRSAAccountBits = 2048
	MaxRSAAccountBits = 4096
	minRSAExponent    = 65537
)

// AcceptedAccountKeys names the account keys certgate accepts, for the
// detail of badPublicKey problems (RFC 8555 §6.7) and the docs.
const AcceptedAccountKeys = "accepted are RSA keys of 2048 to 4096 bits with an odd public exponent of at least 65537 (RS256), " +
	"ECDSA P-256, P-384 or P-521 (ES256, ES384, ES512) and Ed25519 (EdDSA)"

// CheckAccountKey applies the account key policy to pub, the key of a new
// account (RFC 8555 §7.3) or the new key of a keyChange (§7.3.5): RSA of
// MinRSAAccountBits to MaxRSAAccountBits bits with an odd public exponent
// of at least 65537, ECDSA on P-256, P-384 or P-521, or Ed25519. Anything
// else is a badPublicKey problem whose detail says what is wrong and names
// the accepted keys (AcceptedAccountKeys). The key that signs a request of
// an existing account is not checked: an account whose key the policy no
// longer accepts can still roll over to one it does.
func CheckAccountKey(pub crypto.PublicKey) error {
	refuse := func(why string, args ...any) error {
		return acme.NewProblem(acme.BadPublicKey, why+"; "+AcceptedAccountKeys, args...)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N == nil {
			return refuse("the RSA account key has no modulus")
		}
		if n := k.N.BitLen(); n < MinRSAAccountBits || n > MaxRSAAccountBits {
			return refuse("the RSA account key has %d bits", n)
		}
		if k.E < minRSAExponent || k.E%2 == 0 {
			return refuse("the RSA account key's public exponent is %d", k.E)
		}
	case *ecdsa.PublicKey:
		switch k.Curve.Params().Name {
		case "P-256", "P-384", "P-521":
		default:
			return refuse("the ECDSA account key uses curve %s", k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return refuse("the Ed25519 account key has %d bytes", len(k))
		}
	default:
		return refuse("the account key's type %T is not supported", pub)
	}
	return nil
}
