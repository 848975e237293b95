package ra

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// CheckKey enforces the certificate key policy: RSA 2048–4096 bits (a
// multiple of 8, public exponent 65537 or larger odd), ECDSA P-256 or
// P-384. It returns a badCSR problem naming what is wrong.
func CheckKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		n := k.N.BitLen()
		if n < 2048 || n > 4096 || n%8 != 0 {
			return acme.NewProblem(acme.BadCSR, "RSA keys must be 2048 to 4096 bits (a multiple of 8); got %d", n)
		}
		if k.E < 65537 || k.E%2 == 0 {
			return acme.NewProblem(acme.BadCSR, "RSA public exponent must be odd and at least 65537")
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return acme.NewProblem(acme.BadCSR, "ECDSA keys must use P-256 or P-384")
		}
	case ed25519.PublicKey:
		return acme.NewProblem(acme.BadCSR, "certificate keys must be RSA or ECDSA; got an Ed25519 key")
	default:
		// Not the Go type (%T): a problem names no internals.
		return acme.NewProblem(acme.BadCSR, "certificate keys must be RSA or ECDSA; got a key of another algorithm")
	}
	return nil
}

// KeyType describes pub for the inventory, e.g. "ECDSA P-256", "RSA 2048".
func KeyType(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	default:
		return fmt.Sprintf("%T", pub)
	}
}

// KeyBits returns the size of pub in bits (RSA modulus length, ECDSA
// curve size, 256 for Ed25519), 0 for other key types.
func KeyBits(pub crypto.PublicKey) int {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen()
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return 256
	default:
		return 0
	}
}

// CheckCSR parses a finalize CSR (DER) and checks it against the order's
// identifiers (RFC 8555 §7.4): valid self-signature with a hash other
// than SHA-1, MD5 or MD2, allowed key, not the
// account key, SANs equal to the identifiers as a set (DNS names compared ASCII
// case-insensitively), Subject CN absent or one of the identifiers, no
// SANs of other types (checkSANTypes: e-mail, URI, otherName, ...), and a TLS Feature extension (RFC 7633), if any, that
// asks for status_request (OCSP Must-Staple) alone (CSRMustStaple). Errors are badCSR problems (the account key too:
// RFC 8555 §6.7 has badPublicKey for the JWS key, badCSR for a CSR that
// is unacceptable).
func CheckCSR(der []byte, ids []acme.Identifier, accountKey crypto.PublicKey) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, acme.NewProblem(acme.BadCSR, "cannot parse the CSR: %v", err)
	}
	switch csr.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		// crypto/x509 verifies SHA-1 signatures on CSRs (not on
		// certificates): a collision-prone hash is no proof of
		// possession of the key (CA/B BR §7.1.3.2 retired SHA-1).
		return nil, acme.NewProblem(acme.BadCSR, "the CSR is signed with %s, which is not accepted: sign it with SHA-256 or a stronger hash", csr.SignatureAlgorithm)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, acme.NewProblem(acme.BadCSR, "the CSR's signature does not verify")
	}
	if err := CheckKey(csr.PublicKey); err != nil {
		return nil, err
	}
	if eq, ok := csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && accountKey != nil && eq.Equal(accountKey) {
		return nil, acme.NewProblem(acme.BadCSR, "the CSR's public key is the account key; the certificate needs a key of its own (RFC 8555 §11.1)")
	}
	if err := checkExtensionRequest(csr); err != nil {
		return nil, err
	}
	if err := checkSANTypes(csr); err != nil {
		return nil, err
	}
	if _, err := CSRMustStaple(csr); err != nil {
		return nil, err
	}
	want := map[acme.Identifier]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[acme.Identifier]bool{}
	for _, n := range csr.DNSNames {
		got[acme.Identifier{Type: acme.IdentifierDNS, Value: acme.LowerASCII(n)}] = true
	}
	for _, ip := range csr.IPAddresses {
		addr, _ := netip.AddrFromSlice(ip)
		got[acme.Identifier{Type: acme.IdentifierIP, Value: addr.Unmap().String()}] = true
	}
	if cn := csr.Subject.CommonName; cn != "" {
		var cnID acme.Identifier
		if addr, err := netip.ParseAddr(cn); err == nil {
			cnID = acme.Identifier{Type: acme.IdentifierIP, Value: addr.Unmap().String()}
		} else {
			// ASCII case folding, as for newOrder identifiers: a CN with
			// the Kelvin sign (U+212A) names no identifier.
			cnID = acme.Identifier{Type: acme.IdentifierDNS, Value: acme.LowerASCII(cn)}
		}
		if !want[cnID] {
			return nil, acme.NewProblem(acme.BadCSR, "the CSR's common name %q is not an identifier of the order", cn)
		}
		got[cnID] = true
	}
	var missing, extra []string
	for id := range want {
		if !got[id] {
			missing = append(missing, id.Value)
		}
	}
	for id := range got {
		if !want[id] {
			v := id.Value
			if _, err := netip.ParseAddr(v); err == nil && id.Type == acme.IdentifierDNS {
				// Else the detail reads as if the order lacked an
				// address it holds.
				v += " as a DNS name (an IP address is an iPAddress SAN, RFC 8738 §3)"
			}
			extra = append(extra, v)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		slices.Sort(missing)
		slices.Sort(extra)
		var what []string
		if len(missing) > 0 {
			what = append(what, "missing "+strings.Join(missing, ", "))
		}
		if len(extra) > 0 {
			what = append(what, "not in the order "+strings.Join(extra, ", "))
		}
		return nil, acme.NewProblem(acme.BadCSR, "the CSR's names must equal the order's identifiers (%s)", strings.Join(what, "; "))
	}
	return csr, nil
}

