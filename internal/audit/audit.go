// Package audit is certgate's append-only, hash-chained audit log. Every
// event records who (actor) did what (action) to which object, when, from
// which address, and the object before and after as JSON. Events are
// numbered without gaps (seq) and each carries
//
//	hash = hex(SHA-256(prev_hash || canonical content))
//
// where prev_hash is the previous event's hash (64 zeros for the first)
// and the canonical content is the JSON encoding of the event's fields in
// a fixed order (see canonical). Editing, deleting or reordering a stored
// event breaks the chain, and Verify names the first event where it
// breaks; the audit_head row, updated with every append, also exposes the
// deletion of the newest events.
//
// Every change is recorded in the same transaction as the change: a
// component turns its event into a *store.AuditAppend with Log.Prepare and
// hands it to the store method that makes the change, so that a crash
// never leaves a change without its event (or an event without its
// change). Log.Record appends an event in a transaction of its own; it
// records no change of certgate's.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/store"
)

// Actions recorded by certgate. Other components add their own constants
// here, named "<object>.<verb>", and to Actions.
const (
	ActionCertificateIssue  = "certificate.issue"
	ActionCertificateRevoke = "certificate.revoke"
	ActionTokenCreate       = "token.create"
	ActionTokenRevoke       = "token.revoke"
	ActionAccountDeactivate = "account.deactivate"
	// ActionAccountCreate: an ACME account was created (newAccount, RFC
	// 8555 §7.3, with external account binding §7.3.4; object: the
	// account; after: its ID, status, key thumbprint, contacts as given,
	// terms-of-service agreement, the directory's profile and, when bound,
	// the EAB key's ID, profile and owner). A newAccount that returns an
	// existing account records nothing.
	ActionAccountCreate = "account.create"
	// ActionAccountUpdate: an ACME account's contacts changed (RFC 8555
	// §7.3.2; object: the account; before and after: {"contact"}, the
	// lists as stored before and after). An update that leaves them as
	// they were records nothing.
	ActionAccountUpdate = "account.update"
	// ActionAccountKeyChange: an ACME account rolled over to a new key
	// (RFC 8555 §7.3.5; object: the account; before and after:
	// {"key_thumbprint"}, the RFC 7638 thumbprints).
	ActionAccountKeyChange = "account.key_change"
	// ActionCertificateSuggestRenewal: `certgate cert suggest-renewal`
	// moved a certificate's ACME Renewal Information window (object: the
	// certificate, by serial; before and after: {"renewal_window": null or
	// {"start", "end"}}).
	ActionCertificateSuggestRenewal = "certificate.suggest_renewal"
	ObjectCertificate               = "certificate"
	ObjectToken                     = "token"
	ObjectAccount                   = "account"
	// ActorSystem is certgate itself (e.g. a background job).
	ActorSystem = "system"
	// ActionCertificateStoreFailed: a certificate was signed but could
	// not be stored, not even after retries (its order's FinishOrder
	// failed): the client never receives it, and its serial stays
	// reserved, never used again (object: the certificate, by serial;
	// after: the certificate as certificate.issue records it, without
	// its PEM). Recorded in a transaction of its own, when the database
	// takes it.
	ActionCertificateStoreFailed = "certificate.store_failed"
	// ActionSessionSignIn: a person signed in to the web dashboard (/ui/)
	// with an API token (actor: the token, TokenActor; object: the
	// session, by its public ID; after: its token, creation and expiry).
	ActionSessionSignIn = "session.sign_in"
	// ActionSessionSignOut: a person signed out of the web dashboard
	// (actor: the session's token; object: the session; before: as
	// ActionSessionSignIn's after).
	ActionSessionSignOut = "session.sign_out"
	// ActionSessionSignInRefused: a person authenticated by the OpenID
	// Provider of sso-issuer was refused sign-in to the web dashboard: no
	// value of their role claim is mapped to a role, or their email is
	// outside sso-allowed-email-domains or not verified (actor:
	// SSOActor; object: a session, without an ID; after: sso_issuer,
	// sso_subject, name, email, email_verified, role_claim_values,
	// reason).
	ActionSessionSignInRefused = "session.sign_in_refused"
	// ObjectSession is a web dashboard session.
	ObjectSession = "session"
	// ActionCertificateUpstreamRefused: an upstream CA (issuer.Remote)
	// returned a certificate that certgate refused (another key than the
	// CSR's, or other names than the order's): not served and not in the
	// inventory, and asked to be revoked at the upstream (object: the
	// certificate, by the upstream's serial; after: issuer, serial,
	// SHA-256 fingerprint, names, validity, the order, why it was
	// refused and whether the upstream revoked it).
	ActionCertificateUpstreamRefused = "certificate.upstream_refused"
	// ActionCertificateDiscover: a scan (`certgate scan run` or serve's
	// scan-interval) added a certificate it found served on the network to
	// the inventory, source discovered (object: the certificate, by its
	// inventory serial; after: the record, the endpoint where it was first
	// found and the scan's ID). Later sightings record nothing.
	ActionCertificateDiscover = "certificate.discover"
)

