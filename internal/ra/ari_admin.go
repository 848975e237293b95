package ra

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// Where a suggested renewal window comes from (SuggestedRenewal).
const (
	WindowSet     = "suggest-renewal" // an administrator's (certgate cert suggest-renewal)
	WindowProfile = "profile"         // the certificate's profile's renewalWindow
	WindowDefault = "default"         // the server's default (SuggestedWindow)
	WindowRevoked = "revoked"         // a revoked certificate's: renew at once
	// WindowIntermediateRevoked: the intermediate that signed the
	// certificate was revoked (certgate ca revoke-intermediate): renew at
	// once.
	WindowIntermediateRevoked = "intermediate-revoked"
)

// SignedByRevoked reports whether cert names one of revoked (intermediates
// revoked with `certgate ca revoke-intermediate`) as its issuer: the same
// subject and an authority key identifier equal to its subject key
// identifier (RFC 5280 §4.2.1.1), so that a rotated intermediate of the
// same name is told apart.
func SignedByRevoked(cert *x509.Certificate, revoked []*x509.Certificate) bool {
	for _, ic := range revoked {
		if bytes.Equal(cert.RawIssuer, ic.RawSubject) && len(ic.SubjectKeyId) > 0 && bytes.Equal(cert.AuthorityKeyId, ic.SubjectKeyId) {
			return true
		}
	}
	return false
}

// SuggestedRenewal is the window renewalInfo serves for certificate c at
// now (RFC 9773 §4.2) and where it comes from: a revoked certificate's
// [now − 1h, now] (WindowRevoked); the same when the intermediate that
// signed it is revoked (interRevoked, SignedByRevoked;
// WindowIntermediateRevoked); else the window an administrator stored
// (admin; a zero End means none; WindowSet); else the window of c's
// profile (profile; nil: none; WindowProfile); else the default
// SuggestedWindow (WindowDefault). The last two are taken over c's
// validity ending at the latest with its issuer's (the chain's second
// certificate, issuerEnd): a certificate that outlives the intermediate
// that signed it (issued before certgate cut leaves to their
// intermediate's notAfter) stops verifying then, so its window must come
// before.
func SuggestedRenewal(c *store.Certificate, admin acme.TimeWindow, profile *policy.RenewalWindow, interRevoked bool, now time.Time) (acme.TimeWindow, string) {
	if c.Status != acme.StatusRevoked && !interRevoked && admin.End.IsZero() {
		if end := issuerEnd(c); !end.IsZero() && c.NotAfter.After(end) && end.After(c.NotBefore) {
			cut := *c
			cut.NotAfter = end
			c = &cut
		}
	}
	switch {
	case c.Status == acme.StatusRevoked:
		return SuggestedWindow(c, now), WindowRevoked
	case interRevoked:
		return revokedWindow(now), WindowIntermediateRevoked
	case !admin.End.IsZero():
		return RenewalWindow(c, admin, now), WindowSet
	case profile != nil:
		s, e := profile.For(c.NotBefore, c.NotAfter)
		return acme.TimeWindow{Start: s, End: e}, WindowProfile
	}
	return SuggestedWindow(c, now), WindowDefault
}

// issuerEnd returns the notAfter of the certificate that issued c: the
// first certificate of c.ChainPEM (issuer.ParsePEMCertificates) that is
// not c itself; zero when the chain holds none or does not parse.
func issuerEnd(c *store.Certificate) time.Time {
	certs, err := issuer.ParsePEMCertificates([]byte(c.ChainPEM))
	if err != nil {
		return time.Time{}
	}
	for _, ic := range certs {
		if !bytes.Equal(ic.Raw, c.DER) {
			return ic.NotAfter
		}
	}
	return time.Time{}
}

// RenewalStore is what CertificateRenewal reads: *store.Store.
type RenewalStore interface {
	// GetCertificate returns the certificate with serial
	// (store.ErrNotFound when there is none).
	GetCertificate(ctx context.Context, serial string) (*store.Certificate, error)
	// RenewalWindow returns the window an administrator stored for the
	// certificate (both zero when none).
	RenewalWindow(ctx context.Context, serial string) (start, end time.Time, err error)
	// GetProfile returns the stored profile called name
	// (store.ErrNotFound when there is none).
	GetProfile(ctx context.Context, name string) (*store.Profile, error)
}