// sanTypeNames are the GeneralName choices of RFC 5280 §4.2.1.6, by
// context-specific tag.
var sanTypeNames = [...]string{"otherName", "rfc822Name", "dNSName", "x400Address", "directoryName", "ediPartyName",
	"uniformResourceIdentifier", "iPAddress", "registeredID"}

// checkSANTypes refuses, with badCSR naming them, subjectAltName entries
// of csr other than dNSName and iPAddress, the only ones an ACME order's
// identifiers (RFC 8555 §7.1.4, RFC 8738) are issued as: crypto/x509
// parses rfc822Name and URI entries but skips otherName, x400Address,
// directoryName, ediPartyName and registeredID, which the certificate
// would silently lack. RFC 8555 §7.4: the CSR must request exactly the
// order's identifiers, and finalize fails when the CA is unwilling to
// issue what the CSR asks for.
func checkSANTypes(csr *x509.CertificateRequest) error {
	var other []string
	for _, ext := range csr.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		// crypto/x509 has parsed it (a malformed one fails parsing).
		var names []asn1.RawValue
		if rest, err := asn1.Unmarshal(ext.Value, &names); err != nil || len(rest) != 0 {
			return acme.NewProblem(acme.BadCSR, "the CSR's subjectAltName extension is malformed")
		}
		for _, n := range names {
			if n.Class == asn1.ClassContextSpecific && (n.Tag == 2 || n.Tag == 7) {
				continue
			}
			name := fmt.Sprintf("[%d]", n.Tag)
			if n.Class == asn1.ClassContextSpecific && n.Tag < len(sanTypeNames) {
				name = sanTypeNames[n.Tag]
			}
			if !slices.Contains(other, name) {
				other = append(other, name)
			}
		}
	}
	if len(other) > 0 {
		return acme.NewProblem(acme.BadCSR, "the CSR requests subjectAltName entries of type %s, which an ACME order cannot hold: "+
			"only DNS names (dNSName) and IP addresses (iPAddress), exactly the order's identifiers (RFC 8555 §7.4); send a CSR without them",
			strings.Join(other, ", "))
	}
	return nil
}

// checkExtensionRequest refuses, with badCSR, a CSR whose extensionRequest
// attribute (RFC 2985 §5.4.2, single-valued) holds more than one value:
// crypto/x509 reads the first only, so that a subjectAltName in another
// would be ignored rather than issued or refused.
func checkExtensionRequest(csr *x509.CertificateRequest) error {
	var tbs struct {
		Version    int
		Subject    asn1.RawValue
		PublicKey  asn1.RawValue
		Attributes []asn1.RawValue `asn1:"tag:0"`
	}
	if _, err := asn1.Unmarshal(csr.RawTBSCertificateRequest, &tbs); err != nil {
		return acme.NewProblem(acme.BadCSR, "cannot parse the CSR's attributes: %v", err)
	}
	for _, raw := range tbs.Attributes {
		var attr struct {
			ID     asn1.ObjectIdentifier
			Values []asn1.RawValue `asn1:"set"`
		}
		if _, err := asn1.Unmarshal(raw.FullBytes, &attr); err != nil || !attr.ID.Equal(oidExtensionRequest) {
			continue
		}
		if len(attr.Values) != 1 {
			return acme.NewProblem(acme.BadCSR, "the CSR's extensionRequest attribute holds %d values, not one (RFC 2985 §5.4.2)", len(attr.Values))
		}
	}
	return nil
}

// oidExtensionRequest is the PKCS #9 extensionRequest attribute (RFC 2985
// §5.4.2).
var oidExtensionRequest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}

// oidSubjectAltName is the subjectAltName extension (RFC 5280 §4.2.1.6).
var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// CSRMustStaple reports whether csr asks for OCSP Must-Staple: a TLS
// Feature extension (RFC 7633, 1.3.6.1.5.5.7.1.24) listing status_request
// (5). One that lists another feature, none, or is malformed or present
// twice is a badCSR problem naming what is wrong.
func CSRMustStaple(csr *x509.CertificateRequest) (bool, error) {
	ok, err := issuer.MustStapleRequested(csr.Extensions)
	if err != nil {
		return false, acme.NewProblem(acme.BadCSR, "%v", err)
	}
	return ok, nil
}

