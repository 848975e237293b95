package local

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"

	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/issuer"
)

// oidDomainValidated returns the CA/B Forum reserved policy identifier for
// domain-validated TLS certificates (BR §7.1.6.1): 2.23.140.1.2.1.
func oidDomainValidated() x509.OID {
	oid, err := x509.OIDFromInts([]uint64{2, 23, 140, 1, 2, 1})
	if err != nil {
		panic(err) // constant input: cannot happen
	}
	return oid
}

// maxCNLength is the upper bound of X520CommonName (RFC 5280 Appendix A.1,
// ub-common-name = 64).
const maxCNLength = 64

// maxSerialOctets is the longest serial RFC 5280 §4.1.2.2 allows.
const maxSerialOctets = 20

// DefaultServerCertValidity is the validity ServerCertificate uses when
// given 0: 90 days.
const DefaultServerCertValidity = 90 * 24 * time.Hour

// LeafRequest describes a TLS server certificate to sign. The caller (the
// RA) has already validated the identifiers and the key against policy.
type LeafRequest struct {
	// Serial is chosen and reserved by the caller: positive, at most 20
	// octets (RFC 5280 §4.1.2.2), with >= 64 bits from a CSPRNG (CA/B BR
	// §7.1); see RandomSerial.
	Serial *big.Int
	// PublicKey is the subject key: *rsa.PublicKey (>= 2048 bits) or
	// *ecdsa.PublicKey (P-256 or P-384). Other types are rejected.
	PublicKey crypto.PublicKey
	// DNSNames become SAN dNSName entries, in order; wildcards such as
	// "*.example.test" are allowed; IP literals are rejected (use
	// IPAddresses).
	DNSNames []string
	// IPAddresses become SAN iPAddress entries, in order.
	IPAddresses []net.IP
	// NotBefore and NotAfter are the validity bounds; both inclusive
	// (RFC 5280 §4.1.2.5), NotAfter must be after NotBefore. SignLeaf
	// cuts a NotAfter after the intermediate's notAfter to it: a leaf
	// never outlives the certificate that signs it.
	NotBefore, NotAfter time.Time
	// ClientAuth adds the id-kp-clientAuth EKU besides id-kp-serverAuth.
	ClientAuth bool
	// Subject, when set, adds its Organization, OrganizationalUnit,
	// Country, Province and Locality to the subject (a profile's allowed
	// subject fields); its CommonName is ignored.
	Subject pkix.Name
	// ExtKeyUsages, when not empty, are the EKUs instead of serverAuth
	// (+clientAuth); the CA/B domain-validated policy OID is only added
	// when they include serverAuth.
	ExtKeyUsages []x509.ExtKeyUsage
	// IssuerURL is the AIA id-ad-caIssuers URL where the intermediate is
	// served as DER (RFC 5280 §4.2.2.1); "" means Options.IssuerURL, and
	// the extension is omitted when both are "". A lint-clean leaf needs
	// one, and it must be http:// (BR §7.1.2.7.7; https is an error).
	IssuerURL string
	// CRLURL is the CRL distribution point (RFC 5280 §4.2.1.13); "" means
	// Options.CRLURL, and the extension is omitted when both are "". A
	// lint-clean leaf valid for more than 7 days needs one, and it must be
	// http:// (BR §7.1.2.11.2; https is an error).
	CRLURL string
	// OCSPURL is the AIA id-ad-ocsp responder URL (RFC 5280 §4.2.2.1,
	// RFC 6960); "" omits it (there is no Options default, so the CA's
	// own HTTPS certificate, which the responder does not know, never
	// names it). Like the others it must be http:// to be lint-clean
	// (BR §7.1.2.7.7).
	OCSPURL string
	// MustStaple adds the non-critical TLS Feature extension (RFC 7633)
	// listing status_request (OCSP Must-Staple). It needs OCSPURL: a
	// must-staple certificate that names no responder could never be
	// served with a stapled response, so the request is refused.
	MustStaple bool
}