const (
	actorCLIPrefix         = "cli:"
	actorTokenPrefix       = "token:"
	actorSSOPrefix         = "sso:"
	actorACMEAccountPrefix = "acme-account:"
	maxSnapshotBytes       = 64 << 10
	defaultListLimit       = 100
)

// CLIActor names a person running an administrative command as an actor:
// "cli:" + user (the OS user name, or "unknown").
func CLIActor(user string) string {
	if user == "" {
		user = "unknown"
	}
	return actorCLIPrefix + user
}

// TokenActor names the holder of the API token called name, whose ID is
// id (16 hex digits), as an actor: "token:NAME#ID". A token's name can be
// reused once it is revoked, so the ID tells the tokens of one name apart;
// '#' never occurs in a name (letters, digits, - _ . @). Events recorded
// before certgate named the ID have "token:NAME". An empty id gives
// "token:NAME".
func TokenActor(name, id string) string {
	if id == "" {
		return actorTokenPrefix + name
	}
	return actorTokenPrefix + name + "#" + id
}

// SSOActor names a person signed in to the web dashboard with OpenID
// Connect as an actor: "sso:NAME#SUBJECT", name being what the ID token
// calls them (email, preferred_username, name) and subject its sub claim
// (OpenID Connect Core 1.0 §2), which the provider never reassigns. An
// empty name gives "sso:#SUBJECT".
func SSOActor(name, subject string) string { return actorSSOPrefix + name + "#" + subject }

// ACMEAccountActor names an ACME account (RFC 8555 §7.1.2) as an actor.
func ACMEAccountActor(id string) string { return actorACMEAccountPrefix + id }

// Event is one change to record. Before and After are the object before
// and after the change (any JSON-encodable value; nil for none), encoded
// to at most 64 KiB each.
type Event struct {
	Actor      string // who: TokenActor ("token:NAME#ID"), CLIActor, ACMEAccountActor, ...
	Action     string // one of Actions, e.g. ActionTokenCreate
	ObjectType string // one of ObjectTypes
	ObjectID   string // ID of the object changed
	Source     string // client address; "" takes the one carried by the context (WithSource)
	Before     any    // the object before the change; nil: none
	After      any    // the object after the change; nil: none
	// Replaced, for a change to an existing row, computes Before and
	// After (replacing the fields above) from the row as the store method
	// that makes the change reads it inside the change's transaction
	// (store.AuditAppend.Replaced; the method names the row's type), so
	// that Before is the row the change replaced even when another
	// change committed after the caller read it. It returns ErrUnchanged
	// when the row shows that the change leaves it as it was: nothing is
	// recorded then. It must not call the store.
	Replaced func(old any) (before, after any, err error)
	// Cascade, for a change that the store method extends to further
	// rows (store.AuditAppend.Cascade; e.g. a keyCompromise revocation
	// revokes the key's other certificates), gives the event of each such
	// row from it as the transaction read it before the change (nil: none).
	// It must not call the store.
	Cascade func(old any) (*Event, error)
}

// ErrUnchanged is returned by an Event's Replaced hook to say that the change
// leaves the row it read as it was (e.g. an account update that sets the
// contacts already stored): the event is not appended (its
// store.AuditAppend is marked HooksOnly for that transaction).
var ErrUnchanged = errors.New("audit: the change leaves the row as it was")

