// Package inventory is certgate's certificate inventory: every certificate
// known to it — issued by one of its issuers, imported from files, or
// discovered on the network (internal/discovery) — searchable by name, serial,
// fingerprint, issuer, profile, status, custom attribute and expiry, with
// keyset pagination, reports, import and revocation. The CLI (`certgate
// cert`, `certgate report`) and the admin API call the same Service.
// docs/inventory.md describes the model.
package inventory

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
)

// Errors returned (wrapped) by Service methods.
var (
	// ErrNotFound: no certificate has that serial or fingerprint.
	ErrNotFound = errors.New("inventory: certificate not found")
	// ErrInvalid: a query parameter, cursor or revocation reason is malformed.
	ErrInvalid = errors.New("inventory: invalid request")
	// ErrAlreadyRevoked: the certificate is revoked already.
	ErrAlreadyRevoked = errors.New("inventory: certificate already revoked")
)

// Store is what the inventory needs from storage; *store.Store has it.
type Store interface {
	// SearchCertificates returns at most q.Limit certificates matching q,
	// after the cursor q.After, in q.Sort order. Errors: a database error,
	// or one describing an invalid query.
	SearchCertificates(ctx context.Context, q store.CertQuery) ([]*store.Certificate, error)
	// GetCertificate returns the certificate stored under serial (lower-
	// case hex); store.ErrNotFound when none.
	GetCertificate(ctx context.Context, serial string) (*store.Certificate, error)
	// GetCertificateByFingerprint returns the certificate whose DER has
	// SHA-256 fingerprint fp (64 lower-case hex digits); store.ErrNotFound
	// when none.
	GetCertificateByFingerprint(ctx context.Context, fp string) (*store.Certificate, error)
	// InsertCertificates stores imported or discovered certificates and
	// appends events (nil ones skipped) in one transaction, all or none;
	// store.ErrConflict wraps a duplicate serial or fingerprint.
	InsertCertificates(ctx context.Context, certs []*store.Certificate, events ...*store.AuditAppend) error
	// RevokeCertificateOf revokes the certificate with serial with RFC
	// 5280 reason code reason at at, within the CA scope (for
	// keyCompromise, also the key's other certificates in scope),
	// appending events in the same transaction; store.ErrStale when it is
	// not valid.
	RevokeCertificateOf(ctx context.Context, serial string, reason int, at time.Time, scope store.CAScope, events ...*store.AuditAppend) error
	// CountCertificatesBy returns one page of at most limit groups of the
	// certificates whose NotBefore is in [from, to), by UTC day, profile
	// or issuer, with keys after after ("" for the first page); more
	// reports whether groups follow.
	CountCertificatesBy(ctx context.Context, by string, from, to time.Time, after string, limit int) ([]store.CountRow, bool, error)
	// SyncIfRecent makes sure the record of a certificate created at
	// created is durable (on SQLite, an fsync of the WAL for one created
	// within the last minute) before the caller hands the certificate out.
	SyncIfRecent(ctx context.Context, created time.Time) error
	// ProfileKnown reports whether name is a profile a filter may name:
	// the default, a stored profile, or one recorded on some certificate.
	// Errors are the database's.
	ProfileKnown(ctx context.Context, name string) (bool, error)
}

// Service answers inventory queries over a Store. Safe for concurrent use.
type Service struct {
	st  Store
	now func() time.Time
	// audit and actor record revocations and imports (see WithAudit);
	// nil: none.
	audit Auditor
	actor string
	// ca names the imported certificates of this server's CA that a
	// keyCompromise revocation revokes with the key's issued ones (see
	// WithCA); zero: none.
	ca store.CAScope
}

// Auditor turns an audit event into an append recorded in the same
// transaction as the change (Prepare); *audit.Log implements it.
type Auditor interface {
	// Prepare turns ev into an append for the store method that makes the
	// change; errors: audit.ErrUnknownAction, an unencodable Before/After,
	// a snapshot over 64 KiB.
	Prepare(ctx context.Context, ev audit.Event) (*store.AuditAppend, error)
}

// WithAudit returns a copy of s that records each revocation
// (certificate.revoke) and each imported certificate (certificate.import)
// in the audit log as done by actor (e.g. audit.CLIActor(user)), in the
// same transaction as the change.
func (s *Service) WithAudit(a Auditor, actor string) *Service {
	c := *s
	c.audit, c.actor = a, actor
	return &c
}