// SignLeaf signs a TLS server certificate for req with the intermediate
// and returns its DER.
//
// Profile (CA/B BR §7.1.2.7): v3; subject CN = first DNS name, else the
// first IP in text form, and an empty subject (SAN marked critical) when
// that is longer than 64 characters; SAN exactly req.DNSNames and
// req.IPAddresses; keyUsage digitalSignature (+keyEncipherment for RSA
// keys), critical; EKU serverAuth (+clientAuth); basicConstraints cA=FALSE,
// critical; AKI; no SKI (BR §7.1.2.7.6: NOT RECOMMENDED for subscriber
// certificates); AIA caIssuers, AIA OCSP and CRL DP when requested; certificate
// policy 2.23.140.1.2.1; the TLS Feature extension status_request when
// MustStaple is set; signed ECDSA-SHA256.
//
// The leaf's notAfter is at most the intermediate's (ClampToIntermediate):
// a later req.NotAfter is cut to it, as Vault's
// leaf_not_after_behavior=truncate does, since a leaf that outlives its
// issuer stops verifying when the issuer expires.
//
// Errors wrap ErrInvalidRequest for requests rejected up front,
// ErrIntermediateExpired when the intermediate has expired or expires
// before req.NotBefore, ErrLint (with the *certlint.LintError) when
// Options.LintBeforeSign refused it, or ctx.Err() when ctx is done before
// signing.
func (ca *CA) SignLeaf(ctx context.Context, req LeafRequest) ([]byte, error) {
	if ca.retiredOnly {
		return nil, fmt.Errorf("%w: the intermediate %s is retired: it signs no certificate", ErrInvalidRequest, IntermediateID(ca.inter))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local CA: sign leaf: %w", err)
	}
	var err error
	if req.NotAfter, err = ca.ClampToIntermediate(req.NotBefore, req.NotAfter); err != nil {
		return nil, err
	}
	tmpl, err := ca.prepareLeaf(req)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local CA: sign leaf: %w", err)
	}
	var key crypto.Signer = ca.interKey
	var ls *lintingSigner
	if ca.lint != nil {
		ls = &lintingSigner{key: ca.interKey, sig: ca.sig, linter: ca.lint}
		key = ls
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.inter, req.PublicKey, key)
	switch {
	case err == nil:
		return der, nil
	case errors.Is(err, ErrLint):
		return nil, err
	case ls != nil && ls.signed:
		// x509.CreateCertificate verifies the signature it was given.
		return nil, fmt.Errorf("local CA: sign leaf: the signer returned a signature that does not verify: %w", err)
	}
	return nil, fmt.Errorf("local CA: sign leaf: %w", err)
}

// ClampToIntermediate returns notAfter, or the intermediate's notAfter
// when notAfter is later: the notAfter SignLeaf gives a leaf valid from
// notBefore. The error wraps ErrIntermediateExpired, naming the
// intermediate, its notAfter and `certgate ca rotate`, when the
// intermediate has expired (by the CA's clock) or expires before
// notBefore: a leaf then could not verify at any time of its validity.
func (ca *CA) ClampToIntermediate(notBefore, notAfter time.Time) (time.Time, error) {
	end := ca.inter.NotAfter
	now := ca.now()
	switch {
	case now.After(end):
		return time.Time{}, fmt.Errorf("%w: the intermediate %s (%s) expired on %s: it signs no certificate; a new one is made with certgate ca rotate",
			ErrIntermediateExpired, IntermediateID(ca.inter), ca.inter.Subject.CommonName, end.UTC().Format(time.RFC3339))
	case !notBefore.IsZero() && !notBefore.Before(end):
		return time.Time{}, fmt.Errorf("%w: the intermediate %s (%s) expires on %s, no later than the certificate's notBefore %s; a new one is made with certgate ca rotate",
			ErrIntermediateExpired, IntermediateID(ca.inter), ca.inter.Subject.CommonName, end.UTC().Format(time.RFC3339), notBefore.UTC().Format(time.RFC3339))
	case notAfter.After(end):
		return end, nil
	}
	return notAfter, nil
}

