// Package issuer defines what certgate asks of a certificate authority: the
// Issuer interface that the built-in CA and every connector implement, and
// optional capabilities found by type assertion (CRL and OCSP signing).
package issuer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"time"

	"golang.org/x/crypto/ocsp"
)

// IssueRequest is one certificate to issue. Serial is chosen and reserved
// by the caller before the call (so a crash can never reuse it); names are
// exactly the SANs to include; times are UTC.
type IssueRequest struct {
	Serial      *big.Int         // positive, at most 20 octets (RFC 5280 §4.1.2.2)
	PublicKey   crypto.PublicKey // the CSR's key, as crypto/x509 parses it
	DNSNames    []string         // dNSName SANs, lower case
	IPAddresses []net.IP         // iPAddress SANs
	NotBefore   time.Time        // first second of validity, UTC
	NotAfter    time.Time        // last second of validity, UTC (inclusive, RFC 5280 §4.1.2.5)
	// ExtKeyUsages are the certificate's EKUs (RFC 5280 §4.2.1.12) as the
	// profile gives them; empty: the issuer's default (serverAuth).
	ExtKeyUsages []x509.ExtKeyUsage
	// Profile is the name of the certificate profile (for issuers that
	// map it to their own templates).
	Profile string
	// Subject holds the extra subject attributes the profile allows
	// (organization, organizational unit, country, province, locality);
	// its CommonName is ignored (the issuer derives it from the SANs).
	Subject pkix.Name
	// MustStaple asks for OCSP Must-Staple: the TLS Feature extension
	// (RFC 7633) listing status_request. The caller sets it only for an
	// issuer whose MustStapler.CanMustStaple returned nil; an issuer that
	// cannot honour it refuses the request rather than drop it.
	MustStaple bool
	// CSR is the client's certificate request as finalize checked it
	// (RFC 8555 §7.4), for an issuer that forwards it to a CA elsewhere
	// (Remote); the built-in CA signs from the fields above and ignores
	// it.
	CSR *x509.CertificateRequest
	// Placed, when set, is called by a Remote issuer once the CA
	// elsewhere holds the order and before the CA is asked to issue
	// (RFC 8555 §7.4 finalize), with what Remote.Resume needs to find
	// the outcome again: the caller records it durably, so that a
	// certificate issued while the caller died is not lost. When Placed
	// fails, the issuer does not ask the CA to issue and Issue returns
	// Placed's error.
	Placed func(ctx context.Context, o RemoteOrder) error
}

// RemoteOrder is an order at a CA elsewhere: the order's URL (RFC 8555
// §7.1.3) and the account that placed it (its URL, the JWS kid, §6.2).
type RemoteOrder struct {
	// OrderURL is the order's URL at the CA (its Location, RFC 8555
	// §7.4), read with POST-as-GET (§6.3).
	OrderURL string
	// AccountURL is the URL of the account that placed the order (the
	// JWS "kid", §6.2).
	AccountURL string
}

// ErrRemoteProcessing is wrapped by Remote.Resume when the CA elsewhere
// is still issuing: ask again later.
var ErrRemoteProcessing = errors.New("the upstream CA is still issuing the certificate")

// ErrRemoteNotFinalized is wrapped by Remote.Resume when the CA
// elsewhere was never asked to issue (its order is pending or ready): no
// certificate exists.
var ErrRemoteNotFinalized = errors.New("the upstream CA was not asked to issue the certificate")

// Issued is what an issuer returns: the leaf DER and the PEM chain served
// to ACME clients (leaf first, then intermediates; RFC 8555 §7.4.2).
type Issued struct {
	DER      []byte // the leaf certificate, DER
	ChainPEM []byte // leaf first, then the intermediates, PEM
}

// Issuer signs certificates. Issue returns an error wrapping the cause when
// the request is refused (e.g. a lint failure) or signing fails.
type Issuer interface {
	// Name is the stable issuer name stored with every certificate, e.g. "local".
	Name() string
	// Issue signs the certificate req describes and returns its DER and
	// PEM chain; the error wraps the cause when the request is refused (a
	// lint failure, a policy violation) or signing fails.
	Issue(ctx context.Context, req IssueRequest) (*Issued, error)
}

// Remote is implemented by connectors that forward issuance to a CA
// elsewhere (internal/issuer/acmeupstream). Such a CA chooses the serial
// itself, so IssueRequest.Serial is not used, and it may take long: the RA
// asks it detached from the finalize request, keeping the order
// processing with Retry-After (RFC 8555 §7.4) until Issue returns, and
// checks that the certificate it returns has the CSR's key and exactly the
// order's names.
type Remote interface {
	Issuer
	// IssueTimeout bounds one Issue call, end to end (every request to
	// the remote CA and the waits between them).
	IssueTimeout() time.Duration
	// Resume finds the outcome of the order o at the CA elsewhere, as
	// IssueRequest.Placed received it, waiting while the CA is issuing
	// until ctx ends: the certificate when the CA issued it (as Issue
	// returns it); an error wrapping ErrRemoteProcessing when the CA is
	// still issuing at the end, ErrRemoteNotFinalized when it was never
	// asked to issue; the CA's problem (*acme.Problem) when the order is
	// invalid; an error without ErrRemoteProcessing when the CA answers for
	// good that it no longer knows the order or its account (a 4xx
	// problem such as accountDoesNotExist: the order fails); any other
	// error when the CA could not be asked.
	Resume(ctx context.Context, o RemoteOrder) (*Issued, error)
}