// WithCA returns a copy of s whose keyCompromise revocations (Revoke)
// also revoke the key's certificates that one of cas (the built-in CA's
// intermediates: the one that signs now and the retired ones) signed and
// that entered the inventory by import, as the server's do
// (store.RevokeCertificateOf, store.ScopeOf). Without it only the key's
// certificates of source issued are revoked with the one named.
func (s *Service) WithCA(cas ...*x509.Certificate) *Service {
	c := *s
	c.ca = store.ScopeOf(cas...)
	return &c
}

// New returns a Service over st; now is the clock (time.Now when nil).
func New(st Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, now: now}
}

// Certificate is the inventory's view of one certificate (JSON field names
// are those of the CLI's --format json and of the admin API).
type Certificate struct {
	Serial             string            `json:"serial"`                                            // lower-case hex
	Issuer             string            `json:"issuer"`                                            // issuer name, or issuer DN for imported certificates
	Profile            string            `json:"profile"`                                           // profile name; "" when none is recorded
	Source             string            `json:"source" enum:"issued,imported,discovered,listener"` // how it entered the inventory
	Status             string            `json:"status" enum:"valid,revoked,expired"`               // judged when read
	Names              []string          `json:"names"`                                             // subject alternative names
	KeyType            string            `json:"key_type"`                                          // e.g. "ECDSA P-256", "RSA 2048" (KeyInfo)
	KeyBits            int               `json:"key_bits"`                                          // key size in bits
	KeyROCA            bool              `json:"key_roca,omitempty"`                                // RSA key with the ROCA fingerprint (CVE-2017-15361)
	SignatureAlgorithm string            `json:"signature_algorithm"`                               // as crypto/x509 names it, e.g. "ECDSA-SHA256"
	FingerprintSHA256  string            `json:"fingerprint_sha256"`                                // lower-case hex of the DER
	NotBefore          time.Time         `json:"not_before"`                                        // UTC
	NotAfter           time.Time         `json:"not_after"`                                         // UTC
	RevokedAt          *time.Time        `json:"revoked_at,omitempty"`                              // nil while not revoked
	RevocationReason   string            `json:"revocation_reason,omitempty"`                       // RFC 5280 §5.3.1 name
	AccountID          string            `json:"account_id,omitempty"`                              // ACME account; "" when not issued here
	OrderID            string            `json:"order_id,omitempty"`                                // ACME order; "" when not issued here
	Replaces           string            `json:"replaces,omitempty"`                                // serial of the certificate this one replaced
	ReplacedBy         string            `json:"replaced_by,omitempty"`                             // ID of the order that replaces it (RFC 9773)
	Attributes         map[string]string `json:"attributes"`                                        // custom attributes, name to value
	CreatedAt          time.Time         `json:"created_at"`                                        // when the record was written
	// RenewalWindow is filled in by the one-certificate views only
	// (`certgate cert show`, GET /api/v1/certificates/{ref}; not lists):
	// ra.CertificateRenewal.
	RenewalWindow *RenewalSuggestion `json:"renewal_window,omitempty" doc:"the renewal window renewalInfo (ACME Renewal Information, RFC 9773) suggests now, for a certificate issued here; absent for imported and discovered certificates, and in lists"`
}

// RenewalSuggestion is the suggested renewal window of a certificate issued
// here, as renewalInfo serves it (RFC 9773 §4.2), and where it comes from.
type RenewalSuggestion struct {
	Start  time.Time `json:"start" doc:"renew from (UTC)"`
	End    time.Time `json:"end" doc:"renew by (UTC)"`
	Source string    `json:"source" enum:"suggest-renewal,profile,default,revoked,intermediate-revoked" doc:"suggest-renewal: set by certgate cert suggest-renewal; profile: the profile's renewalWindow; default: the server's (from 2/3 to 5/6 of the lifetime); revoked: renew at once; intermediate-revoked: the intermediate that signed it was revoked (certgate ca revoke-intermediate), renew at once"`
}