// ReplacedRow adapts f, which gives Before and After from a row of type T
// (e.g. store.Profile), to Event.Replaced; a row of another type is an
// error.
func ReplacedRow[T any](f func(old *T) (before, after any)) func(any) (any, any, error) {
	return func(old any) (any, any, error) {
		o, ok := old.(*T)
		if !ok {
			return nil, nil, fmt.Errorf("replaced row is a %T, want a %T", old, o)
		}
		b, a := f(o)
		return b, a, nil
	}
}

// Store is what the audit log needs from storage; *store.Store implements it.
type Store interface {
	// AppendAudit appends a.Record in a transaction of its own and fills
	// in its Seq, PrevHash and Hash.
	AppendAudit(ctx context.Context, a *store.AuditAppend) error
	// AuditHead returns the seq and hash of the newest event (0 and
	// store.AuditGenesisHash for an empty log).
	AuditHead(ctx context.Context) (int64, string, error)
	// ListAudit returns one page of the events f selects, keyset-paginated
	// on seq.
	ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditRecord, error)
	// EachAudit calls fn with each event of seq at most maxSeq, in seq
	// order, and returns fn's first error.
	EachAudit(ctx context.Context, maxSeq int64, fn func(*store.AuditRecord) error) error
}

// Log is the audit log over a store.
type Log struct {
	st  Store
	now func() time.Time
}

// New returns the audit log stored in st; now may be nil (time.Now).
func New(st Store, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{st: st, now: now}
}

type sourceKey struct{}

// WithSource returns ctx carrying the address of the client whose request
// is being served, recorded as the Source of events that name none.
func WithSource(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, sourceKey{}, addr)
}

// SourceFrom returns the client address carried by ctx, or "".
func SourceFrom(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}

// Prepare turns ev into an append for a store method that records it in
// the same transaction as the change (e.g. store.CreateAPIToken). Errors:
// an action that is not one of Actions (ErrUnknownAction), an unencodable
// Before/After, or a snapshot over 64 KiB.
func (l *Log) Prepare(ctx context.Context, ev Event) (*store.AuditAppend, error) {
	if err := CheckAction(ev.Action); err != nil {
		return nil, err
	}
	before, err := snapshot(ev.Before)
	if err != nil {
		return nil, fmt.Errorf("audit %s before: %w", ev.Action, err)
	}
	after, err := snapshot(ev.After)
	if err != nil {
		return nil, fmt.Errorf("audit %s after: %w", ev.Action, err)
	}
	src := ev.Source
	if src == "" {
		src = SourceFrom(ctx)
	}
	at := l.now().UTC()
	id, err := store.NewEventID(at)
	if err != nil {
		return nil, err
	}
	a := &store.AuditAppend{
		Record: store.AuditRecord{ID: id, Time: at, Actor: ev.Actor, Action: ev.Action,
			ObjectType: ev.ObjectType, ObjectID: ev.ObjectID, Source: src, Before: before, After: after},
		Seal: Seal,
	}
	if ev.Replaced != nil {
		a.Replaced = func(old any) error {
			b, af, err := ev.Replaced(old)
			// Set on every call: a transaction run again reads the row again.
			a.HooksOnly = errors.Is(err, ErrUnchanged)
			if a.HooksOnly {
				return nil
			}
			if err != nil {
				return fmt.Errorf("audit %s: %w", ev.Action, err)
			}
			if a.Record.Before, err = snapshot(b); err != nil {
				return fmt.Errorf("audit %s before: %w", ev.Action, err)
			}
			if a.Record.After, err = snapshot(af); err != nil {
				return fmt.Errorf("audit %s after: %w", ev.Action, err)
			}
			return nil
		}
	}
	if ev.Cascade != nil {
		a.Cascade = func(old any) (*store.AuditAppend, error) {
			c, err := ev.Cascade(old)
			if err != nil || c == nil {
				return nil, err
			}
			return l.Prepare(ctx, *c)
		}
	}
	return a, nil
}