// Revoker is implemented by issuers that revoke at a CA elsewhere: the RA
// calls Revoke before it records a revocation of a certificate stored
// under the issuer's name, and records nothing when it fails.
type Revoker interface {
	// Revoke asks the CA to revoke the DER certificate der with reason,
	// an RFC 5280 §5.3.1 reason code. A certificate the CA reports as
	// revoked already is no error.
	Revoke(ctx context.Context, der []byte, reason int) error
}

// NotAfterLimiter is implemented by issuers whose certificates cannot
// outlive a CA certificate of theirs, which they know: the built-in CA,
// whose leaves end at the latest with its intermediate (a leaf valid
// after its issuer expired no longer verifies). The RA refuses a newOrder
// that requests a later notAfter (RFC 8555 §7.1.3, §7.4: the certificate
// would have another one than requested) and cuts the notAfter of one
// that requested none.
type NotAfterLimiter interface {
	// MaxNotAfter is the latest notAfter of a certificate the issuer
	// signs now: its signing CA certificate's notAfter.
	MaxNotAfter() time.Time
}

// MustStapler is implemented by issuers that can issue OCSP Must-Staple
// certificates (IssueRequest.MustStaple). A must-staple certificate must
// name an OCSP responder (AIA id-ad-ocsp) that answers for it, or every
// TLS server using it fails the handshake with clients that enforce
// must-staple; so an issuer implements it only if it both puts the
// extension in and names a responder. The RA refuses a CSR asking for
// must-staple (badCSR) when the issuer does not implement MustStapler,
// or CanMustStaple returns an error: a connector to a CA elsewhere
// implements it only if that CA's protocol carries the request (an
// upstream ACME CA: the CSR's extension is passed on) and its
// certificates name an OCSP responder.
type MustStapler interface {
	// CanMustStaple returns nil when certificates signed now carry the
	// TLS Feature extension on request and name an OCSP responder, or
	// an error saying why not (e.g. the responder is turned off).
	CanMustStaple() error
}

// CRLSigner is implemented by issuers that sign their own CRLs (RFC 5280 §5).
type CRLSigner interface {
	// CRLIssuer is the CA certificate whose key signs the CRLs and the
	// certificates they list (RFC 5280 §5: a complete CRL lists the
	// revoked certificates of its issuer): a certificate stored under
	// another issuer name (imported) is listed only if this key signed it.
	CRLIssuer() *x509.Certificate
	// SignCRL signs a version 2 CRL (RFC 5280 §5) numbered number
	// (cRLNumber, §5.2.3: non-negative, at most 20 octets) listing
	// entries, valid from thisUpdate to nextUpdate, and returns its DER.
	SignCRL(number *big.Int, thisUpdate, nextUpdate time.Time, entries []x509.RevocationListEntry) ([]byte, error)
}

// OCSPSigner is implemented by issuers that sign OCSP responses (RFC 6960)
// about the certificates they issued.
type OCSPSigner interface {
	// OCSPIssuer is the CA certificate that issued the certificates the
	// responses are about: requests are matched against its name and key
	// hashes (RFC 6960 §4.1.1 CertID).
	OCSPIssuer() *x509.Certificate
	// SignOCSP signs one basic response from tmpl (SerialNumber, Status,
	// RevokedAt, RevocationReason, ThisUpdate, NextUpdate, IssuerHash,
	// ProducedAt: the signing time, not before ThisUpdate or RevokedAt;
	// zero means the issuer's clock) and returns the DER OCSPResponse.
	SignOCSP(tmpl ocsp.Response) ([]byte, error)
}

// SignedSerial returns the serial number of the DER certificate der when
// ca's key signed it (its issuer is ca's subject, byte for byte, and its
// signature verifies under ca's public key), nil otherwise: unparsable, or
// another CA's certificate that carries ca's name. It tells the
// certificates of a CA that entered the inventory by import (stored under
// the CA's distinguished name, not its issuer name) from those of another
// CA of the same name, for the CRL and OCSP.
func SignedSerial(der []byte, ca *x509.Certificate) *big.Int {
	c, err := x509.ParseCertificate(der)
	if err != nil || !bytes.Equal(c.RawIssuer, ca.RawSubject) || c.CheckSignatureFrom(ca) != nil {
		return nil
	}
	return c.SerialNumber
}