// view converts a stored record, judging its status at now.
func view(c *store.Certificate, now time.Time) Certificate {
	v := Certificate{Serial: c.Serial, Issuer: c.Issuer, Profile: c.Profile, Source: c.Source, Status: c.Status,
		Names: c.SANs, KeyType: c.KeyType, KeyBits: c.KeyBits, KeyROCA: c.KeyROCA, SignatureAlgorithm: c.SignatureAlgorithm,
		FingerprintSHA256: c.FingerprintSHA256, NotBefore: c.NotBefore, NotAfter: c.NotAfter, AccountID: c.AccountID,
		OrderID: c.OrderID, Replaces: c.Replaces, ReplacedBy: c.ReplacedBy, Attributes: c.Attributes, CreatedAt: c.CreatedAt}
	if v.Names == nil {
		v.Names = []string{}
	}
	if v.Attributes == nil {
		v.Attributes = map[string]string{}
	}
	if c.Status == store.StatusRevoked {
		at := c.RevokedAt
		v.RevokedAt = &at
		v.RevocationReason = acme.RevocationReasonName(c.RevocationReason)
	} else if !now.Before(c.NotAfter) {
		v.Status = store.StatusExpired
	}
	return v
}

// Query selects and pages certificates. Empty fields do not filter.
type Query struct {
	Name        string            // exact SAN, case-insensitive
	Suffix      string            // a domain: "example.com" selects it and the SANs under it, ".example.com" and "*.example.com" only the SANs under it
	Serial      string            // hex, colons and leading zeros allowed; or an imported certificate's SERIAL-FINGERPRINT16 key (that one alone)
	Fingerprint string            // SHA-256 hex, colons allowed
	Issuer      string            // issuer name ("local") or issuer DN of imported certificates
	Profile     string            // profile name
	Source      string            // issued | imported | discovered
	Status      string            // valid | revoked | expired
	Attributes  map[string]string // custom attributes, each key=value required
	// ExpiringWithin selects valid certificates whose NotAfter is within
	// this duration from now (0: no expiry filter).
	ExpiringWithin time.Duration
	// NotRenewed leaves out certificates whose ARI replacement (RFC 9773
	// "replaces") has been issued and is not revoked, and discovered
	// certificates superseded at their endpoint by one not revoked
	// (store.CertQuery.NotReplaced): they need no renewal (the expiring
	// report sets it).
	NotRenewed bool
	// Weak selects RSA keys under 2048 bits or with the ROCA fingerprint
	// (CVE-2017-15361), and SHA-1/MD5 signatures.
	Weak bool
	// Sort is "not_after" (default: soonest expiry first, ties by serial),
	// "-not_after" (latest first) or "serial".
	Sort string
	// Limit is the page size, 1..1000 (default 100).
	Limit int
	// Cursor is the NextCursor of the previous page ("" for the first).
	Cursor string
}

// Page is one page of results; NextCursor is "" on the last page.
type Page struct {
	Items      []Certificate `json:"items"`                 // the certificates of the page
	NextCursor string        `json:"next_cursor,omitempty"` // the Cursor of the next page; "" on the last
}

// DefaultLimit is the page size when Query.Limit is 0.
const DefaultLimit = 100

// cursor is the opaque pagination token: the sort order and the sort key of
// the last row returned, base64url-encoded JSON.
type cursor struct {
	Sort     string `json:"o"`
	NotAfter int64  `json:"n"`
	Serial   string `json:"s"`
}

func encodeCursor(sort string, c *store.Certificate) string {
	b, _ := json.Marshal(cursor{Sort: sort, NotAfter: c.NotAfter.UnixNano(), Serial: c.Serial})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, sort string) (*store.CertKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Serial == "" || !store.PlainText(c.Serial) {
		// A serial with a NUL (a "\u0000" escape) is no row's:
		// PostgreSQL's text type refuses it (a 500).
		return nil, invalid("cursor", s, "malformed cursor")
	}
	if c.Sort != sort {
		return nil, invalid("cursor", s, "the cursor belongs to a listing sorted by %q, not %q", c.Sort, sort)
	}
	return &store.CertKey{NotAfter: time.Unix(0, c.NotAfter).UTC(), Serial: c.Serial}, nil
}

