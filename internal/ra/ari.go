package ra

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
)

// ACME Renewal Information (RFC 9773).
//
// Suggested windows (server-wide defaults; a profile's renewalWindow
// replaces the first one for its certificates):
//   - a valid certificate: the first half of the last third of its
//     lifetime L, start = notBefore + 2/3·L and end = notBefore + 5/6·L
//     (= notAfter − L/6), so a renewal chosen anywhere in the window
//     still leaves a sixth of the lifetime (15 days for 90-day
//     certificates) to retry before expiry;
//   - a revoked certificate, or one signed by an intermediate revoked
//     with `certgate ca revoke-intermediate`: [now − 1h, now], entirely
//     in the past, so RFC 9773 §4.2 clients renew immediately;
//   - a window an administrator set (`certgate cert suggest-renewal`,
//     RenewalWindow and EarlierWindow in ari_admin.go) replaces the
//     default for a certificate that is not revoked.

// RevokedWindowLead is how far before now the window of a revoked
// certificate starts.
const RevokedWindowLead = time.Hour

// CertID is a parsed RFC 9773 §4.1 certificate identifier.
type CertID struct {
	AKI    []byte // keyIdentifier of the certificate's AuthorityKeyIdentifier
	Serial string // lower-case hex without leading zeros, as stored
}

// ParseCertID parses base64url(AKI keyIdentifier) "." base64url(serial
// DER content octets), both unpadded (RFC 9773 §4.1). Errors are
// malformed problems.
func ParseCertID(s string) (CertID, error) {
	bad := func(why string) (CertID, error) {
		return CertID{}, acme.NewProblem(acme.Malformed, "invalid certificate identifier %q: %s (RFC 9773 §4.1)", truncate(s, 200), why)
	}
	a, b, ok := strings.Cut(s, ".")
	if !ok || a == "" || b == "" || strings.Contains(b, ".") {
		return bad("want base64url(AKI keyIdentifier) \".\" base64url(serial)")
	}
	aki, err := decodeCertIDPart(a)
	if err != nil {
		return bad("the keyIdentifier part is not canonical unpadded base64url")
	}
	ser, err := decodeCertIDPart(b)
	if err != nil {
		return bad("the serial part is not canonical unpadded base64url")
	}
	// DER INTEGER content octets: minimal two's complement, positive.
	switch {
	case len(ser) > 21 || (len(ser) == 21 && ser[0] != 0):
		// 21 octets only as a 0x00 before a 20-octet serial whose
		// first bit is set (RFC 5280 §4.1.2.2).
		return bad("the serial is longer than 20 octets")
	case ser[0]&0x80 != 0:
		return bad("the serial is negative")
	case len(ser) > 1 && ser[0] == 0 && ser[1]&0x80 == 0:
		return bad("the serial is not minimally encoded")
	}
	return CertID{AKI: aki, Serial: new(big.Int).SetBytes(ser).Text(16)}, nil
}

