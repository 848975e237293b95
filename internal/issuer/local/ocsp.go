package local

import (
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// SignOCSP signs a basic OCSP response (RFC 6960 §4.2.1) about one
// certificate issued by the intermediate, with the intermediate's own key:
// the responder is the CA itself (§2.6, "the CA who issued the
// certificate in question"), so ResponderID is byName (the intermediate's
// subject) and no certificates are embedded.
//
// tmpl supplies SerialNumber, Status (ocsp.Good, ocsp.Revoked or
// ocsp.Unknown), RevokedAt and RevocationReason (RFC 5280 §5.3.1 code;
// 0, unspecified, is omitted) for revoked certificates, ThisUpdate,
// NextUpdate, IssuerHash, the hash algorithm of the CertID (the
// request's, so the client can match it; 0 means SHA-1), and ProducedAt,
// the signing time (§4.2.2.1; zero: the CA's clock), in whole seconds,
// which may not precede ThisUpdate or RevokedAt: a response cannot know of
// a status before it was produced. The signature algorithm is the one of
// the intermediate's key (see AcceptedIntermediateKeys). Errors wrap
// ErrInvalidRequest for bad templates.
func (ca *CA) SignOCSP(tmpl ocsp.Response) ([]byte, error) {
	if tmpl.SerialNumber == nil {
		return nil, fmt.Errorf("%w: OCSP response needs a serial number", ErrInvalidRequest)
	}
	switch tmpl.Status {
	case ocsp.Good, ocsp.Revoked, ocsp.Unknown:
	default:
		return nil, fmt.Errorf("%w: OCSP certificate status %d", ErrInvalidRequest, tmpl.Status)
	}
	if tmpl.ThisUpdate.IsZero() || !tmpl.NextUpdate.After(tmpl.ThisUpdate) {
		return nil, fmt.Errorf("%w: OCSP nextUpdate (%v) must be after thisUpdate (%v)", ErrInvalidRequest, tmpl.NextUpdate, tmpl.ThisUpdate)
	}
	switch tmpl.IssuerHash {
	case 0, crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, fmt.Errorf("%w: OCSP CertID hash %v", ErrInvalidRequest, tmpl.IssuerHash)
	}
	producedAt := tmpl.ProducedAt
	if producedAt.IsZero() {
		producedAt = ca.now()
	}
	producedAt = producedAt.UTC().Truncate(time.Second)
	if producedAt.Before(tmpl.ThisUpdate) || (tmpl.Status == ocsp.Revoked && producedAt.Before(tmpl.RevokedAt)) {
		return nil, fmt.Errorf("%w: OCSP producedAt (%v) precedes thisUpdate (%v) or the revocation (%v)",
			ErrInvalidRequest, producedAt, tmpl.ThisUpdate, tmpl.RevokedAt)
	}
	tmpl.Certificate = nil
	tmpl.SignatureAlgorithm = ca.sig.alg
	// CreateResponse's own signature is replaced (withProducedAt): it gets
	// a placeholder of the right shape instead of the key.
	der, err := ocsp.CreateResponse(ca.inter, ca.inter, tmpl, placeholderSigner{ca.interKey.Public(), ca.sig.dummy})
	if err != nil {
		return nil, fmt.Errorf("local CA: sign OCSP response: %w", err)
	}
	if der, err = ca.withProducedAt(der, producedAt); err != nil {
		return nil, fmt.Errorf("local CA: sign OCSP response: %w", err)
	}
	return der, nil
}

// placeholderSigner is a crypto.Signer for pub whose every signature is
// sig, a placeholder for a signature made afterwards.
type placeholderSigner struct {
	pub crypto.PublicKey
	sig []byte
}

func (p placeholderSigner) Public() crypto.PublicKey { return p.pub }

func (p placeholderSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return p.sig, nil
}

// withProducedAt returns the OCSP response der, as ocsp.CreateResponse
// made it, with producedAt set to t and signed with the intermediate's
// key. CreateResponse sets producedAt itself, from time.Now truncated to
// the minute: up to 59 seconds before the signing, and so before the
// thisUpdate and the revocationTime of a certificate revoked in the
// current minute, and off the CA's clock. Everything else in the
// response is CreateResponse's.
func (ca *CA) withProducedAt(der []byte, t time.Time) ([]byte, error) {
	bad := errors.New("unexpected OCSP response encoding")
	// OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED,
	//   responseBytes [0] EXPLICIT SEQUENCE { responseType OID, response OCTET STRING } }
	var resp, status, wrapped, rb, oid, basicDER cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&resp, cbasn1.SEQUENCE) || !in.Empty() ||
		!resp.ReadASN1Element(&status, cbasn1.ENUM) ||
		!resp.ReadASN1(&wrapped, cbasn1.Tag(0).Constructed().ContextSpecific()) || !resp.Empty() ||
		!wrapped.ReadASN1(&rb, cbasn1.SEQUENCE) || !wrapped.Empty() ||
		!rb.ReadASN1Element(&oid, cbasn1.OBJECT_IDENTIFIER) ||
		!rb.ReadASN1(&basicDER, cbasn1.OCTET_STRING) || !rb.Empty() {
		return nil, bad
	}
	// BasicOCSPResponse ::= SEQUENCE { tbsResponseData ResponseData,
	//   signatureAlgorithm AlgorithmIdentifier, signature BIT STRING,
	//   certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
	var basic, tbs, sigAlg cryptobyte.String
	if !basicDER.ReadASN1(&basic, cbasn1.SEQUENCE) || !basicDER.Empty() ||
		!basic.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!basic.ReadASN1Element(&sigAlg, cbasn1.SEQUENCE) ||
		!basic.SkipASN1(cbasn1.BIT_STRING) || !basic.Empty() {
		return nil, bad
	}
	// ResponseData ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1,
	//   responderID ResponderID, producedAt GeneralizedTime,
	//   responses SEQUENCE OF SingleResponse, responseExtensions [1] EXPLICIT OPTIONAL }
	var version, responderID cryptobyte.String
	var hasVersion bool
	var idTag cbasn1.Tag
	versionTag := cbasn1.Tag(0).Constructed().ContextSpecific()
	if !tbs.ReadOptionalASN1(&version, &hasVersion, versionTag) ||
		!tbs.ReadAnyASN1Element(&responderID, &idTag) ||
		!tbs.SkipASN1(cbasn1.GeneralizedTime) {
		return nil, bad
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if hasVersion {
			b.AddASN1(versionTag, func(b *cryptobyte.Builder) { b.AddBytes(version) })
		}
		b.AddBytes(responderID)
		b.AddASN1GeneralizedTime(t)
		b.AddBytes(tbs) // responses and extensions, as they were
	})
	newTBS, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode ResponseData: %w", err)
	}
	h := ca.sig.hash.New()
	h.Write(newTBS)
	sig, err := ca.interKey.Sign(rand.Reader, h.Sum(nil), ca.sig.hash)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var bb cryptobyte.Builder
	bb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(newTBS)
		b.AddBytes(sigAlg)
		b.AddASN1BitString(sig)
	})
	newBasic, err := bb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode BasicOCSPResponse: %w", err)
	}
	var ob cryptobyte.Builder
	ob.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(status)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddBytes(oid)
				b.AddASN1OctetString(newBasic)
			})
		})
	})
	return ob.Bytes()
}