// CertificateRenewal is the window renewalInfo serves at now for the
// certificate with serial, as SuggestedRenewal gives it, for `certgate
// cert show` and the admin API's certificate: ok is false for a
// certificate this server did not issue (imported or discovered), for
// which renewalInfo answers nothing. The profile is read from st (a
// stored profile; the built-in default has no renewalWindow); one that
// no longer exists or does not parse counts as none. revoked are the
// intermediates revoked with `certgate ca revoke-intermediate`
// (Config.RevokedIntermediates; nil: none known).
func CertificateRenewal(ctx context.Context, st RenewalStore, serial string, revoked []*x509.Certificate, now time.Time) (w acme.TimeWindow, source string, ok bool, err error) {
	c, err := st.GetCertificate(ctx, serial)
	if err != nil {
		return acme.TimeWindow{}, "", false, fmt.Errorf("certificate %s: %w", serial, err)
	}
	if !IssuedHere(c) {
		return acme.TimeWindow{}, "", false, nil
	}
	interRevoked := false
	if len(revoked) > 0 {
		cert, err := x509.ParseCertificate(c.DER)
		if err != nil {
			return acme.TimeWindow{}, "", false, fmt.Errorf("certificate %s: %w", serial, err)
		}
		interRevoked = SignedByRevoked(cert, revoked)
	}
	start, end, err := st.RenewalWindow(ctx, serial)
	if err != nil {
		return acme.TimeWindow{}, "", false, fmt.Errorf("renewal window of %s: %w", serial, err)
	}
	var pw *policy.RenewalWindow
	if end.IsZero() && c.Status != acme.StatusRevoked {
		name := c.Profile
		if name == "" {
			name = policy.DefaultName
		}
		rec, err := st.GetProfile(ctx, name)
		switch {
		case err == nil:
			if p, perr := policy.Parse(rec.Spec); perr == nil {
				pw = p.RenewalWindow
			}
		case !errors.Is(err, store.ErrNotFound):
			return acme.TimeWindow{}, "", false, fmt.Errorf("profile %s: %w", name, err)
		}
	}
	w, source = SuggestedRenewal(c, acme.TimeWindow{Start: start, End: end}, pw, interRevoked, now)
	return w, source, true, nil
}

// RenewalWindow is the suggested window renewalInfo serves for certificate
// c at now (RFC 9773 §4.2): a revoked certificate's is [now − 1h, now];
// otherwise the window an administrator stored for it (admin, from
// store.RenewalWindow; a zero End means none) when set, else the default
// SuggestedWindow.
func RenewalWindow(c *store.Certificate, admin acme.TimeWindow, now time.Time) acme.TimeWindow {
	if c.Status == acme.StatusRevoked || admin.End.IsZero() {
		return SuggestedWindow(c, now)
	}
	return acme.TimeWindow{Start: admin.Start.UTC().Truncate(time.Second), End: admin.End.UTC().Truncate(time.Second)}
}

// EarlierWindow is the window `certgate cert suggest-renewal --before`
// stores: it ends at before and starts at the earlier of the current
// window's start and now (from the moment the administrator asks, clients
// may renew), or an hour (RevokedWindowLead) before its end when that
// would not leave a window. It moves windows earlier only: a before not
// earlier than current.End is an error. The window must meet the
// certificate's validity (validity: its notBefore and notAfter): one that
// would end before notBefore, or start after notAfter, asks for a renewal
// before the certificate existed (or after it expired), and is an error.
// Times are UTC, whole seconds.
func EarlierWindow(current, validity acme.TimeWindow, before, now time.Time) (acme.TimeWindow, error) {
	end := before.UTC().Truncate(time.Second)
	if !end.Before(current.End) {
		return acme.TimeWindow{}, fmt.Errorf("renewalInfo already suggests renewing by %s; --before %s would not move it earlier",
			current.End.UTC().Format(time.RFC3339), end.Format(time.RFC3339))
	}
	if end.Before(validity.Start) {
		return acme.TimeWindow{}, fmt.Errorf("--before %s is earlier than the certificate's notBefore %s: the renewal window would end before the certificate was valid",
			end.Format(time.RFC3339), validity.Start.UTC().Format(time.RFC3339))
	}
	start := current.Start
	if n := now.UTC().Truncate(time.Second); n.Before(start) {
		start = n
	}
	if !start.Before(end) {
		start = end.Add(-RevokedWindowLead)
	}
	if start.After(validity.End) {
		return acme.TimeWindow{}, fmt.Errorf("the renewal window would start at %s, after the certificate's notAfter %s",
			start.Format(time.RFC3339), validity.End.UTC().Format(time.RFC3339))
	}
	return acme.TimeWindow{Start: start, End: end}, nil
}