// checkMustStaple refuses, with badCSR, a CSR that asks for OCSP
// Must-Staple when the issuer would not put the TLS Feature extension in
// or would name no OCSP responder (issuer.MustStapler): a must-staple
// certificate without a responder fails every TLS handshake with a client
// that enforces it, and one without the extension silently ignores what
// was asked (RFC 8555 §7.4). It returns whether must-staple was asked for.
func (r *RA) checkMustStaple(iss issuer.Issuer, csr *x509.CertificateRequest) (bool, error) {
	want, err := CSRMustStaple(csr)
	if err != nil || !want {
		return false, err
	}
	ms, ok := iss.(issuer.MustStapler)
	if !ok {
		return false, acme.NewProblem(acme.BadCSR, "the CSR asks for OCSP Must-Staple (TLS Feature status_request), which issuer %s cannot issue; send a CSR without it", iss.Name())
	}
	if err := ms.CanMustStaple(); err != nil {
		return false, acme.NewProblem(acme.BadCSR, "the CSR asks for OCSP Must-Staple (TLS Feature status_request), which needs an OCSP responder: %v; send a CSR without it", err)
	}
	return true, nil
}

// checkWeakKey refuses, with badCSR, a CSR key anyone can recover the
// private key of (certlint.KeyChecker: small ECDSA keys and RSA moduli
// the issuance lint would refuse after the order moved to processing, and
// the ROCA fingerprint, which it does not look for); nil for another key.
func (r *RA) checkWeakKey(pub crypto.PublicKey) error {
	if why := r.weakKeys.Weak(pub); why != "" {
		return acme.NewProblem(acme.BadCSR, "the CSR's key is weak, anyone can recover its private key: %s", why)
	}
	return nil
}

// newSerial returns a new serial made now and its hex form (store.NewSerial:
// the time in milliseconds, then 112 random bits; 20 octets).
func newSerial(now time.Time) (*big.Int, string) { return store.NewSerial(now) }

// Finalize issues the certificate of order o for account a from the CSR
// (DER) (RFC 8555 §7.4). The order must be ready; the conditional move
// ready→processing makes concurrent finalizes issue at most once. The
// serial is reserved before signing and the certificate is stored in the
// same transaction that makes the order valid. It returns the order as
// stored afterwards.
func (r *RA) Finalize(ctx context.Context, a *store.Account, o *store.Order, authzs []*store.Authorization, csrDER []byte, accountKey crypto.PublicKey) (_ *store.Order, err error) {
	defer func() {
		if err != nil {
			r.cfg.Metrics.FinalizeFailed(problemTypeOf(err))
		}
	}()
	now := r.now()
	if st := OrderStatus(o, authzs, now); st != acme.StatusReady {
		return nil, acme.NewProblem(acme.OrderNotReady, "the order is %s, not ready", st)
	}
	csr, err := CheckCSR(csrDER, o.Identifiers, accountKey)
	if err != nil {
		return nil, err
	}
	if err := r.checkWeakKey(csr.PublicKey); err != nil {
		return nil, err
	}
	// A key revoked for keyCompromise is refused in StartIssuanceKey's
	// transaction below (or, for an order that waits for approval, before
	// it is asked for), not by a read of its own.
	keyHash, err := store.KeyHash(csr.PublicKey)
	if err != nil {
		return nil, acme.NewProblem(acme.BadPublicKey, "the CSR's public key cannot be encoded: %v", err)
	}
	prof, err := r.Profile(ctx, o.Profile)
	if err != nil {
		return nil, err
	}
	if err := prof.CheckKey(csr.PublicKey); err != nil {
		return nil, err
	}
	if err := prof.CheckSubject(csr.Subject); err != nil {
		return nil, err
	}
	iss, err := r.issuerFor(prof)
	if err != nil {
		return nil, err
	}
	if _, err := r.checkMustStaple(iss, csr); err != nil {
		return nil, err
	}
	if err := r.recheckAtSigning(ctx, a, o, prof, now); err != nil {
		return nil, err
	}
	if err := r.recheckCAA(ctx, a.ID, authzs, now); err != nil {
		return nil, err
	}
	kt := policy.KeyTypeName(csr.PublicKey)
	if need, why := prof.NeedsApproval(o.Identifiers, kt); need {
		if err := r.checkKeyNotBlocked(ctx, csr.PublicKey, "the CSR's public key"); err != nil {
			return nil, err
		}
		return r.requestApproval(ctx, a, o, csr, kt, why, now)
	}
	spend, refused, err := r.limitCertificate(ctx, a, o)
	if err != nil {
		return nil, err
	}
	// The order moves to processing and the serial is reserved in one
	// transaction, before anything is signed; certificates-per-domain is
	// spent in it. The order's updated_at is when it enters processing,
	// not when the finalize began: the checks above (the CAA re-check,
	// DNS lookups) may take long, and the sweep of any node makes an order
	// processing for longer than StuckAfter invalid as interrupted.
	serial, hexSerial := newSerial(now)
	if err := r.store.StartIssuanceBy(ctx, o.ID, hexSerial, r.processingNode(), keyHash, r.now(), spend); err != nil {
		if p := rateRefusal(err, refused); p != nil {
			return nil, p
		}
		var kb *store.KeyBlockedError
		if errors.As(err, &kb) {
			return nil, blockedKeyProblem(kb.Key, "the CSR's public key")
		}
		if errors.Is(err, store.ErrStale) {
			return nil, acme.NewProblem(acme.OrderNotReady, "the order is already being finalized")
		}
		if errors.Is(err, store.ErrAccountNotValid) {
			return nil, accountNoLongerValid()
		}
		return nil, r.internal(ctx, "order finalization", err)
	}
	if rm, ok := iss.(issuer.Remote); ok {
		// A CA elsewhere may take long: it is asked detached, the
		// order answered processing with Retry-After (RFC 8555 §7.4).
		// The serial reserved above is never used (the CA elsewhere
		// chooses its own); reserving it costs nothing.
		return r.startRemote(ctx, a, o, csr, prof, rm, now), nil
	}
	// From here on the order is processing: finish the issuance even if the
	// client goes away, or a dropped connection would strand the order
	// until the sweep and waste the signed certificate.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	cert, err := r.issue(ctx, a, o, csr, prof, iss, serial, hexSerial, now)
	if err != nil {
		p, ok := acme.AsProblem(err)
		if !ok {
			p = r.internal(ctx, "issuance", err).(*acme.Problem)
		}
		if serr := r.store.SetOrderStatus(ctx, o.ID, acme.StatusProcessing, acme.StatusInvalid, p, r.now()); serr != nil {
			r.log.ErrorContext(ctx, "mark order invalid", "order", o.ID, "err", serr)
		}
		return nil, p
	}
	done := r.now()
	ev, err := r.auditEvent(ctx, issueEvent(a, cert, done))
	if err != nil {
		return nil, r.internal(ctx, "audit event", err)
	}
	if err := r.storeIssued(ctx, o.ID, cert, done, ev); err != nil {
		return nil, r.finishRefused(ctx, o.ID, err)
	}
	r.cfg.Metrics.CertificateIssued(prof.Name, cert.Issuer)
	r.log.InfoContext(ctx, "certificate issued", "order", o.ID, "serial", cert.Serial, "names", cert.SANs, "key", cert.KeyType)
	valid := *o
	valid.Status, valid.CertSerial, valid.UpdatedAt = acme.StatusValid, cert.Serial, cert.CreatedAt
	return &valid, nil
}

