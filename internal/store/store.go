// Package store persists certgate's state: ACME accounts, orders,
// authorizations, challenges, reserved serials and issued certificates.
// One schema and one Go code path serve both engines, SQLite (the embedded
// default) and PostgreSQL (pgx, for several nodes sharing one database);
// migrations are embedded per engine and applied on open (goose). All
// times are UTC and stored as Unix nanoseconds.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// Sentinel errors returned (wrapped) by Store methods.
var (
	// ErrNotFound: the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique key (account key thumbprint, serial) is already taken.
	ErrConflict = errors.New("store: conflict")
	// ErrStale: a conditional update found the row in another state than required.
	ErrStale = errors.New("store: state changed")
	// ErrOrderExpired: the order an approval would let issue expired (RFC
	// 8555 §7.1.3: the server then considers it invalid; DecideApproval).
	ErrOrderExpired = errors.New("store: order expired")
	// ErrAccountNotValid: the account an order would be created for
	// (CreateOrder, CreateReplacementOrder), a finalize would issue for
	// (StartIssuanceKey) or an approval would issue for (DecideApproval) is
	// no longer valid (deactivated or revoked, RFC 8555 §7.3.6).
	ErrAccountNotValid = errors.New("store: account not valid")
	// ErrKeyBlocked: the CSR key an approval would issue for was blocked
	// since it was requested (a certificate with that key revoked for
	// keyCompromise, CA/B Forum BR §6.1.1.3; DecideApproval).
	ErrKeyBlocked = errors.New("store: key blocked")
	// ErrProfileDeleted: the profile an approval would issue under was
	// deleted since it was requested (DecideApproval).
	ErrProfileDeleted = errors.New("store: profile deleted")
	// ErrAuthzNotValid: an authorization of the order an approval would
	// let issue was deactivated, revoked or expired since the order was
	// finalized (RFC 8555 §7.1.6: the order is then invalid;
	// DecideApproval).
	ErrAuthzNotValid = errors.New("store: authorization not valid")
)

// Account is a stored ACME account (RFC 8555 §7.1.2).
type Account struct {
	ID            string    // random, URL-safe; the last segment of the account URL
	KeyThumbprint string    // RFC 7638 SHA-256 thumbprint, base64url
	JWK           []byte    // public JWK as JSON
	Status        string    // valid | deactivated | revoked
	Contact       []string  // contact URLs, e.g. "mailto:ops@example.com"
	TOSAgreed     bool      // the client agreed to the terms of service
	CreatedAt     time.Time // UTC
	// EABKid is the external account binding key the account was created
	// with (RFC 8555 §7.3.4), "" for none.
	EABKid string
	// Attributes are the account's custom attributes (nil for none).
	Attributes map[string]string
}

// Order is a stored ACME order. Status holds only the stored stage
// (pending, processing, valid, invalid); the status served to clients is
// derived by the RA from this, the authorizations and the clock.
type Order struct {
	ID          string            // random, URL-safe
	AccountID   string            // the account that placed it
	Status      string            // stored stage: pending | processing | valid | invalid
	Expires     time.Time         // UTC; the order is invalid after it unless valid
	Identifiers []acme.Identifier // normalized (ra.NormalizeIdentifiers); a wildcard keeps its "*."
	AuthzIDs    []string          // one authorization per identifier, in order
	NotBefore   time.Time         // zero when not requested
	NotAfter    time.Time         // zero when not requested
	Error       *acme.Problem     // why the order is invalid; nil for none
	CertSerial  string            // serial of the issued certificate; "" until valid
	// Replaces is the RFC 9773 CertID of the certificate this order
	// replaces ("" for none), as the newOrder request named it.
	Replaces  string
	CreatedAt time.Time // UTC
	UpdatedAt time.Time // last change, UTC
	// Profile is the name of the certificate profile the order was
	// created under ("" and "default": the default profile).
	Profile string
	// Attributes are the order's final custom attributes (EAB defaults,
	// account, order request); nil for none.
	Attributes map[string]string
}

// MaxOrderLifetime is the longest an order may live (Order.Expires -
// Order.CreatedAt): the RA refuses a configured order lifetime above it
// (ra.New). ListACMEOrders relies on it to enter the index of an account's
// orders at the first order that can still be unexpired, so an order
// stored with a longer lifetime drops out of the ACME orders list once it
// is MaxOrderLifetime old. Raising it is safe; lowering it below the
// lifetime of stored orders hides them from the list early.
const MaxOrderLifetime = 7 * 24 * time.Hour

// Authorization is a stored ACME authorization with its challenges.
// Identifier.Value never carries the "*." prefix; Wildcard says whether
// the order asked for the wildcard name (RFC 8555 §7.1.4).
type Authorization struct {
	ID          string          // random, URL-safe
	AccountID   string          // the account it authorizes
	Identifier  acme.Identifier // without the "*." prefix
	Wildcard    bool            // for "*." + Identifier.Value
	Status      string          // pending | valid | invalid | deactivated | revoked
	Expires     time.Time       // UTC
	ValidatedAt time.Time       // zero until valid
	CreatedAt   time.Time       // UTC
	Challenges  []Challenge     // ordered by type; empty when read without them
	// Profile is the certificate profile of the order that created the
	// authorization ("" before migration 00012): its validation uses that
	// profile's DNS settings and only that profile's orders reuse it.
	Profile string
}

// Challenge is a stored ACME challenge (RFC 8555 §7.1.5).
type Challenge struct {
	ID          string        // random, URL-safe
	AuthzID     string        // its authorization
	Type        string        // "http-01", "dns-01" or "tls-alpn-01"
	Token       string        // base64url, 128 bits of randomness or more (RFC 8555 §8.3)
	Status      string        // pending | processing | valid | invalid
	ValidatedAt time.Time     // zero until valid
	Error       *acme.Problem // the last attempt's problem; nil for none
	Attempts    int           // failed validation attempts so far
	UpdatedAt   time.Time     // last change, UTC
}