// leafTemplate validates req and builds the x509 template, to be signed
// with alg.
func leafTemplate(req LeafRequest, alg x509.SignatureAlgorithm) (*x509.Certificate, error) {
	if req.Serial == nil || req.Serial.Sign() <= 0 {
		return nil, fmt.Errorf("%w: serial must be positive", ErrInvalidRequest)
	}
	if b := req.Serial.Bytes(); len(b)+int(b[0]>>7) > maxSerialOctets {
		// DER prepends 0x00 when the top bit is set.
		return nil, fmt.Errorf("%w: serial longer than %d octets in DER", ErrInvalidRequest, maxSerialOctets)
	}
	ekus := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if req.ClientAuth {
		ekus = append(ekus, x509.ExtKeyUsageClientAuth)
	}
	if len(req.ExtKeyUsages) > 0 {
		ekus = slices.Clone(req.ExtKeyUsages)
	}
	ku := x509.KeyUsageDigitalSignature
	switch k := req.PublicKey.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA key of %d bits, need >= 2048", ErrInvalidRequest, k.N.BitLen())
		}
		// keyEncipherment only where an EKU allows it (RFC 5280
		// §4.2.1.12): TLS servers (RSA key exchange) and S/MIME. A
		// clientAuth or codeSigning certificate with it is inconsistent
		// and fails the lint.
		if slices.Contains(ekus, x509.ExtKeyUsageServerAuth) || slices.Contains(ekus, x509.ExtKeyUsageEmailProtection) {
			ku |= x509.KeyUsageKeyEncipherment
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: ECDSA curve %s not allowed, need P-256 or P-384", ErrInvalidRequest, k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("%w: unsupported public key type %T", ErrInvalidRequest, req.PublicKey)
	}
	if len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return nil, fmt.Errorf("%w: no DNS names or IP addresses", ErrInvalidRequest)
	}
	for _, name := range req.DNSNames {
		if name == "" {
			return nil, fmt.Errorf("%w: empty DNS name", ErrInvalidRequest)
		}
		if net.ParseIP(name) != nil {
			return nil, fmt.Errorf("%w: DNS name %q is an IP literal", ErrInvalidRequest, name)
		}
	}
	ips := make([]net.IP, len(req.IPAddresses))
	for i, ip := range req.IPAddresses {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, fmt.Errorf("%w: malformed IP address %v", ErrInvalidRequest, ip)
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		ips[i] = ip
	}
	if req.NotBefore.IsZero() || !req.NotAfter.After(req.NotBefore) {
		return nil, fmt.Errorf("%w: NotAfter (%v) must be after NotBefore (%v)", ErrInvalidRequest, req.NotAfter, req.NotBefore)
	}

	var cn string
	switch {
	case len(req.DNSNames) > 0:
		cn = req.DNSNames[0]
	default:
		cn = ips[0].String() // RFC 5952 text form for IPv6
	}
	if len(cn) > maxCNLength {
		cn = ""
	}
	var policies []x509.OID
	if slices.Contains(ekus, x509.ExtKeyUsageServerAuth) {
		policies = []x509.OID{oidDomainValidated()}
	}
	tmpl := &x509.Certificate{
		SerialNumber: req.Serial,
		Subject: pkix.Name{CommonName: cn, Organization: req.Subject.Organization, OrganizationalUnit: req.Subject.OrganizationalUnit,
			Country: req.Subject.Country, Province: req.Subject.Province, Locality: req.Subject.Locality},
		NotBefore:             req.NotBefore,
		NotAfter:              req.NotAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           ekus,
		BasicConstraintsValid: true,
		IsCA:                  false,
		DNSNames:              req.DNSNames,
		IPAddresses:           ips,
		Policies:              policies,
		SignatureAlgorithm:    alg,
	}
	if req.IssuerURL != "" {
		tmpl.IssuingCertificateURL = []string{req.IssuerURL}
	}
	if req.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{req.CRLURL}
	}
	if req.OCSPURL != "" {
		tmpl.OCSPServer = []string{req.OCSPURL}
	}
	if req.MustStaple {
		if req.OCSPURL == "" {
			return nil, fmt.Errorf("%w: OCSP Must-Staple needs an OCSP responder URL", ErrInvalidRequest)
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, issuer.MustStapleExtension())
	}
	return tmpl, nil
}