// finishRefused is the error of order orderID's finalization when
// FinishOrder returned err: for a key blocked while the certificate was
// signed (store.KeyBlockedError; the certificate is stored revoked and the
// order invalid) the badPublicKey problem stored as the order's error,
// after dropping the cached CRL, which now lists the certificate;
// otherwise serverInternal.
func (r *RA) finishRefused(ctx context.Context, orderID string, err error) error {
	var kb *store.KeyBlockedError
	if !errors.As(err, &kb) || kb.Problem == nil {
		return r.internal(ctx, "storing the certificate", err)
	}
	r.crlMu.Lock()
	r.crlCache = nil
	r.crlMu.Unlock()
	if r.cfg.OnRevoke != nil {
		r.cfg.OnRevoke(kb.Serial)
	}
	r.log.WarnContext(ctx, "key blocked while the certificate was signed: certificate stored revoked, order invalid",
		"order", orderID, "serial", kb.Serial, "blocked_by", kb.Key.Serial)
	return kb.Problem
}

// recheckCAA checks CAA again for the dns authorizations validated more
// than CAARecheckAfter before now (CA/B BR §3.2.2.8), a few at a time. A
// refusal is a caa problem (with subproblems when several names fail) and
// refuses this finalize only: the order stays ready, so that the client
// may fix its CAA records and finalize again, and every later attempt
// checks again. A pre-authorized authorization (valid without a
// challenge) is checked as CAA was checked when it was created (see
// checkPreAuthorizedCAA): without a validation method.
func (r *RA) recheckCAA(ctx context.Context, accountID string, authzs []*store.Authorization, now time.Time) error {
	var stale []*store.Authorization
	for _, az := range authzs {
		if az.Identifier.Type != acme.IdentifierDNS {
			continue // CAA is for domain names only
		}
		if r.cfg.CAARecheckAfter >= 0 && now.Sub(az.ValidatedAt) <= r.cfg.CAARecheckAfter {
			continue
		}
		stale = append(stale, az)
	}
	return checkCAAEach(stale, "CAA re-checked at finalize", func(az *store.Authorization) error {
		return r.recheckCAAOne(ctx, accountID, az)
	})
}

