package ra

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
)

// Auditor turns an audit event into an append that a store method records
// in the same transaction as the change; *audit.Log implements it.
type Auditor interface {
	// Prepare turns ev into an append for the store method that makes the
	// change; errors: audit.ErrUnknownAction, an unencodable Before/After,
	// a snapshot over 64 KiB.
	Prepare(ctx context.Context, ev audit.Event) (*store.AuditAppend, error)
}

// auditEvent prepares ev for the store, or returns none when the RA has no
// Auditor. An event without Source gets the client address ctx carries
// (WithClientAddr), if any.
func (r *RA) auditEvent(ctx context.Context, ev audit.Event) ([]*store.AuditAppend, error) {
	if r.cfg.Audit == nil {
		return nil, nil
	}
	if ev.Source == "" {
		ev.Source = clientAddrString(ctx)
	}
	a, err := r.cfg.Audit.Prepare(ctx, ev)
	if err != nil {
		return nil, err
	}
	return []*store.AuditAppend{a}, nil
}

// issueEvent is the audit event of the issuance of c for account a. Its
// Cascade records the revocation of c for keyCompromise, which FinishOrder
// makes when c's key was blocked while c was signed (at FinishOrder's
// time, now).
func issueEvent(a *store.Account, c *store.Certificate, now time.Time) audit.Event {
	return audit.Event{Actor: audit.ACMEAccountActor(a.ID), Action: audit.ActionCertificateIssue,
		ObjectType: audit.ObjectCertificate, ObjectID: c.Serial, After: audit.CertificateOf(c),
		Cascade: func(old any) (*audit.Event, error) {
			c, ok := old.(*store.Certificate)
			if !ok {
				return nil, fmt.Errorf("cascaded row is a %T, want a *store.Certificate", old)
			}
			ev := cascadeRevokeEvent(audit.ActorSystem, c, now)
			return &ev, nil
		}}
}

// accountCreated is a new ACME account as the audit log records it
// (account.create).
type accountCreated struct {
	ID            string   `json:"id"`
	Status        string   `json:"status"`
	KeyThumbprint string   `json:"key_thumbprint"` // RFC 7638, base64url
	Contact       []string `json:"contact"`        // as the request gave them
	TOSAgreed     bool     `json:"terms_of_service_agreed"`
	// Profile is the profile of the directory the request came to.
	Profile    string `json:"profile"`
	EABKid     string `json:"eab_kid,omitempty"`
	EABProfile string `json:"eab_profile,omitempty"`
	EABOwner   string `json:"eab_owner,omitempty"`
}

// createEvent is the creation of account a (RFC 8555 §7.3) at the
// directory of profile, bound to EAB key k (§7.3.4; nil for none).
func createEvent(a *store.Account, profile string, k *store.EABKey) audit.Event {
	after := accountCreated{ID: a.ID, Status: a.Status, KeyThumbprint: a.KeyThumbprint, Contact: nonNil(a.Contact),
		TOSAgreed: a.TOSAgreed, Profile: profile}
	if k != nil {
		after.EABKid, after.EABProfile, after.EABOwner = k.KID, k.Profile, k.Owner
	}
	return audit.Event{Actor: audit.ACMEAccountActor(a.ID), Action: audit.ActionAccountCreate, ObjectType: audit.ObjectAccount,
		ObjectID: a.ID, After: after}
}

// accountContact is an account's contacts as the audit log records them
// (account.update).
type accountContact struct {
	Contact []string `json:"contact"`
}