// Record appends ev to the log in a transaction of its own (Prepare and a
// store method that takes the append record a change with its event).
func (l *Log) Record(ctx context.Context, ev Event) error {
	a, err := l.Prepare(ctx, ev)
	if err != nil {
		return err
	}
	if err := l.st.AppendAudit(ctx, a); err != nil {
		return fmt.Errorf("audit %s: %w", ev.Action, err)
	}
	return nil
}

func snapshot(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	if len(b) > maxSnapshotBytes {
		return "", fmt.Errorf("snapshot of %d bytes exceeds %d", len(b), maxSnapshotBytes)
	}
	return string(b), nil
}

// canonical is the hashed content of an event: every stored field but the
// hashes, in this order, times as Unix nanoseconds (UTC).
type canonical struct {
	Seq        int64  `json:"seq"`
	ID         string `json:"id"`
	Time       int64  `json:"time"`
	Actor      string `json:"actor"`
	Action     string `json:"action"`
	ObjectType string `json:"object_type"`
	ObjectID   string `json:"object_id"`
	Source     string `json:"source"`
	Before     string `json:"before"`
	After      string `json:"after"`
}

// Hash returns the chain hash of r: hex SHA-256 over r.PrevHash (as its
// 64 hex characters) followed by the canonical JSON of r's content.
func Hash(r *store.AuditRecord) string {
	c := canonical{Seq: r.Seq, ID: r.ID, Time: r.Time.UTC().UnixNano(), Actor: r.Actor, Action: r.Action,
		ObjectType: r.ObjectType, ObjectID: r.ObjectID, Source: r.Source, Before: r.Before, After: r.After}
	b, _ := json.Marshal(c) // strings and integers only: cannot fail
	h := sha256.New()
	h.Write([]byte(r.PrevHash))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Seal sets r.Hash from r's content and r.PrevHash (store.AuditAppend.Seal).
func Seal(r *store.AuditRecord) error {
	r.Hash = Hash(r)
	return nil
}

// List returns one page of events selected by f. A filter's action that
// is not one of Actions is an error wrapping ErrUnknownAction, an object
// type that is not one of ObjectTypes one wrapping ErrUnknownObjectType
// (either would select nothing).
func (l *Log) List(ctx context.Context, f store.AuditFilter) ([]*store.AuditRecord, error) {
	if f.Action != "" {
		if err := CheckAction(f.Action); err != nil {
			return nil, err
		}
	}
	if f.ObjectType != "" {
		if err := CheckObjectType(f.ObjectType); err != nil {
			return nil, err
		}
	}
	if f.Limit <= 0 {
		f.Limit = defaultListLimit
	}
	return l.st.ListAudit(ctx, f)
}

// View is an audit event as shown to people and served by the admin API;
// Before and After are the stored JSON (null when absent).
type View struct {
	Seq        int64           `json:"seq"`              // position in the chain, from 1
	ID         string          `json:"id"`               // random event ID
	Time       time.Time       `json:"time"`             // when the change was made, UTC
	Actor      string          `json:"actor"`            // who made it (see Event.Actor)
	Action     string          `json:"action"`           // what was done (Actions)
	ObjectType string          `json:"object_type"`      // the kind of object (ObjectTypes)
	ObjectID   string          `json:"object_id"`        // ID of the object changed
	Source     string          `json:"source"`           // client address; "" when none
	Before     json.RawMessage `json:"before,omitempty"` // the object before; absent when none
	After      json.RawMessage `json:"after,omitempty"`  // the object after; absent when none
	PrevHash   string          `json:"prev_hash"`        // Hash of the previous event, 64 hex digits
	Hash       string          `json:"hash"`             // the chain hash (see Hash), 64 hex digits
}

// NewView returns r as a View.
func NewView(r *store.AuditRecord) View {
	v := View{Seq: r.Seq, ID: r.ID, Time: r.Time, Actor: r.Actor, Action: r.Action, ObjectType: r.ObjectType,
		ObjectID: r.ObjectID, Source: r.Source, PrevHash: r.PrevHash, Hash: r.Hash}
	if r.Before != "" {
		v.Before = json.RawMessage(r.Before)
	}
	if r.After != "" {
		v.After = json.RawMessage(r.After)
	}
	return v
}