// Certificate is an issued certificate's record.
type Certificate struct {
	Serial            string    // lower-case hex, no leading zeros
	Issuer            string    // issuer name, e.g. "local"
	OrderID           string    // "" when not issued through ACME
	AccountID         string    // "" when not issued through ACME
	DER               []byte    // the leaf certificate
	ChainPEM          string    // leaf then intermediates
	SANs              []string  // subject alternative names (DNS names, IP addresses)
	KeyType           string    // e.g. "ECDSA P-256", "RSA 2048"
	FingerprintSHA256 string    // hex
	NotBefore         time.Time // UTC
	NotAfter          time.Time // UTC, at most MaxTime
	Status            string    // valid | revoked
	RevokedAt         time.Time // zero while not revoked
	RevocationReason  int       // RFC 5280 §5.3.1 reason code
	CreatedAt         time.Time // when the record was written, UTC
	// ReplacedBy is the ID of the order that names this certificate in
	// its "replaces" field (RFC 9773 §5), "" when none does; ReplacedAt
	// is when that order became valid (zero until then).
	ReplacedBy string
	ReplacedAt time.Time // see ReplacedBy

	// Inventory fields (docs/inventory.md).

	// Profile names the certificate profile it was issued under
	// (DefaultProfile when empty).
	Profile string
	// KeyBits is the public key size in bits (RSA modulus length, ECDSA
	// curve size); 0 when unknown.
	KeyBits int
	// SignatureAlgorithm is the issuer's signature algorithm as
	// crypto/x509 names it, e.g. "ECDSA-SHA256", "SHA1-RSA"; "" when unknown.
	SignatureAlgorithm string
	// Source is how the certificate entered the inventory: SourceIssued
	// (default when empty), SourceImported, SourceDiscovered or
	// SourceListener.
	Source string
	// Attributes are custom key/value attributes, written with the
	// certificate (nil stores an empty set).
	Attributes map[string]string
	// Replaces is the serial of the certificate this one replaced (RFC 9773
	// renewal), "" when none. FinishOrder fills it from the certificate its
	// order claimed.
	Replaces string
	// KeyHash is KeyHash of the certificate's public key (32 bytes), by
	// which a keyCompromise revocation finds the key's other certificates
	// (RevokeCertificate) and FinishOrder checks the blocked keys. The
	// methods that store a certificate compute it from DER when it is nil;
	// nil when read for a record whose DER does not parse.
	KeyHash []byte
	// KeyROCA, when read, reports that the certificate's RSA key has the
	// ROCA fingerprint (CVE-2017-15361; column key_roca). The methods that
	// store a certificate compute it from DER and ignore this field.
	KeyROCA bool
}

// Certificate sources (Certificate.Source).
const (
	SourceIssued     = "issued"
	SourceImported   = "imported"
	SourceDiscovered = "discovered"
	// SourceListener: the built-in CA issued it for certgate's own HTTPS
	// listeners (listen, admin-listen) when tls-cert and tls-key are not
	// set, under profile ListenerProfile; no ACME order, no account.
	SourceListener = "listener"
)

// ListenerProfile is the profile recorded for the certificates of
// SourceListener: not a stored ACME profile (a profile of that name
// cannot issue them), only their mark in the inventory.
const ListenerProfile = "certgate-listener"

// Sources lists the certificate sources (Certificate.Source) in the order
// the documentation names them.
func Sources() []string {
	return []string{SourceIssued, SourceImported, SourceDiscovered, SourceListener}
}

// DefaultProfile is the profile recorded when none is given.
const DefaultProfile = "default"

// MaxTime returns the latest instant the store holds,
// 2262-04-11T23:47:16.854775807Z (the last Unix nanosecond an int64
// counts). A later time is stored as MaxTime: a certificate's notAfter of
// 9999-12-31 (RFC 5280 §4.1.2.5) keeps its order among expiries. A
// lifetime the caller chooses is checked with CheckLifetime instead.
func MaxTime() time.Time { return time.Unix(0, math.MaxInt64).UTC() }

// CheckLifetime returns nil when now + lifetime is at most MaxTime (or
// lifetime is not positive), else an error stating the latest expiry and
// the longest lifetime from now in whole days, for a refusal of a lifetime
// that the store would keep shorter than asked (API tokens, EAB keys).
func CheckLifetime(now time.Time, lifetime time.Duration) error {
	if lifetime <= 0 || !now.Add(lifetime).After(MaxTime()) {
		return nil
	}
	asked := lifetime.String()
	if lifetime%(24*time.Hour) == 0 {
		asked = fmt.Sprintf("%dd", lifetime/(24*time.Hour))
	}
	return fmt.Errorf("lifetime %s ends after %s, the latest expiry certgate stores: at most %dd from now",
		asked, MaxTime().Format(time.RFC3339), MaxTime().Sub(now)/(24*time.Hour))
}

// ts is t as stored: Unix nanoseconds, 0 for the zero time. Times beyond
// what int64 nanoseconds hold (after 2262) are stored as MaxTime instead
// of wrapping around.
func ts(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	}
	return t.UTC().UnixNano()
}

func fromTS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func marshalProblem(p *acme.Problem) (any, error) {
	if p == nil {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func unmarshalProblem(s *string) (*acme.Problem, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	var p acme.Problem
	if err := json.Unmarshal([]byte(*s), &p); err != nil {
		return nil, err
	}
	return &p, nil
}
