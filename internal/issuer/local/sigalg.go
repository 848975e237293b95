package local

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// AcceptedIntermediateKeys names the intermediate key types the built-in
// CA signs with, those CA/B Forum BR §6.1.5 allows, each with the
// signature algorithm of BR §7.1.3.2 that its certificates, CRLs and OCSP
// responses carry.
const AcceptedIntermediateKeys = "RSA of at least 2048 bits (a multiple of 8; sha256WithRSAEncryption), " +
	"ECDSA P-256 (ecdsa-with-SHA256) or ECDSA P-384 (ecdsa-with-SHA384)"

// sigAlg is how the intermediate signs: the algorithm matching its key
// (BR §7.1.3.2), its DER AlgorithmIdentifier and a well-formed signature
// of the largest size the key gives, for the certificate that is linted
// before the real signature exists. The size matters: zlint's
// e_mp_ecdsa_signature_encoding_correct tells P-256 from P-384 signatures
// by their length (at most 72 and 104 octets).
type sigAlg struct {
	alg   x509.SignatureAlgorithm
	hash  crypto.Hash
	algID []byte // DER AlgorithmIdentifier (RFC 5280 §4.1.1.2)
	dummy []byte // signatureValue contents of the shape alg gives
}

var (
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11} // RFC 4055 §5
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}   // RFC 5758 §3.2
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}   // RFC 5758 §3.2
)

// sigAlgFor returns how a key with public key pub signs, or an error
// naming the key type and AcceptedIntermediateKeys when BR §6.1.5 does not
// allow it for a CA that issues TLS server certificates.
func sigAlgFor(pub crypto.PublicKey) (sigAlg, error) {
	var s sigAlg
	var oid asn1.ObjectIdentifier
	var b cryptobyte.Builder
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 2048 || bits%8 != 0 {
			return s, fmt.Errorf("intermediate key is RSA-%d; accepted: %s", bits, AcceptedIntermediateKeys)
		}
		s.alg, s.hash, oid = x509.SHA256WithRSA, crypto.SHA256, oidSHA256WithRSA
		// An RSA signature is an integer below the modulus, k octets long
		// (RFC 8017 §8.2.1).
		s.dummy = new(big.Int).Sub(k.N, big.NewInt(1)).FillBytes(make([]byte, (k.N.BitLen()+7)/8))
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			s.alg, s.hash, oid = x509.ECDSAWithSHA256, crypto.SHA256, oidECDSAWithSHA256
		case elliptic.P384():
			s.alg, s.hash, oid = x509.ECDSAWithSHA384, crypto.SHA384, oidECDSAWithSHA384
		default:
			return s, fmt.Errorf("intermediate key is ECDSA %s; accepted: %s", k.Curve.Params().Name, AcceptedIntermediateKeys)
		}
		// Ecdsa-Sig-Value (RFC 5480 §2.2.3) with r = s = n-1, the
		// largest values in range.
		top := new(big.Int).Sub(k.Curve.Params().N, big.NewInt(1))
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1BigInt(top)
			b.AddASN1BigInt(top)
		})
		var err error
		if s.dummy, err = b.Bytes(); err != nil {
			return s, fmt.Errorf("encode ECDSA signature: %w", err)
		}
		b = cryptobyte.Builder{}
	case ed25519.PublicKey:
		return s, fmt.Errorf("intermediate key is Ed25519; accepted: %s", AcceptedIntermediateKeys)
	default:
		return s, fmt.Errorf("intermediate key is %T; accepted: %s", pub, AcceptedIntermediateKeys)
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if s.alg == x509.SHA256WithRSA {
			b.AddASN1NULL() // parameters MUST be NULL (RFC 4055 §5)
		}
	})
	var err error
	if s.algID, err = b.Bytes(); err != nil {
		return s, fmt.Errorf("encode signature algorithm: %w", err)
	}
	return s, nil
}

// certificate returns the DER Certificate SEQUENCE{tbs, algID, BIT STRING
// sig} (RFC 5280 §4.1).
func certificate(tbs, algID, sig []byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(algID)
		b.AddASN1BitString(sig)
	})
	return b.Bytes()
}

// lintingSigner is the crypto.Signer SignLeaf gives x509.CreateCertificate
// when the CA lints before it signs (Options.LintBeforeSign). It is a
// crypto.MessageSigner, so x509.CreateCertificate hands it the whole DER
// tbsCertificate it built (crypto.SignMessage) instead of a digest: the
// signer lints the certificate made of exactly those bytes, the
// intermediate's AlgorithmIdentifier and a dummy signature of the shape
// the key gives (sigAlg.dummy), and signs only when the lint passed. So
// what was linted is byte for byte what is signed, and a certificate that
// fails the lint is never signed (CA/B BR §4.3.1.2 pre-issuance linting).
// x509.CreateCertificate then verifies the signature with the
// intermediate's public key, so a faulty signer cannot make a certificate
// that does not verify. Used for one certificate.
type lintingSigner struct {
	// key is the intermediate's key; nil for a check that never signs
	// (CheckLeaf): SignMessage then returns errLintOnly after a clean lint.
	key    crypto.Signer
	pub    crypto.PublicKey // the intermediate's public key when key is nil
	sig    sigAlg
	linter certChecker
	// signed is set once key returned a signature: an error of
	// x509.CreateCertificate after that is its check of the signature
	// (the key's own error is returned as it is).
	signed bool
}

// errLintOnly is what a lintingSigner without a key returns after a
// clean lint: nothing is signed.
var errLintOnly = errors.New("local CA: linted, not signed")

// Public returns the intermediate's public key.
func (s *lintingSigner) Public() crypto.PublicKey {
	if s.key != nil {
		return s.key.Public()
	}
	return s.pub
}

// Sign refuses: a digest cannot be linted. x509.CreateCertificate calls
// SignMessage.
func (s *lintingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("local CA: lint before sign needs the TBS certificate, not its digest")
}

// SignMessage lints the certificate made of the DER tbsCertificate tbs and
// signs tbs with opts (the hash x509.CreateCertificate chose for the
// intermediate's algorithm) when the lint passed. Errors: ErrLint wrapping
// the *certlint.LintError, errLintOnly without a key, a TBS whose
// signature field is not the intermediate's algorithm, or the key's.
func (s *lintingSigner) SignMessage(r io.Reader, tbs []byte, opts crypto.SignerOpts) ([]byte, error) {
	var rest, algID cryptobyte.String
	in := cryptobyte.String(tbs)
	if !in.ReadASN1(&rest, cbasn1.SEQUENCE) ||
		!rest.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!rest.SkipASN1(cbasn1.INTEGER) || // serialNumber
		!rest.ReadASN1Element(&algID, cbasn1.SEQUENCE) {
		return nil, errors.New("local CA: lint leaf: malformed TBS certificate")
	}
	if string(algID) != string(s.sig.algID) {
		return nil, fmt.Errorf("local CA: lint leaf: TBS signature algorithm is not %v", s.sig.alg)
	}
	lintDER, err := certificate(tbs, s.sig.algID, s.sig.dummy)
	if err != nil {
		return nil, fmt.Errorf("local CA: lint leaf: %w", err)
	}
	if err := s.linter.Check(lintDER); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLint, err)
	}
	if s.key == nil {
		return nil, errLintOnly
	}
	sig, err := crypto.SignMessage(s.key, r, tbs, opts)
	if err != nil {
		return nil, err
	}
	s.signed = true
	return sig, nil
}