// storeQuery validates q and translates it for the store (without paging).
// The error names every bad parameter: the *InvalidError of each, joined
// (errors.Join; InvalidErrors lists them).
func storeQuery(q Query, now time.Time) (store.CertQuery, error) {
	var errs []error
	sq := store.CertQuery{Issuer: q.Issuer, Profile: q.Profile, Source: q.Source, Weak: q.Weak, NotReplaced: q.NotRenewed, Now: now, Attributes: q.Attributes}
	if q.Name != "" {
		name, err := NormalizeName(q.Name)
		errs = append(errs, err)
		sq.Name = name
	}
	if q.Suffix != "" {
		sfx, apex, err := NormalizeSuffix(q.Suffix)
		errs = append(errs, err)
		sq.Suffix, sq.SuffixApex = sfx, apex
	}
	if q.Serial != "" {
		// A serial, or the SERIAL-FINGERPRINT16 key an imported
		// certificate is listed under (it was "not hexadecimal"): the
		// store matches the key exactly, a serial with its keys.
		serial, err := NormalizeSerialOrKey(q.Serial)
		errs = append(errs, err)
		sq.Serial = serial
	}
	if q.Fingerprint != "" {
		fp, err := NormalizeFingerprint(q.Fingerprint)
		errs = append(errs, err)
		sq.Fingerprint = fp
	}
	switch q.Source {
	case "", store.SourceIssued, store.SourceImported, store.SourceDiscovered, store.SourceListener:
	default:
		errs = append(errs, invalid("source", q.Source, "source %q (issued, imported, discovered or listener)", q.Source))
	}
	switch q.Status {
	case "", store.StatusValid, store.StatusRevoked, store.StatusExpired:
		sq.Status = q.Status
	default:
		errs = append(errs, invalid("status", q.Status, "status %q (valid, revoked or expired)", q.Status))
	}
	if q.ExpiringWithin < 0 {
		errs = append(errs, invalid("expiring_within", q.ExpiringWithin.String(), "negative expiry window"))
	}
	if q.ExpiringWithin > 0 {
		if sq.Status != "" && sq.Status != store.StatusValid {
			errs = append(errs, invalid("status", sq.Status, "an expiry window selects valid certificates, not %s ones", sq.Status))
		}
		sq.Status = store.StatusValid
		sq.NotAfterFrom, sq.NotAfterTo = now, now.Add(q.ExpiringWithin)
	}
	switch q.Sort {
	case "":
		sq.Sort = store.SortNotAfter
	case store.SortNotAfter, store.SortNotAfterDesc, store.SortSerial:
		sq.Sort = q.Sort
	default:
		errs = append(errs, invalid("sort", q.Sort, "sort %q (not_after, -not_after or serial)", q.Sort))
	}
	for k := range q.Attributes {
		if k == "" {
			errs = append(errs, invalid("attr", "="+q.Attributes[k], "empty attribute key"))
		}
	}
	return sq, errors.Join(errs...)
}

// pageQuery validates q for one page (storeQuery, then Limit, 0 meaning
// DefaultLimit, Cursor, and Profile, which must be one ProfileKnown
// knows: a typo is an error, not an empty page) and translates it for the
// store, returning the page size. Its error names every bad parameter
// (the joined *InvalidError of each), or is the profile lookup's.
func (s *Service) pageQuery(ctx context.Context, q Query, now time.Time) (store.CertQuery, int, error) {
	sq, limit, err := pageParams(q, now)
	errs := []error{err}
	if q.Profile != "" {
		known, err := s.st.ProfileKnown(ctx, q.Profile)
		if err != nil {
			return sq, limit, err
		}
		if !known {
			errs = append(errs, invalid("profile", q.Profile, "no profile %q is defined and no certificate names it (profile names are case-sensitive; `certgate profile list` lists them)", q.Profile))
		}
	}
	return sq, limit, errors.Join(errs...)
}

// pageParams is pageQuery without the profile's lookup: what needs no
// database.
func pageParams(q Query, now time.Time) (store.CertQuery, int, error) {
	sq, err := storeQuery(q, now)
	errs := []error{err}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > 1000 {
		errs = append(errs, invalid("limit", q.Limit, "limit %d (1 to 1000)", q.Limit))
	}
	if q.Cursor != "" {
		after, err := decodeCursor(q.Cursor, sq.Sort)
		errs = append(errs, err)
		sq.After = after
	}
	return sq, limit, errors.Join(errs...)
}

// ValidateQuery checks the parameters of q that need no database (all but
// Profile's existence, which Check also looks up): nil, or the joined
// *InvalidError of each bad one (ErrInvalid). The CLI names them even
// where it cannot open the inventory.
func ValidateQuery(q Query) error {
	_, _, err := pageParams(q, time.Now().UTC())
	return err
}

// Check validates q as List does, without listing: nil, the joined
// *InvalidError of each bad parameter, or the profile lookup's error. A
// caller that refuses other parameters of its own first (the admin API's
// attr, expiring_within, within) joins them with this one (JoinInvalid)
// to name every bad parameter at once.
func (s *Service) Check(ctx context.Context, q Query) error {
	_, _, err := s.pageQuery(ctx, q, s.now().UTC())
	return err
}