// ChainPEM returns leafDER as a PEM "CERTIFICATE" block followed by the
// intermediate's and those of the CA certificates above it (ChainFile, in
// a PKI of more than two tiers), each certifying the one before: the body
// of an RFC 8555 §7.4.2 application/pem-certificate-chain response. The
// root is not included.
func (ca *CA) ChainPEM(leafDER []byte) []byte {
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})
	out = append(out, ca.interPEM...)
	return append(out, ca.upperPEM...)
}

// UpperChain returns the CA certificates between the intermediate and the
// root (ChainFile), the intermediate's issuer first; nil for a two-tier
// CA. The caller must not modify them.
func (ca *CA) UpperChain() []*x509.Certificate { return slices.Clone(ca.upper) }

// ServerCertificate issues a TLS server certificate for certgate's own
// HTTPS listener with serial, which the caller reserved durably before
// (store.ReserveSerial: RFC 5280 §4.1.2.2, a serial is never used twice):
// a fresh ECDSA P-256 key, the given names and IPs (at least one), valid
// from one minute ago for validity (0 means DefaultServerCertValidity),
// with Options.IssuerURL and Options.CRLURL, signed like SignLeaf
// (including the lint when enabled, and the notAfter cut to the
// intermediate's when validity would outlive it). The returned
// tls.Certificate holds the leaf, the intermediate and the CA
// certificates above it (UpperChain), the key and the parsed Leaf.
// Errors are SignLeaf's.
func (ca *CA) ServerCertificate(ctx context.Context, serial *big.Int, dnsNames []string, ips []net.IP, validity time.Duration) (tls.Certificate, error) {
	if validity <= 0 {
		validity = DefaultServerCertValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("local CA: generate server key: %w", err)
	}
	notBefore := ca.now().UTC().Truncate(time.Second).Add(-time.Minute)
	der, err := ca.SignLeaf(ctx, LeafRequest{
		Serial:      serial,
		PublicKey:   key.Public(),
		DNSNames:    dnsNames,
		IPAddresses: ips,
		NotBefore:   notBefore,
		// Validity is inclusive of NotAfter (RFC 5280 §4.1.2.5).
		NotAfter: notBefore.Add(validity - time.Second),
	})
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("local CA: server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("local CA: parse server certificate: %w", err)
	}
	chain := [][]byte{der, ca.inter.Raw}
	for _, c := range ca.upper {
		chain = append(chain, c.Raw)
	}
	return tls.Certificate{
		Certificate: chain,
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// prepareLeaf fills the request's URL defaults and builds the template.
func (ca *CA) prepareLeaf(req LeafRequest) (*x509.Certificate, error) {
	if req.IssuerURL == "" {
		req.IssuerURL = ca.issuerURL
	}
	if req.CRLURL == "" {
		req.CRLURL = ca.crlURL
	}
	return leafTemplate(req, ca.sig.alg)
}

// CheckLeaf lints the certificate SignLeaf would issue for req without
// signing it with the CA's key (the linted copy has a dummy signature). It
// lets a server refuse at start-up a profile (validity, EKUs) whose every
// certificate would fail lint. Errors are as for SignLeaf.
func (ca *CA) CheckLeaf(req LeafRequest) error {
	tmpl, err := ca.prepareLeaf(req)
	if err != nil {
		return err
	}
	linter := ca.lint
	if linter == nil {
		if linter, err = certlint.NewPreIssuanceLinter(); err != nil {
			return fmt.Errorf("local CA: %w", err)
		}
	}
	// A signer without the key: it lints the TBS and refuses to sign.
	ls := &lintingSigner{pub: ca.interKey.Public(), sig: ca.sig, linter: linter}
	_, err = x509.CreateCertificate(rand.Reader, tmpl, ca.inter, req.PublicKey, ls)
	switch {
	case errors.Is(err, errLintOnly):
		return nil
	case errors.Is(err, ErrLint):
		return err
	case err == nil:
		return errors.New("local CA: check leaf: signed without a key") // cannot happen
	}
	return fmt.Errorf("local CA: check leaf: %w", err)
}