// contactEvent is the update of account id's contacts to contact (RFC
// 8555 §7.3.2). Before is the row the update replaces; no event when
// its contacts are contact.
func contactEvent(id string, contact []string) audit.Event {
	return audit.Event{Actor: audit.ACMEAccountActor(id), Action: audit.ActionAccountUpdate, ObjectType: audit.ObjectAccount,
		ObjectID: id,
		Replaced: func(old any) (before, after any, err error) {
			o, ok := old.(*store.Account)
			if !ok {
				return nil, nil, fmt.Errorf("replaced row is a %T, want a *store.Account", old)
			}
			if slices.Equal(o.Contact, contact) {
				return nil, nil, audit.ErrUnchanged
			}
			return accountContact{nonNil(o.Contact)}, accountContact{nonNil(contact)}, nil
		}}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// accountRecord is an ACME account as account.deactivate events record
// it, whoever deactivates it: the fields and JSON names of the admin API's
// account (adminapi.Account, which the API and `certgate account
// deactivate` record; TestAccountDeactivateRecordsAdminObject), eabOwner
// the Owner of the EAB key that bound it ("" for none or a deleted key).
type accountRecord struct {
	ID            string            `json:"id"`
	Status        string            `json:"status"`
	Contact       []string          `json:"contact"`
	TOSAgreed     bool              `json:"tos_agreed"`
	KeyThumbprint string            `json:"key_thumbprint"` // RFC 7638, base64url
	CreatedAt     time.Time         `json:"created_at"`
	EABKid        string            `json:"eab_kid,omitempty"`
	EABOwner      string            `json:"eab_owner,omitempty"`
	Attributes    map[string]string `json:"attributes"`
}

// newAccountRecord is a's accountRecord with status and contact (nil:
// a's), eabOwner the Owner of its EAB key.
func newAccountRecord(a *store.Account, status string, contact []string, eabOwner string) accountRecord {
	if contact == nil {
		contact = a.Contact
	}
	attrs := a.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return accountRecord{ID: a.ID, Status: status, Contact: nonNil(contact), TOSAgreed: a.TOSAgreed, KeyThumbprint: a.KeyThumbprint,
		CreatedAt: a.CreatedAt, EABKid: a.EABKid, EABOwner: eabOwner, Attributes: attrs}
}

// deactivateEvent is account id's own deactivation (RFC 8555 §7.3.6).
// Before and after are the whole account (accountRecord, as the admin API
// and the CLI record it), made from the row the deactivating transaction
// reads (store.UpdateAccount's Replaced hook, row locked on PostgreSQL),
// not from the caller's copy of the account, which on a cluster can be
// another node's older cached one. contact, when not nil, is what the
// same request sets the contacts to; nil keeps the stored ones. eabOwner
// is the Owner of the account's EAB key ("" for none).
func deactivateEvent(id string, contact []string, eabOwner string) audit.Event {
	return audit.Event{Actor: audit.ACMEAccountActor(id), Action: audit.ActionAccountDeactivate, ObjectType: audit.ObjectAccount,
		ObjectID: id,
		Replaced: audit.ReplacedRow(func(o *store.Account) (before, after any) {
			return newAccountRecord(o, o.Status, nil, eabOwner), newAccountRecord(o, acme.StatusDeactivated, contact, eabOwner)
		})}
}

// keyChangeEvent is account a's rollover to the key with thumbprint newTP
// (RFC 8555 §7.3.5). The change is conditional on a's current thumbprint,
// so before is the row the change replaced.
func keyChangeEvent(a *store.Account, newTP string) audit.Event {
	return audit.Event{Actor: audit.ACMEAccountActor(a.ID), Action: audit.ActionAccountKeyChange, ObjectType: audit.ObjectAccount,
		ObjectID: a.ID, Before: map[string]string{"key_thumbprint": a.KeyThumbprint}, After: map[string]string{"key_thumbprint": newTP}}
}

// revoke marks rec revoked with reason, audited as done by actor in the
// same transaction, drops the cached CRL and calls OnRevoke (OCSP). For
// keyCompromise it returns the serials (lower-case hex, sorted) of the
// key's other certificates of this CA the same transaction revoked or,
// revoked before for another reason, changed to keyCompromise (OnRevoke is
// called for each), and the inventory keys (sorted) of the valid
// certificates of other CAs with the key (those issued through an upstream
// CA included), left as they are (logged at WARN).
// A certificate issued through an upstream CA is revoked there first (its
// reason raised to keyCompromise too), and recorded only when the
// upstream accepted; an *IssuerNotConfiguredError when this server does
// not have that upstream, and nothing is recorded.
// store.ErrStale when it is already revoked.
func (r *RA) revoke(ctx context.Context, rec *store.Certificate, reason int, actor string) (revokedWith, otherCAs []string, err error) {
	// What the store would change (a valid certificate, or one revoked
	// for another reason raised to keyCompromise) goes to the upstream
	// first; anything else is already revoked (store.ErrStale).
	var rv issuer.Revoker
	if rec.Status != acme.StatusRevoked || reason == acme.ReasonKeyCompromise && rec.RevocationReason != acme.ReasonKeyCompromise {
		var err error
		if rv, err = r.upstreamRevoker(rec); err != nil {
			return nil, nil, err
		}
	}
	now := r.now()
	after := *rec
	after.Status, after.RevokedAt, after.RevocationReason = "revoked", now, reason
	if rec.Status == acme.StatusRevoked { // keyCompromise after another reason: the time stays (store.RevokeCertificate)
		after.RevokedAt = rec.RevokedAt
	}
	// A keyCompromise revocation also revokes the key's other
	// certificates (store.RevokeCertificate); each one's event comes from
	// Cascade, which also collects their serials for OnRevoke (a
	// transaction run again collects some twice: harmless).
	var others []string
	ev, err := r.auditEvent(ctx, audit.Event{Actor: actor, Action: audit.ActionCertificateRevoke, ObjectType: audit.ObjectCertificate,
		ObjectID: rec.Serial, Before: audit.CertificateOf(rec), After: audit.CertificateOf(&after),
		Cascade: func(old any) (*audit.Event, error) {
			c, ok := old.(*store.Certificate)
			if !ok {
				return nil, fmt.Errorf("cascaded row is a %T, want a *store.Certificate", old)
			}
			others = append(others, c.Serial)
			ev := cascadeRevokeEvent(actor, c, now)
			return &ev, nil
		}})
	if err != nil {
		return nil, nil, fmt.Errorf("audit event: %w", err)
	}
	if ev == nil && reason == acme.ReasonKeyCompromise {
		// No audit log: an append without Seal records nothing but still
		// learns the other certificates revoked, for OnRevoke (OCSP).
		ev = []*store.AuditAppend{{HooksOnly: true, Cascade: func(old any) (*store.AuditAppend, error) {
			if c, ok := old.(*store.Certificate); ok {
				others = append(others, c.Serial)
			}
			return nil, nil
		}}}
	}
	if rv != nil {
		// Issued by a CA elsewhere: revoked there first, recorded only
		// when it was (a refusal is the caller's problem). So is a
		// revocation for another reason raised to keyCompromise: the
		// upstream is asked again with that reason.
		if err := rv.Revoke(ctx, rec.DER, reason); err != nil {
			return nil, nil, err
		}
		r.log.InfoContext(ctx, "revocation forwarded to the upstream CA", "issuer", rec.Issuer, "serial", rec.Serial, "reason", reason)
	}
	scope := r.caScope()
	var elsewhere []string
	if reason == acme.ReasonKeyCompromise {
		scope.Others = func(serial string) { elsewhere = append(elsewhere, serial) }
	}
	if err := r.store.RevokeCertificateOf(ctx, rec.Serial, reason, now, scope, ev...); err != nil {
		return nil, nil, err
	}
	if len(elsewhere) > 0 {
		slices.Sort(elsewhere)
		elsewhere = slices.Compact(elsewhere)
		r.log.WarnContext(ctx, "certificates of other CAs in the inventory have the compromised key and stay valid: revoke them with their CA",
			"serial", rec.Serial, "others", elsewhere)
	}
	slices.Sort(others)
	others = slices.Compact(others)
	r.crlMu.Lock()
	r.crlCache = nil
	r.crlMu.Unlock()
	if r.cfg.OnRevoke != nil {
		r.cfg.OnRevoke(rec.Serial)
		for _, s := range others {
			r.cfg.OnRevoke(s)
		}
	}
	if len(others) > 0 {
		r.log.InfoContext(ctx, "certificates of the compromised key revoked", "serial", rec.Serial, "others", others)
	}
	r.cfg.Metrics.CertificateRevoked(reason)
	r.log.InfoContext(ctx, "certificate revoked", "serial", rec.Serial, "reason", reason, "by", actor)
	return others, elsewhere, nil
}

// caScope names the certificates of this server's CA: those its built-in
// issuer issued (stored under its name) and those that entered the
// inventory by import (stored under the subject of one of its
// intermediates, current or retired, and signed by its key): a
// keyCompromise revocation revokes those with the key too
// (store.RevokeCertificateOf), not those issued through an upstream CA.
// No imported ones for an issuer without a CA certificate of its own (no
// CRL).
func (r *RA) caScope() store.CAScope {
	scope := store.ScopeOf(r.caCertificates()...)
	if r.issuer != nil {
		scope.Issuer = r.issuer.Name()
	}
	return scope
}

// IssuerNotConfiguredError is the error of a revocation of a certificate
// issued through an upstream CA (source issued, stored under an issuer
// name other than the built-in CA's) that this server does not have
// configured (its issuers-file lacks it: a server started without the
// file, an upstream removed from it, a cluster node missing it): the
// revocation cannot reach the upstream, so nothing is recorded
// (docs/issuers.md). The admin API answers it 503, ACME serverInternal.
type IssuerNotConfiguredError struct {
	// Serial is the certificate's inventory key.
	Serial string
	// Issuer is the upstream's name, as the certificate is stored.
	Issuer string
}

// Error says what was refused and what to do, in one line.
func (e *IssuerNotConfiguredError) Error() string {
	return fmt.Sprintf("certificate %s was issued by upstream CA %s, which this server does not have configured (issuers-file): "+
		"the revocation cannot reach the upstream and is not recorded; revoke it on a server with that issuer configured", e.Serial, e.Issuer)
}

// upstreamRevoker returns the issuer that revokes rec at the CA elsewhere
// that issued it (issuer.Revoker), or nil for a certificate of the
// built-in CA or another CA's imported or discovered one. A certificate
// issued through an upstream this server does not have configured, or
// whose connector cannot revoke, is an *IssuerNotConfiguredError.
func (r *RA) upstreamRevoker(rec *store.Certificate) (issuer.Revoker, error) {
	if !IssuedHere(rec) || rec.Issuer == issuer.LocalName || r.issuer != nil && rec.Issuer == r.issuer.Name() {
		return nil, nil
	}
	if rv, ok := r.issuers[rec.Issuer].(issuer.Revoker); ok {
		return rv, nil
	}
	return nil, &IssuerNotConfiguredError{Serial: rec.Serial, Issuer: rec.Issuer}
}

// caCertificates are the certificates of this server's CA: the issuer's
// CRL issuer (the intermediate of the built-in CA that signs now) and
// those of Config.RetiredCRLSigners and Config.PrunedIntermediates (its
// intermediates before a rotation, revoked or pruned or not: they are
// still this CA's); none for an issuer that signs no CRL.
func (r *RA) caCertificates() []*x509.Certificate {
	signer, ok := r.issuer.(issuer.CRLSigner)
	if !ok {
		return nil
	}
	out := []*x509.Certificate{signer.CRLIssuer()}
	for _, s := range r.cfg.RetiredCRLSigners {
		out = append(out, s.CRLIssuer())
	}
	return append(out, r.cfg.PrunedIntermediates...)
}

// cascadeRevokeEvent is the audit event of the revocation of c for
// keyCompromise at at, made by a keyCompromise revocation of another
// certificate with its key that actor made (store.RevokeCertificate), or
// by FinishOrder when c's key was blocked while c was signed. When c was
// revoked before for another reason, only its reason changes (to
// keyCompromise, CA/B Forum BR §7.2.2); its revocation time stays.
func cascadeRevokeEvent(actor string, c *store.Certificate, at time.Time) audit.Event {
	after := *c
	after.Status, after.RevokedAt, after.RevocationReason = store.StatusRevoked, at, acme.ReasonKeyCompromise
	if c.Status == store.StatusRevoked {
		after.RevokedAt = c.RevokedAt
	}
	return audit.Event{Actor: actor, Action: audit.ActionCertificateRevoke, ObjectType: audit.ObjectCertificate,
		ObjectID: c.Serial, Before: audit.CertificateOf(c), After: audit.CertificateOf(&after)}
}

// Errors of RevokeSerial.
var (
	// ErrUnknownCertificate: no certificate has that serial.
	ErrUnknownCertificate = errors.New("no certificate with that serial")
	// ErrAlreadyRevoked: the certificate is already revoked.
	ErrAlreadyRevoked = errors.New("the certificate is already revoked")
	// ErrBadReason: the reason code is not one RFC 5280 §5.3.1 allows here.
	ErrBadReason = errors.New("revocation reason not accepted: use " + acme.AllowedRevocationReasons + " (RFC 5280 §5.3.1)")
)

// Revocation is the outcome of RevokeSerial.
type Revocation struct {
	// Certificate is the certificate as revoked.
	Certificate *store.Certificate
	// RevokedWith, for keyCompromise: the serials (lower-case hex, sorted)
	// of the key's other certificates of this CA revoked with it or,
	// revoked before for another reason, changed to keyCompromise (CA/B
	// Forum BR §4.9.1.1).
	RevokedWith []string
	// OtherCAs, for keyCompromise: the inventory keys (sorted) of the
	// valid, unexpired certificates of other CAs (imported or discovered,
	// or issued through an upstream CA) with the key, which stay as they
	// are: only their CA can revoke them (one issued through an upstream
	// is revoked there by revoking it here, RevokeSerial).
	OtherCAs []string
	// InventoryOnly: the certificate is another CA's (imported or
	// discovered, and not signed by this server's CA), so the revocation
	// is recorded in the inventory only: that CA's CRL and OCSP still say
	// it is valid, and only that CA can revoke it.
	InventoryOnly bool
}

// RevokeSerial revokes the certificate with serial (lower-case hex) for an
// administrator (actor, e.g. "token:ops"), with an RFC 5280 §5.3.1 reason
// code, audited in the same transaction. A certificate revoked for another
// reason can be revoked again for keyCompromise (store.RevokeCertificate).
// A certificate issued through an upstream CA is revoked there first
// (revoke). Errors: ErrUnknownCertificate, ErrAlreadyRevoked, ErrBadReason,
// the upstream's *acme.Problem, an *IssuerNotConfiguredError, or a
// storage error.
func (r *RA) RevokeSerial(ctx context.Context, serial string, reason int, actor string) (*Revocation, error) {
	if !acme.RevocationReasonAllowed(reason) {
		return nil, ErrBadReason
	}
	rec, err := r.store.GetCertificate(ctx, serial)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownCertificate
	}
	if err != nil {
		return nil, fmt.Errorf("certificate lookup: %w", err)
	}
	if rec.Status == acme.StatusRevoked && (reason != acme.ReasonKeyCompromise || rec.RevocationReason == acme.ReasonKeyCompromise) {
		return nil, ErrAlreadyRevoked
	}
	with, elsewhere, err := r.revoke(ctx, rec, reason, actor)
	if err != nil {
		if errors.Is(err, store.ErrStale) {
			return nil, ErrAlreadyRevoked
		}
		return nil, fmt.Errorf("revocation: %w", err)
	}
	c, err := r.store.GetCertificate(ctx, serial)
	if err != nil {
		return nil, err
	}
	return &Revocation{Certificate: c, RevokedWith: with, OtherCAs: elsewhere, InventoryOnly: r.anotherCAs(c)}, nil
}

// anotherCAs reports whether c is another CA's certificate: one that
// entered the inventory by import or discovery and that no intermediate of
// this server's CA signed, neither the current one nor a retired one
// (every such one when the issuer has no CA certificate).
func (r *RA) anotherCAs(c *store.Certificate) bool {
	if c.Source == "" || c.Source == store.SourceIssued || c.Source == store.SourceListener {
		return false
	}
	scope := r.caScope()
	return scope.Signed == nil || !scope.Signed(c.DER)
}