// checkPreAuthorizedCAA checks CAA (RFC 8659) for the pre-authorized dns
// authorizations among fresh, the new authorizations of an order of
// profile (valid at once, without a challenge), when they are created:
// as a challenge validation checks it, issue/issuewild and accounturi
// apply, and as no validation method was used, a record whose
// validationmethods parameter (RFC 8657 §4) would be needed refuses them.
// Later finalizes check again per recheckCAA. A refusal is a caa problem
// (with subproblems when several names fail), a failed lookup a dns one.
func (r *RA) checkPreAuthorizedCAA(ctx context.Context, accountID, profile string, fresh []*store.Authorization) error {
	var pre []*store.Authorization
	for _, az := range fresh {
		if az.Status == acme.StatusValid && az.Identifier.Type == acme.IdentifierDNS {
			pre = append(pre, az)
		}
	}
	if len(pre) == 0 {
		return nil
	}
	v, err := r.validatorFor(ctx, profile)
	if err != nil {
		return err
	}
	uris := r.accountURIs(accountID)
	return checkCAAEach(pre, "CAA checked for a pre-authorized name", func(az *store.Authorization) error {
		return v.CheckCAA(ctx, az.Identifier, az.Wildcard, "", uris)
	})
}

// checkCAAEach runs check for every authorization of azs, a few at a
// time, and joins the caa problems: one is returned with what (saying
// which check it was) before its detail, several as the subproblems of
// one caa problem. Any other error (dns, connection, internal) is
// returned as it is.
func checkCAAEach(azs []*store.Authorization, what string, check func(*store.Authorization) error) error {
	errs := make([]error, len(azs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, az := range azs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = check(az)
		}()
	}
	wg.Wait()
	var probs []acme.Problem
	for i, err := range errs {
		if err == nil {
			continue
		}
		pp, ok := acme.AsProblem(err)
		if !ok || pp.Type != acme.CAA {
			return err
		}
		p := *pp
		if azs[i].Wildcard && p.Identifier != nil && !strings.HasPrefix(p.Identifier.Value, "*.") {
			// The order's identifier, as the client asked for it
			// (RFC 8555 §6.7.1), not the authorization's base name.
			id := orderIdentifier(*p.Identifier, true)
			p.Identifier = &id
		}
		probs = append(probs, p)
	}
	switch len(probs) {
	case 0:
		return nil
	case 1:
		p := probs[0]
		p.Detail = what + ": " + p.Detail
		return &p
	default:
		p := acme.NewProblem(acme.CAA, "%s: CAA forbids issuance for %d identifiers", what, len(probs))
		p.Subproblems = probs
		return p
	}
}

// recheckCAAOne checks CAA for az as it was checked when it was validated,
// with the challenge type that validated it.
func (r *RA) recheckCAAOne(ctx context.Context, accountID string, az *store.Authorization) error {
	full, err := r.store.GetAuthorization(ctx, az.ID) // GetAuthorizations omits challenges
	if err != nil {
		return r.internal(ctx, "authorization lookup", err)
	}
	method := "" // pre-authorized: matches no validationmethods (RFC 8657 §4)
	for _, c := range full.Challenges {
		if c.Status == acme.StatusValid {
			method = c.Type
		}
	}
	v, err := r.validatorFor(ctx, full.Profile)
	if err != nil {
		return err
	}
	return v.CheckCAA(ctx, az.Identifier, az.Wildcard, method, r.accountURIs(accountID))
}