// decodeCertIDPart decodes one part of a CertID: unpadded base64url in
// its canonical form only (RFC 4648 §3.5: the pad bits are zero), so that
// a certificate has exactly one identifier (an order keeps its "replaces"
// as the client sent it). encoding/base64 skips CR and LF even in strict
// mode, hence the explicit check.
func decodeCertIDPart(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("line break in base64url")
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// revokedWindow is the window of a certificate to renew at once:
// [now − RevokedWindowLead, now], entirely in the past (RFC 9773 §4.2).
func revokedWindow(now time.Time) acme.TimeWindow {
	return acme.TimeWindow{Start: now.Add(-RevokedWindowLead).UTC().Truncate(time.Second), End: now.UTC().Truncate(time.Second)}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// lookupCertID returns the stored certificate id names and its parsed
// form; a certificate this server did not issue (unknown serial, an AKI
// other than the one in the certificate, or a certificate imported into the
// inventory) is a 404 malformed problem.
func (r *RA) lookupCertID(ctx context.Context, id CertID) (*store.Certificate, *x509.Certificate, error) {
	notFound := func() error {
		p := acme.NewProblem(acme.Malformed, "this server did not issue a certificate with that identifier")
		p.Status = http.StatusNotFound
		return p
	}
	rec, err := r.store.GetCertificate(ctx, id.Serial)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound()
	}
	if err != nil {
		return nil, nil, r.internal(ctx, "certificate lookup", err)
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return nil, nil, r.internal(ctx, "certificate parse", err)
	}
	if !bytes.Equal(cert.AuthorityKeyId, id.AKI) || !IssuedHere(rec) {
		return nil, nil, notFound()
	}
	return rec, cert, nil
}

// IssuedHere reports whether the inventory record c is of a certificate
// one of this server's issuers issued (source issued), as opposed to one
// imported from files or discovered, which another CA issued: ACME
// revocation (RFC 8555 §7.6), renewalInfo and "replaces" (RFC 9773) are
// about certificates the server issued only.
func IssuedHere(c *store.Certificate) bool {
	return c.Source == "" || c.Source == store.SourceIssued
}

// RenewalInfo answers an RFC 9773 renewalInfo request for certID.
func (r *RA) RenewalInfo(ctx context.Context, certID string) (*acme.RenewalInfo, error) {
	id, err := ParseCertID(certID)
	if err != nil {
		return nil, err
	}
	rec, cert, err := r.lookupCertID(ctx, id)
	if err != nil {
		return nil, err
	}
	start, end, err := r.store.RenewalWindow(ctx, rec.Serial)
	if err != nil {
		return nil, r.internal(ctx, "renewal window lookup", err)
	}
	var pw *policy.RenewalWindow
	if end.IsZero() && rec.Status != acme.StatusRevoked {
		// No administrator's window: the certificate's profile may set one.
		if p, err := r.profiles.Get(ctx, rec.Profile); err == nil {
			pw = p.RenewalWindow
		}
	}
	w, _ := SuggestedRenewal(rec, acme.TimeWindow{Start: start, End: end}, pw, SignedByRevoked(cert, r.RevokedIntermediates()), r.now())
	return &acme.RenewalInfo{SuggestedWindow: w}, nil
}

// SuggestedWindow is the renewal window of certificate c at now (see the
// package comment of ari.go for the policy).
func SuggestedWindow(c *store.Certificate, now time.Time) acme.TimeWindow {
	if c.Status == acme.StatusRevoked {
		return revokedWindow(now)
	}
	life := c.NotAfter.Sub(c.NotBefore)
	w := acme.TimeWindow{
		Start: c.NotBefore.Add(life / 3 * 2).UTC().Truncate(time.Second),
		End:   c.NotBefore.Add(life / 6 * 5).UTC().Truncate(time.Second),
	}
	if !w.End.After(w.Start) {
		// A lifetime under six seconds (a newOrder may ask for notAfter
		// one second after notBefore): whole seconds would make the
		// window empty, which RFC 9773 §4.2 forbids serving.
		w.End = w.Start.Add(time.Second)
	}
	return w
}

// checkReplaces validates newOrder's "replaces" (RFC 9773 §5) for account
// a and the order's normalised identifiers ids: the certificate must have
// been issued here to the same account, share an identifier with the
// order, and not be claimed by another order that is not invalid. It
// returns the certificate's serial and its current claim (the ID of an
// earlier, now invalid, replacing order, or "") for the store's
// compare-and-swap, and the identifiers of ids that
// certificates-per-domain still counts (notRenewed).
func (r *RA) checkReplaces(ctx context.Context, a *store.Account, ids []acme.Identifier, certID string) (serial, prevClaim string, counted []acme.Identifier, err error) {
	id, err := ParseCertID(certID)
	if err != nil {
		return "", "", nil, err
	}
	rec, cert, err := r.lookupCertID(ctx, id)
	if err != nil {
		if p, ok := acme.AsProblem(err); ok && p.Status == http.StatusNotFound {
			return "", "", nil, acme.NewProblem(acme.Malformed, "replaces: this server did not issue a certificate with that identifier")
		}
		return "", "", nil, err
	}
	if rec.AccountID != a.ID {
		return "", "", nil, acme.NewProblem(acme.Unauthorized, "replaces: the certificate was issued to another account")
	}
	if !sharesIdentifier(cert, ids) {
		return "", "", nil, acme.NewProblem(acme.Malformed, "replaces: the order shares no identifier with the certificate it replaces")
	}
	if rec.ReplacedBy != "" {
		live, err := r.replacementLive(ctx, rec.ReplacedBy)
		if err != nil {
			return "", "", nil, err
		}
		if live {
			return "", "", nil, alreadyReplaced()
		}
	}
	return rec.Serial, rec.ReplacedBy, notRenewed(cert, ids), nil
}

// notRenewed returns the identifiers of ids whose registered domain
// (ratelimit.RegisteredDomain) cert, the certificate an order replaces,
// does not name: a replacement renews the registered domains of the
// certificate it replaces, so certificates-per-domain exempts those
// (docs/rate-limits.md) and still counts the ones the order adds. Nil
// when every identifier is renewed.
func notRenewed(cert *x509.Certificate, ids []acme.Identifier) []acme.Identifier {
	renewed := map[string]bool{}
	for _, id := range certIdentifiers(cert) {
		renewed[ratelimit.RegisteredDomain(id.Value)] = true
	}
	var out []acme.Identifier
	for _, id := range ids {
		if !renewed[ratelimit.RegisteredDomain(id.Value)] {
			out = append(out, id)
		}
	}
	return out
}

// domainCounted returns the identifiers of order o that
// certificates-per-domain counts at finalize: all of them, or for an
// order replacing a certificate (RFC 9773) those notRenewed. The replaced
// certificate is read again; if it can no longer be found, all count.
func (r *RA) domainCounted(ctx context.Context, o *store.Order) ([]acme.Identifier, error) {
	if o.Replaces == "" {
		return o.Identifiers, nil
	}
	id, err := ParseCertID(o.Replaces)
	if err != nil {
		return o.Identifiers, nil
	}
	_, cert, err := r.lookupCertID(ctx, id)
	if err != nil {
		if p, ok := acme.AsProblem(err); ok && p.Status == http.StatusNotFound {
			return o.Identifiers, nil
		}
		return nil, err
	}
	return notRenewed(cert, o.Identifiers), nil
}

func alreadyReplaced() error {
	return acme.NewProblem(acme.AlreadyReplaced, "the certificate has already been replaced by another order")
}

// replacementLive reports whether order orderID still holds its claim on
// the certificate it replaces: it exists and its served status is not
// invalid (RFC 9773 §5).
func (r *RA) replacementLive(ctx context.Context, orderID string) (bool, error) {
	o, err := r.store.GetOrder(ctx, orderID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil // deleted by the sweep: it was stale
	}
	if err != nil {
		return false, r.internal(ctx, "order lookup", err)
	}
	if o.Status != acme.StatusPending {
		return o.Status != acme.StatusInvalid, nil
	}
	authzs, err := r.store.GetAuthorizations(ctx, o.AuthzIDs)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, r.internal(ctx, "authorizations lookup", err)
	}
	return OrderStatus(o, authzs, r.now()) != acme.StatusInvalid, nil
}

// sharesIdentifier reports whether cert names at least one of ids exactly
// (a wildcard only matches the same wildcard).
func sharesIdentifier(cert *x509.Certificate, ids []acme.Identifier) bool {
	have := map[acme.Identifier]bool{}
	for _, n := range cert.DNSNames {
		have[acme.Identifier{Type: acme.IdentifierDNS, Value: strings.ToLower(n)}] = true
	}
	for _, ip := range cert.IPAddresses {
		addr, _ := netip.AddrFromSlice(ip)
		have[acme.Identifier{Type: acme.IdentifierIP, Value: addr.Unmap().String()}] = true
	}
	for _, id := range ids {
		if have[id] {
			return true
		}
	}
	return false
}