// JoinInvalid joins the ErrInvalid errors first and then (errors.Join);
// when then is another error (a storage error), it is then alone.
func JoinInvalid(first, then error) error {
	if then != nil && !errors.Is(then, ErrInvalid) {
		return then
	}
	return errors.Join(first, then)
}

// InvalidErrors returns the *InvalidError of each bad parameter err names
// (one, or several joined by errors.Join), in order; none when err has
// none.
func InvalidErrors(err error) []*InvalidError {
	if ie, ok := err.(*InvalidError); ok {
		return []*InvalidError{ie}
	}
	var out []*InvalidError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			out = append(out, InvalidErrors(inner)...)
		}
	case interface{ Unwrap() error }:
		out = InvalidErrors(e.Unwrap())
	}
	return out
}

// List returns one page of the certificates matching q, sorted and keyset-
// paginated. Errors: ErrInvalid (wrapped) for a bad parameter or cursor,
// or a storage error.
func (s *Service) List(ctx context.Context, q Query) (*Page, error) {
	now := s.now().UTC()
	sq, limit, err := s.pageQuery(ctx, q, now)
	if err != nil {
		return nil, err
	}
	sq.Limit = limit + 1 // one more tells whether another page exists
	rows, err := s.st.SearchCertificates(ctx, sq)
	if err != nil {
		return nil, fmt.Errorf("list certificates: %w", err)
	}
	p := &Page{Items: make([]Certificate, 0, min(len(rows), limit))}
	for i, c := range rows {
		if i == limit {
			p.NextCursor = encodeCursor(sq.Sort, rows[i-1])
			break
		}
		p.Items = append(p.Items, view(c, now))
	}
	return p, nil
}

// Get returns the certificate named by ref: a serial (hex, colons allowed),
// the key of an imported certificate whose serial was taken
// ("SERIAL-FINGERPRINT16", see Import) or a SHA-256 fingerprint (64 hex
// digits). ErrNotFound when none matches; ErrInvalid for a ref that is none
// of these, or holds white space or a control character (CheckRef).
func (s *Service) Get(ctx context.Context, ref string) (*Certificate, error) {
	c, err := s.record(ctx, ref)
	if err != nil {
		return nil, err
	}
	v := view(c, s.now().UTC())
	return &v, nil
}

// record looks up the stored record named by ref (see Get).
func (s *Service) record(ctx context.Context, ref string) (*store.Certificate, error) {
	if err := CheckRef(ref); err != nil {
		return nil, err
	}
	var c *store.Certificate
	var err error
	if fp, ferr := NormalizeFingerprint(ref); ferr == nil {
		c, err = s.st.GetCertificateByFingerprint(ctx, fp)
	} else if serial, fp16, ok := strings.Cut(strings.ToLower(ref), "-"); ok {
		// An imported certificate keyed SERIAL-FINGERPRINT16 (see Import).
		if serial, err = NormalizeSerial(serial); err != nil {
			return nil, err
		}
		c, err = s.st.GetCertificate(ctx, serial+"-"+fp16)
	} else {
		serial, serr := NormalizeSerial(ref)
		if serr != nil {
			return nil, serr
		}
		c, err = s.st.GetCertificate(ctx, serial)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("get certificate: %w", err)
	}
	return c, nil
}

// PEM returns the certificate named by ref (see Get) PEM-encoded; with
// chain, followed by the intermediates it was stored with (the stored
// chain), else the leaf alone.
func (s *Service) PEM(ctx context.Context, ref string, chain bool) ([]byte, error) {
	c, err := s.record(ctx, ref)
	if err != nil {
		return nil, err
	}
	// The record of a certificate issued a moment ago may not be on disk
	// yet (store.FinishOrder); it is before the certificate leaves.
	if err := s.st.SyncIfRecent(ctx, c.CreatedAt); err != nil {
		return nil, fmt.Errorf("get certificate: %w", err)
	}
	if chain && c.ChainPEM != "" {
		return []byte(c.ChainPEM), nil
	}
	return encodePEM(c.DER), nil
}