// issue has the issuer sign the certificate of order o with serial (which
// the caller reserved: StartIssuance, or ReserveSerial after an approval)
// under profile prof: the profile's validity (or the order's
// notBefore/notAfter), never longer than its maximum nor ending after
// the intermediate (issuer.NotAfterLimiter), and its EKUs; OCSP
// Must-Staple when the CSR asks for it (checkMustStaple, again: after an
// approval the OCSP responder may have been turned off). iss signs; an
// issuer.Remote is sent the CSR, serial and hexSerial are not used (nil,
// ""), and the certificate it returns is checked and keyed by its own
// serial (checkRemoteLeaf).
func (r *RA) issue(ctx context.Context, a *store.Account, o *store.Order, csr *x509.CertificateRequest, prof *policy.Profile, iss issuer.Issuer, serial *big.Int, hexSerial string, now time.Time) (*store.Certificate, error) {
	mustStaple, err := r.checkMustStaple(iss, csr)
	if err != nil {
		return nil, err
	}
	req := issuer.IssueRequest{Serial: serial, PublicKey: csr.PublicKey, NotBefore: now.Add(-r.cfg.Backdate),
		ExtKeyUsages: prof.ExtKeyUsages(), Profile: prof.Name, Subject: prof.Subject(csr.Subject), MustStaple: mustStaple}
	if !o.NotBefore.IsZero() {
		req.NotBefore = o.NotBefore
	}
	// X.509 encodes whole seconds: the bounds are cut to them before the
	// period is measured, or an order's fractions of a second (RFC 3339)
	// could make the encoded period up to a second longer than allowed.
	req.NotBefore = req.NotBefore.Truncate(time.Second)
	// Validity periods are inclusive (RFC 5280 §4.1.2.5; the BR limits
	// count them so): a period of v ends v − 1 second after notBefore.
	validity, maxValidity := prof.ValidityAt(req.NotBefore)
	req.NotAfter = req.NotBefore.Add(validity - time.Second)
	if !o.NotAfter.IsZero() {
		req.NotAfter = o.NotAfter.Truncate(time.Second)
		// Only notAfter was asked for: it is kept (RFC 8555 §7.4: no
		// other contents than requested), backdating less where the
		// whole backdate would make the period longer than the maximum
		// (newOrder measured it from its own time, no earlier than now).
		if earliest := req.NotAfter.Add(time.Second - maxValidity); o.NotBefore.IsZero() && req.NotBefore.Before(earliest) && !earliest.After(now) {
			req.NotBefore = earliest
			_, maxValidity = prof.ValidityAt(req.NotBefore)
		}
	}
	if periodExceeds(req.NotBefore, req.NotAfter, maxValidity) {
		// Never above the maximum: an order that requested no notAfter
		// gets the profile's validity as it is now (one that requested a
		// notAfter beyond the maximum is refused by recheckAtSigning).
		req.NotAfter = req.NotBefore.Add(maxValidity - time.Second)
	}
	if limit := notAfterLimit(iss); !limit.IsZero() && req.NotAfter.After(limit) && req.NotBefore.Before(limit) {
		// Never after the intermediate's notAfter (the built-in CA would
		// cut it so too): a leaf that outlives its issuer stops verifying
		// with it. An order that requested a later notAfter was refused
		// (recheckAtSigning); one whose notBefore is not before it is the
		// issuer's to refuse.
		r.log.WarnContext(ctx, "certificate validity cut to end with the intermediate, which expires before the profile's validity: make a new intermediate (certgate ca rotate)",
			"order", o.ID, "serial", hexSerial, "profile", prof.Name, "not_after", limit.UTC().Format(time.RFC3339),
			"profile_not_after", req.NotAfter.UTC().Format(time.RFC3339))
		req.NotAfter = limit
	}
	for _, id := range o.Identifiers {
		if id.Type == acme.IdentifierIP {
			req.IPAddresses = append(req.IPAddresses, net.ParseIP(id.Value))
		} else {
			req.DNSNames = append(req.DNSNames, id.Value)
		}
	}
	if _, remote := iss.(issuer.Remote); remote {
		req.CSR = csr
		// The upstream's order is recorded before it is asked to issue:
		// a crash after it issued finds the certificate (recoverRemote).
		req.Placed = func(ctx context.Context, ro issuer.RemoteOrder) error {
			return r.recordRemote(ctx, o.ID, iss, csr, ro)
		}
	}
	out, err := iss.Issue(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("issuer %s: %w", iss.Name(), err)
	}
	return r.issuedRecord(ctx, a, o, csr, prof, iss, out, serial, hexSerial)
}

// issuedRecord checks the certificate out that iss issued for order o and
// returns its inventory record: a certificate of the built-in CA must
// have the reserved serial (hexSerial); one from a CA elsewhere is checked
// against csr and the order's names (checkRemoteLeaf) and, when refused,
// recorded and revoked there (refuseRemote).
func (r *RA) issuedRecord(ctx context.Context, a *store.Account, o *store.Order, csr *x509.CertificateRequest, prof *policy.Profile, iss issuer.Issuer, out *issuer.Issued, serial *big.Int, hexSerial string) (*store.Certificate, error) {
	leaf, err := x509.ParseCertificate(out.DER)
	if err != nil {
		return nil, fmt.Errorf("parse issued certificate: %w", err)
	}
	fp := sha256.Sum256(out.DER)
	if _, remote := iss.(issuer.Remote); remote {
		if hexSerial, err = r.checkRemoteLeaf(ctx, iss, leaf, out.ChainPEM, csr, o.Identifiers, hex.EncodeToString(fp[:])); err != nil {
			r.refuseRemote(ctx, o, iss, leaf, hex.EncodeToString(fp[:]), err)
			return nil, err
		}
	} else if leaf.SerialNumber.Cmp(serial) != 0 {
		return nil, fmt.Errorf("issuer %s ignored the reserved serial", iss.Name())
	}
	sans := make([]string, 0, len(o.Identifiers))
	for _, id := range o.Identifiers {
		sans = append(sans, id.Value)
	}
	keyHash, err := store.KeyHash(leaf.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("issued certificate's key: %w", err)
	}
	return &store.Certificate{Serial: hexSerial, Issuer: iss.Name(), OrderID: o.ID, AccountID: a.ID, DER: out.DER,
		ChainPEM: string(out.ChainPEM), SANs: sans, KeyType: KeyType(csr.PublicKey), FingerprintSHA256: hex.EncodeToString(fp[:]),
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Status: acme.StatusValid, CreatedAt: r.now(),
		// Inventory (docs/inventory.md): the order's profile and final
		// custom attributes (EAB defaults, account, order).
		Profile: prof.Name, Attributes: certAttributes(o.Attributes), Source: store.SourceIssued,
		KeyBits: KeyBits(leaf.PublicKey), SignatureAlgorithm: leaf.SignatureAlgorithm.String(), KeyHash: keyHash}, nil
}

