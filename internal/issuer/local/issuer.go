package local

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/issuer"
)

// Issuer adapts the built-in CA to the issuer.Issuer interface with the
// TLS server leaf profile: SANs from the request, serverAuth EKU (plus
// clientAuth when ClientAuth is set), AIA caIssuers IssuerURL, AIA OCSP
// OCSPURL ("" for none) and CRL distribution point CRLURL; the TLS
// Feature extension (OCSP Must-Staple) on request when OCSPURL is set.
type Issuer struct {
	CA         *CA    // the CA that signs, with its intermediate
	ClientAuth bool   // add the clientAuth EKU
	IssuerURL  string // AIA caIssuers URL of the intermediate
	CRLURL     string // CRL distribution point URL
	OCSPURL    string // AIA OCSP URL; "" for none
}

// Name implements issuer.Issuer; the built-in CA is "local".
func (i *Issuer) Name() string { return "local" }

// Issue implements issuer.Issuer by signing a leaf with the intermediate.
func (i *Issuer) Issue(ctx context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	der, err := i.CA.SignLeaf(ctx, LeafRequest{Serial: req.Serial, PublicKey: req.PublicKey, DNSNames: req.DNSNames,
		IPAddresses: req.IPAddresses, NotBefore: req.NotBefore, NotAfter: req.NotAfter, ClientAuth: i.ClientAuth,
		IssuerURL: i.IssuerURL, CRLURL: i.CRLURL, OCSPURL: i.OCSPURL, ExtKeyUsages: req.ExtKeyUsages,
		Subject: req.Subject, MustStaple: req.MustStaple})
	if err != nil {
		return nil, err
	}
	return &issuer.Issued{DER: der, ChainPEM: i.CA.ChainPEM(der)}, nil
}

// MaxNotAfter implements issuer.NotAfterLimiter: the intermediate's
// notAfter, to which SignLeaf cuts a later one.
func (i *Issuer) MaxNotAfter() time.Time { return i.CA.Intermediate().NotAfter }

// CheckExtKeyUsages reports whether the chain of the intermediate that
// signs allows leaves with the EKUs ekus (CA.CheckExtKeyUsages: an
// *EKUError when not).
func (i *Issuer) CheckExtKeyUsages(ekus []x509.ExtKeyUsage) error {
	return i.CA.CheckExtKeyUsages(ekus)
}

// CheckName reports whether the chain of the intermediate that signs
// allows a leaf naming name (CA.CheckName: a *NameConstraintError when its
// name constraints do not).
func (i *Issuer) CheckName(name string) error { return i.CA.CheckName(name) }

// CanMustStaple implements issuer.MustStapler: certificates name the
// OCSP responder unless it is turned off (OCSPURL "", --ocsp=false).
func (i *Issuer) CanMustStaple() error {
	if i.OCSPURL == "" {
		return errors.New("the OCSP responder is turned off (ocsp: false), so certificates name no OCSP responder to staple responses from")
	}
	return nil
}

// SignCRL implements issuer.CRLSigner.
func (i *Issuer) SignCRL(number *big.Int, thisUpdate, nextUpdate time.Time, entries []x509.RevocationListEntry) ([]byte, error) {
	return i.CA.SignCRL(number, thisUpdate, nextUpdate, entries)
}

// CRLIssuer implements issuer.CRLSigner: the intermediate.
func (i *Issuer) CRLIssuer() *x509.Certificate { return i.CA.Intermediate() }

// OCSPIssuer implements issuer.OCSPSigner: the intermediate.
func (i *Issuer) OCSPIssuer() *x509.Certificate { return i.CA.Intermediate() }

// SignOCSP implements issuer.OCSPSigner.
func (i *Issuer) SignOCSP(tmpl ocsp.Response) ([]byte, error) { return i.CA.SignOCSP(tmpl) }
