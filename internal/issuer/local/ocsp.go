package local

import (
	"crypto"
	"fmt"

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
// NextUpdate and IssuerHash, the hash algorithm of the CertID (the
// request's, so the client can match it; 0 means SHA-1). The signature
// algorithm is the one of the intermediate's key (see
// AcceptedIntermediateKeys). producedAt is the current time truncated to
// the minute (x/crypto/ocsp). Errors wrap ErrInvalidRequest for bad
// templates.
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
	tmpl.Certificate = nil
	tmpl.SignatureAlgorithm = ca.sig.alg
	der, err := ocsp.CreateResponse(ca.inter, ca.inter, tmpl, ca.interKey)
	if err != nil {
		return nil, fmt.Errorf("local CA: sign OCSP response: %w", err)
	}
	return der, nil
}