// certAttributes is a copy of an order's attributes for its certificate
// record (never nil).
func certAttributes(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// certIdentifiers returns the identifiers named by cert's SANs.
func certIdentifiers(cert *x509.Certificate) []acme.Identifier {
	var ids []acme.Identifier
	for _, n := range cert.DNSNames {
		id, _ := authzIdentifier(acme.Identifier{Type: acme.IdentifierDNS, Value: strings.ToLower(n)})
		ids = append(ids, id)
	}
	for _, ip := range cert.IPAddresses {
		addr, _ := netip.AddrFromSlice(ip)
		ids = append(ids, acme.Identifier{Type: acme.IdentifierIP, Value: addr.Unmap().String()})
	}
	return ids
}

// revocationIdentifiers returns the identifiers of cert's SANs as
// Store.ValidAuthorizationsFor takes them: DNS names in lower case with a
// wildcard's "*." kept (it needs an authorization for the wildcard, not
// one for the name below it), IP addresses in their canonical form.
func revocationIdentifiers(cert *x509.Certificate) []acme.Identifier {
	ids := certIdentifiers(cert)
	for i, n := range cert.DNSNames {
		if strings.HasPrefix(n, "*.") {
			ids[i].Value = "*." + ids[i].Value
		}
	}
	return ids
}

// certificateOfThisCA returns the inventory record of cert when it is a
// certificate of this server's CA: issued here (to an ACME account, or by
// the built-in CA for certgate's own HTTPS listeners, source listener),
// or imported and signed by one of the CA's keys, the current
// intermediate's or a retired one's (stored under that CA certificate's
// subject, with the key serial or serial-FINGERPRINT16); nil when there is
// none (unknown, or another CA's).
func (r *RA) certificateOfThisCA(ctx context.Context, cert *x509.Certificate) (*store.Certificate, error) {
	recs, err := r.store.CertificatesWithSerial(ctx, cert.SerialNumber.Text(16))
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if !bytes.Equal(rec.DER, cert.Raw) {
			continue
		}
		if IssuedHere(rec) || rec.Source == store.SourceListener {
			return rec, nil
		}
		if r.caScope().Holds(rec) {
			return rec, nil
		}
	}
	return nil, nil
}

// RevokeRequest is a checked revokeCert request (RFC 8555 §7.6): exactly
// one of Account (kid-signed) or CertKey (jwk-signed) is set.
type RevokeRequest struct {
	CertDER []byte           // the certificate to revoke, DER
	Reason  *int             // RFC 5280 §5.3.1 reason code; nil: unspecified
	Account *store.Account   // the kid-signed request's account; nil otherwise
	CertKey crypto.PublicKey // the jwk-signed request's key, the certificate's; nil otherwise
}