// Revoke marks the certificate named by ref revoked with an RFC 5280
// §5.3.1 reason code, through the same store method as ACME revocation;
// the CRL (and OCSP) of its issuer reflect it within their refresh
// interval. A certificate revoked for another reason can be revoked again
// for keyCompromise, which keeps its revocation time and blocks its key;
// keyCompromise also revokes the key's other unexpired certificates
// the built-in CA issued (and, with WithCA, the imported ones of this CA;
// not those issued through an upstream CA, which it names in OtherCAs), and changes the reason of those revoked before for another
// reason to keyCompromise (their time stays; CA/B Forum BR §7.2.2), each
// with its own audit event (store.RevokeCertificate).
// With an audit log (WithAudit), the returned Revocation also lists the
// serials of those other certificates. ErrNotFound, ErrAlreadyRevoked, or ErrInvalid
// for a reason code outside acme.AllowedRevocationReasons (the policy of
// ACME and the admin API).
func (s *Service) Revoke(ctx context.Context, ref string, reason int) (*Revocation, error) {
	if !acme.RevocationReasonAllowed(reason) {
		return nil, invalid("reason", reason, "revocation reason %d is not accepted; use %s (RFC 5280 §5.3.1)", reason, acme.AllowedRevocationReasons)
	}
	c, err := s.record(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var events []*store.AuditAppend
	// others collects the serials the Cascade hook is called for. The store
	// calls the Replaced hook first in every run of the transaction, so
	// resetting there keeps only the run that committed.
	var others []string
	if s.audit != nil {
		ev, err := s.audit.Prepare(ctx, audit.Event{Actor: s.actor, Action: audit.ActionCertificateRevoke,
			ObjectType: audit.ObjectCertificate, ObjectID: c.Serial,
			Replaced: audit.ReplacedRow(func(old *store.Certificate) (any, any) {
				others = others[:0]
				after := *old
				after.Status, after.RevokedAt, after.RevocationReason = store.StatusRevoked, now, reason
				if old.Status == store.StatusRevoked { // keyCompromise after another reason: the time stays
					after.RevokedAt = old.RevokedAt
				}
				return audit.CertificateOf(old), audit.CertificateOf(&after) // as the RA's revocations
			}),
			// keyCompromise: the event of each other certificate of the key
			// that the revocation revokes with it (store.RevokeCertificate).
			Cascade: func(old any) (*audit.Event, error) {
				o, ok := old.(*store.Certificate)
				if !ok {
					return nil, fmt.Errorf("cascaded row is a %T, want a *store.Certificate", old)
				}
				others = append(others, o.Serial)
				after := *o
				after.Status, after.RevokedAt, after.RevocationReason = store.StatusRevoked, now, acme.ReasonKeyCompromise
				if o.Status == store.StatusRevoked { // revoked before for another reason: the time stays
					after.RevokedAt = o.RevokedAt
				}
				return &audit.Event{Actor: s.actor, Action: audit.ActionCertificateRevoke, ObjectType: audit.ObjectCertificate,
					ObjectID: o.Serial, Before: audit.CertificateOf(o), After: audit.CertificateOf(&after)}, nil
			}})
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	scope := s.ca
	var elsewhere []string
	scope.Others = func(serial string) { elsewhere = append(elsewhere, serial) }
	if err := s.st.RevokeCertificateOf(ctx, c.Serial, reason, now, scope, events...); err != nil {
		if errors.Is(err, store.ErrStale) {
			return nil, fmt.Errorf("%w: %s", ErrAlreadyRevoked, c.Serial)
		}
		return nil, fmt.Errorf("revoke certificate: %w", err)
	}
	if c.Status != store.StatusRevoked {
		c.RevokedAt = now
	}
	c.Status, c.RevocationReason = store.StatusRevoked, reason
	slices.Sort(others)
	slices.Sort(elsewhere)
	return &Revocation{Certificate: view(c, now), RevokedWith: slices.Compact(others), OtherCAs: slices.Compact(elsewhere)}, nil
}

// Revocation is the result of Revoke: the certificate as revoked, and
// for keyCompromise the serials (lower-case hex, sorted) of the other
// certificates with its key that the same transaction revoked.
type Revocation struct {
	Certificate
	RevokedWith []string // serials (lower-case hex, sorted) revoked with it for keyCompromise
	// OtherCAs, for keyCompromise: the inventory keys (sorted) of the
	// valid, unexpired certificates of other CAs (imported or discovered,
	// or issued through an upstream CA) with the key, which the revocation
	// leaves as they are: only their CA can revoke them.
	OtherCAs []string
}