// Revoke revokes a certificate (RFC 8555 §7.6) when the requester is the
// issuing account, an account holding valid authorizations for every name
// in it, or proves possession of its key (then always for keyCompromise).
// An account of the second kind may not ask for keyCompromise
// (badRevocationReason), and any other reason it asks is recorded as
// cessationOfOperation. A revocation for keyCompromise blocks the certificate's key: no
// certificate or account is accepted for it afterwards; it also applies to
// a certificate revoked before for another reason (store.RevokeCertificate:
// the reason becomes keyCompromise). A certificate of this server's CA
// that entered the inventory by import (restored from a backup, issued
// before a migration) is revoked like one issued here: by its key, or by
// an account with valid authorizations for all its names (it has no
// issuing account); so is the certificate of certgate's own HTTPS
// listeners that the built-in CA issued (source listener). Errors: malformed with status 404 (a certificate of
// another CA, or one this server has no record of), unauthorized (also
// for an account no longer valid: req.Account may be a cached copy,
// checkAccountStillValid), badRevocationReason, alreadyRevoked; for a
// certificate issued through an upstream CA, the upstream's problem, or
// serverInternal when this server does not have that upstream configured
// (nothing is recorded: IssuerNotConfiguredError).
func (r *RA) Revoke(ctx context.Context, req RevokeRequest) error {
	reason := 0
	if req.Reason != nil {
		reason = *req.Reason
	}
	if !acme.SubscriberRevocationReasonAllowed(reason) {
		if reason == 9 {
			return acme.NewProblem(acme.BadRevocationReason, "reason privilegeWithdrawn (9) is the CA's to give, not the subscriber's (CA/B BR §7.2.2); use %s", acme.SubscriberRevocationReasons)
		}
		return acme.NewProblem(acme.BadRevocationReason, "reason %d is not accepted; use %s (RFC 5280 §5.3.1)", reason, acme.SubscriberRevocationReasons)
	}
	cert, err := x509.ParseCertificate(req.CertDER)
	if err != nil {
		return acme.NewProblem(acme.Malformed, "cannot parse the certificate: %v", err)
	}
	rec, err := r.certificateOfThisCA(ctx, cert)
	if err != nil {
		return r.internal(ctx, "certificate lookup", err)
	}
	if rec == nil {
		var p *acme.Problem
		if cert.IsCA {
			// One of this CA's own certificates (the intermediate)
			// came out as "this server's CA did not issue that
			// certificate (its issuer is <this server's root>)".
			p = acme.NewProblem(acme.Malformed, "that is a CA certificate (%q), not one issued to an ACME account: "+
				"a CA certificate is not revoked over ACME", cert.Subject.String())
		} else if scope := r.caScope(); scope.Signed != nil && !scope.Signed(req.CertDER) {
			p = acme.NewProblem(acme.Malformed, "this server's CA did not issue that certificate (its issuer is %q): "+
				"revoke it with the CA that issued it", cert.Issuer.String())
		} else {
			p = acme.NewProblem(acme.Malformed, "this server has no record of that certificate")
		}
		p.Status = 404
		return p
	}
	switch {
	case req.CertKey != nil:
		eq, ok := req.CertKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !eq.Equal(cert.PublicKey) {
			return acme.NewProblem(acme.Unauthorized, "the request is not signed by the certificate's key")
		}
		// A request signed with the certificate's private key demonstrates
		// that whoever sent it holds the key: verifiable evidence of key
		// compromise, for which the CA/B Forum BR (§4.9.1.1, §7.2.2) make
		// keyCompromise the reason, whatever the request asked. The
		// revocation blocks the key (store.RevokeCertificate).
		reason = acme.ReasonKeyCompromise
	case req.Account != nil:
		// req.Account may be a cached copy (checkAccountStillValid).
		if err := r.checkAccountStillValid(ctx, req.Account); err != nil {
			return err
		}
		if rec.AccountID != req.Account.ID {
			ok, err := r.store.ValidAuthorizationsFor(ctx, req.Account.ID, revocationIdentifiers(cert), r.now())
			if err != nil {
				return r.internal(ctx, "authorization lookup", err)
			}
			if !ok {
				return acme.NewProblem(acme.Unauthorized, "the account neither issued this certificate nor holds authorizations for all its names")
			}
			if reason == acme.ReasonKeyCompromise {
				// keyCompromise blocks the key and revokes the key's other
				// certificates, which may name domains this account never
				// validated: controlling the names is no evidence about
				// the key.
				return acme.NewProblem(acme.BadRevocationReason, "an account that did not request the certificate cannot revoke it for keyCompromise; "+
					"sign the request with the certificate's key, or use another reason (RFC 8555 §7.6)")
			}
			// What such an account has shown is that the subscriber no
			// longer controls the names: cessationOfOperation (Mozilla Root
			// Store Policy §6.1.1, as Boulder records it), whatever it
			// asked; superseded, affiliationChanged or privilegeWithdrawn
			// would state what only the subscriber or the CA can.
			reason = acme.ReasonCessationOfOperation
		}
	default:
		return acme.NewProblem(acme.Unauthorized, "revocation needs an account or the certificate key")
	}
	actor := "certificate-key"
	if req.Account != nil {
		actor = audit.ACMEAccountActor(req.Account.ID)
	}
	for attempt := 0; ; attempt++ {
		_, _, err := r.revoke(ctx, rec, reason, actor)
		if err == nil {
			return nil
		}
		if p, ok := acme.AsProblem(err); ok {
			return p // the upstream CA of an upstream-issued certificate refused
		}
		if nc := (*IssuerNotConfiguredError)(nil); errors.As(err, &nc) {
			// Not sent to the upstream, so not recorded: a server error,
			// which the client may try again (at a server that has it).
			return acme.NewProblem(acme.ServerInternal, "%s", nc.Error())
		}
		if !errors.Is(err, store.ErrStale) {
			return r.internal(ctx, "revocation", err)
		}
		// The record changed since it was read: another revocation came
		// first. A keyCompromise revocation still applies to a
		// certificate revoked for another reason (the store turns the
		// reason into keyCompromise and blocks the key), so it is tried
		// again on the record as it is now; it was answered
		// alreadyRevoked, while the same request a moment later
		// succeeded. Anything else is already revoked.
		if reason != acme.ReasonKeyCompromise || attempt == 2 {
			return acme.NewProblem(acme.AlreadyRevoked, "the certificate is already revoked")
		}
		if rec, err = r.certificateOfThisCA(ctx, cert); err != nil {
			return r.internal(ctx, "certificate lookup", err)
		}
		if rec == nil || (rec.Status == acme.StatusRevoked && rec.RevocationReason == acme.ReasonKeyCompromise) {
			return acme.NewProblem(acme.AlreadyRevoked, "the certificate is already revoked")
		}
	}
}
