// Package ra is certgate's registration authority: the one place where the
// ACME account, order, authorization and challenge state machines live
// (RFC 8555 §7.1.6), with the checks that guard them. The front end (wfe)
// translates HTTP and JWS to calls here and renders the results.
package ra

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/metrics"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
)

// Store is what the RA needs from storage; *store.Store implements it.
type Store interface {
	// CreateAccountSpend stores a, makes spend (nil: none) and appends
	// events (nil ones skipped) in the same transaction;
	// store.ErrConflict when a's key thumbprint is taken,
	// store.ErrRateLimited when the spend is refused, and then nothing is
	// stored or spent.
	CreateAccountSpend(ctx context.Context, a *store.Account, spend *store.RateSpend, events ...*store.AuditAppend) error
	// GetAccount returns the account with id; store.ErrNotFound when none.
	GetAccount(ctx context.Context, id string) (*store.Account, error)
	// GetAccountByThumbprint returns the account whose key has the RFC
	// 7638 thumbprint tp; store.ErrNotFound when none.
	GetAccountByThumbprint(ctx context.Context, tp string) (*store.Account, error)
	// UpdateAccount stores a's contact (nil: kept) and status while the
	// stored account is valid, with events; store.ErrStale otherwise or
	// when there is no such account.
	UpdateAccount(ctx context.Context, a *store.Account, events ...*store.AuditAppend) error
	// ChangeAccountKey replaces account id's key (RFC 8555 §7.3.5) while
	// its thumbprint is oldTP and it is valid (else store.ErrStale), with
	// events; store.ErrConflict when newTP is another account's.
	ChangeAccountKey(ctx context.Context, id, oldTP, newTP string, jwk []byte, events ...*store.AuditAppend) error
	// CreateOrder stores o and newAuthzs (with their challenges) and makes
	// the spends (nil ones skipped) in one transaction;
	// store.ErrRateLimited when a bucket refuses, and then nothing is
	// stored.
	CreateOrder(ctx context.Context, o *store.Order, newAuthzs []*store.Authorization, spends ...*store.RateSpend) error
	// CreateReplacementOrder is CreateOrder for an order replacing the
	// certificate with serial (RFC 9773 §5), claimed for it in the same
	// transaction while its replaced_by is prevClaim ("" for unclaimed);
	// store.ErrStale when the certificate is missing or claimed by another
	// order.
	CreateReplacementOrder(ctx context.Context, o *store.Order, newAuthzs []*store.Authorization, serial, prevClaim string, spends ...*store.RateSpend) error
	// GetOrder returns the order with id; store.ErrNotFound when none.
	GetOrder(ctx context.Context, id string) (*store.Order, error)
	// SetOrderStatus moves order id from status from to to, setting its
	// error to perr (may be nil); store.ErrStale when its status is not
	// from.
	SetOrderStatus(ctx context.Context, id, from, to string, perr *acme.Problem, now time.Time) error
	// ProcessingOrders returns the IDs of processing orders last updated
	// before before (left so by a crash).
	ProcessingOrders(ctx context.Context, before time.Time) ([]string, error)
	// SetOrderProcessing moves order id from status from to processing,
	// recording node ("" for none) as AbandonedOrders reads it;
	// store.ErrStale when its status is not from.
	SetOrderProcessing(ctx context.Context, id, from, node string, now time.Time) error
	// RenewNodeLease records that node is alive until until.
	RenewNodeLease(ctx context.Context, node string, until time.Time) error
	// PruneNodeLeases deletes the node leases that ran out before before.
	PruneNodeLeases(ctx context.Context, before time.Time) (int64, error)
	// AbandonedOrders returns the IDs of the processing orders whose node,
	// other than self, holds no lease at now.
	AbandonedOrders(ctx context.Context, self string, now time.Time) ([]string, error)
	// AppendAudit appends one audit event in a transaction of its own.
	AppendAudit(ctx context.Context, a *store.AuditAppend) error
	// GetAuthorization returns the authorization with id with its
	// challenges; store.ErrNotFound when none.
	GetAuthorization(ctx context.Context, id string) (*store.Authorization, error)
	// GetAuthorizations returns the authorizations with ids, in that
	// order, without challenges; store.ErrNotFound when one is missing.
	GetAuthorizations(ctx context.Context, ids []string) ([]*store.Authorization, error)
	// FindValidAuthorization returns accountID's newest valid
	// authorization for id (and wildcard) under profile that expires after
	// minExpires and was validated after validatedAfter; store.ErrNotFound
	// when none.
	FindValidAuthorization(ctx context.Context, accountID, profile string, id acme.Identifier, wildcard bool, minExpires, validatedAfter time.Time) (*store.Authorization, error)
	// ValidAuthorizationsFor reports whether accountID holds a valid
	// authorization, unexpired at now, for every identifier of ids (RFC
	// 8555 §7.6).
	ValidAuthorizationsFor(ctx context.Context, accountID string, ids []acme.Identifier, now time.Time) (bool, error)
	// DeactivateAuthorization moves authorization id to deactivated (RFC
	// 8555 §7.5.2) while it is pending or valid and unexpired at now;
	// store.ErrStale otherwise.
	DeactivateAuthorization(ctx context.Context, id string, now time.Time) error
	// GetChallenge returns the challenge with id; store.ErrNotFound when
	// none.
	GetChallenge(ctx context.Context, id string) (*store.Challenge, error)
	// StartChallengeLeased moves pending challenge id to processing and
	// gives owner its validation lease until until; store.ErrStale when it
	// is not pending or its authorization is not pending and unexpired at
	// now.
	StartChallengeLeased(ctx context.Context, id, owner string, now, until time.Time) error
	// RespondChallenge reads challenge id with its authorization and, when
	// decide says so, starts it as StartChallengeLeased does, in one write
	// (RFC 8555 §7.5.1); the bool reports whether it started.
	RespondChallenge(ctx context.Context, id, owner string, now, until time.Time,
		decide func(c *store.Challenge, a *store.Authorization) (bool, error)) (*store.Challenge, *store.Authorization, bool, error)
	// RecordAttempt counts one failed attempt of processing challenge id
	// and stores perr as its last error; the challenge stays processing.
	RecordAttempt(ctx context.Context, id string, perr *acme.Problem, now time.Time) error
	// RequestChallengeRetry records at as the time of a client's request
	// to retry challenge id (RFC 8555 §8.2); the stored time only moves
	// forward.
	RequestChallengeRetry(ctx context.Context, id string, at time.Time) error
	// ChallengeRetryRequestedAt returns the latest retry request time of
	// challenge id (zero when none); store.ErrNotFound when there is no
	// such challenge.
	ChallengeRetryRequestedAt(ctx context.Context, id string) (time.Time, error)
	// FinishChallenge ends processing challenge c as valid (perr nil; its
	// authorization valid until authzExpires) or invalid, in one
	// transaction; store.ErrStale when the challenge is no longer
	// processing or its authorization no longer pending.
	FinishChallenge(ctx context.Context, c *store.Challenge, perr *acme.Problem, now, authzExpires time.Time) error
	// EndChallenge ends processing challenge c whose authorization was
	// decided otherwise meanwhile, leaving the authorization as it is;
	// store.ErrStale when c is no longer processing.
	EndChallenge(ctx context.Context, c *store.Challenge, perr *acme.Problem, now time.Time) error
	// LeaseChallenge gives owner the lease on processing challenge id
	// until until, when it is free, ran out by now, or is owner's already;
	// store.ErrStale otherwise.
	LeaseChallenge(ctx context.Context, id, owner string, now, until time.Time) error
	// ExpiredLeases returns at most limit IDs of processing challenges
	// whose lease ran out before now, oldest first.
	ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]string, error)
	// DeleteStale deletes pending and invalid orders and unusable
	// authorizations (with their challenges) that expired before cutoff,
	// and returns how many orders and authorizations it deleted.
	DeleteStale(ctx context.Context, cutoff time.Time) (orders, authzs int64, err error)
	// PruneNonces deletes the redeemed-nonce records that expired before
	// now and returns how many.
	PruneNonces(ctx context.Context, now time.Time) (int64, error)
	// GetEABKey returns the EAB key kid (RFC 8555 §7.3.4);
	// store.ErrNotFound when none.
	GetEABKey(ctx context.Context, kid string) (*store.EABKey, error)
	// CreateAccountEAB stores a bound to EAB key a.EABKid, which must be
	// active and unexpired at now (a single-use key becomes used), with
	// spend (nil: none) and events, in one transaction; store.ErrStale
	// when the key is no longer usable, store.ErrConflict when a's
	// thumbprint is taken, store.ErrRateLimited when the spend is refused.
	CreateAccountEAB(ctx context.Context, a *store.Account, now time.Time, spend *store.RateSpend, events ...*store.AuditAppend) error
	ApprovalStore
	// ReserveSerial records serial (lower-case hex) as used before
	// anything is signed with it; store.ErrConflict when it was reserved
	// before.
	ReserveSerial(ctx context.Context, serial string, now time.Time) error
	// StartIssuanceBy moves order orderID (stored status pending) to
	// processing, recording node ("" for none; see AbandonedOrders),
	// reserves serial and makes the spends, in one transaction
	// (RFC 8555 §7.4), after refusing a blocked key (keyHash: SHA-256 of
	// the CSR's SubjectPublicKeyInfo; a *store.KeyBlockedError) and an
	// account no longer valid (store.ErrAccountNotValid). Errors:
	// store.ErrStale when the order is not pending, store.ErrConflict when
	// serial was reserved, store.ErrRateLimited.
	StartIssuanceBy(ctx context.Context, orderID, serial, node string, keyHash []byte, now time.Time, spends ...*store.RateSpend) error
	// FinishOrder stores c and moves order orderID from processing to
	// valid, with events, in one transaction. Errors: store.ErrStale when
	// the order is not processing, store.ErrConflict for a stored serial
	// or fingerprint, a *store.KeyBlockedError when c's key was blocked
	// meanwhile (c is then stored revoked).
	FinishOrder(ctx context.Context, orderID string, c *store.Certificate, now time.Time, events ...*store.AuditAppend) error
	// FinishRemoteOrder is FinishOrder for a certificate whose serial a CA
	// elsewhere chose (issuer.Remote): c.Serial is recorded as used in the
	// same transaction; store.ErrConflict when it was.
	FinishRemoteOrder(ctx context.Context, orderID string, c *store.Certificate, now time.Time, events ...*store.AuditAppend) error
	// RemoteSerialKey returns the key to store a CA elsewhere's
	// certificate with serial and fingerprint fp under: serial, or
	// serial-FINGERPRINT16 when serial is recorded already.
	RemoteSerialKey(ctx context.Context, serial, fp string) (string, error)
	// RecordRemoteOrder records durably the upstream order of a
	// processing order (store.ErrStale when it is not processing).
	RecordRemoteOrder(ctx context.Context, ro *store.RemoteOrder) error
	// GetRemoteOrder returns the upstream order recorded for order
	// orderID; store.ErrNotFound when none.
	GetRemoteOrder(ctx context.Context, orderID string) (*store.RemoteOrder, error)
	// ClaimRemoteOrder makes node the one recovering ro's order, still
	// stuck (last updated before stuckBefore) or abandoned at now
	// (store.ErrStale when another claimed it first or it is neither).
	ClaimRemoteOrder(ctx context.Context, ro *store.RemoteOrder, node string, stuckBefore, now time.Time) error
	// GetCertificate returns the certificate stored under serial (lower-
	// case hex); store.ErrNotFound when none.
	GetCertificate(ctx context.Context, serial string) (*store.Certificate, error)
	// RevokeCertificate marks the valid certificate serial revoked at at
	// with RFC 5280 reason code reason, with events; store.ErrStale when
	// it is not valid.
	RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time, events ...*store.AuditAppend) error
	// RevokeCertificateOf is RevokeCertificate within the CA scope: for
	// keyCompromise it also revokes the key's other certificates stored
	// under one of scope.DNs that scope.Signed accepts.
	RevokeCertificateOf(ctx context.Context, serial string, reason int, at time.Time, scope store.CAScope, events ...*store.AuditAppend) error
	// CertificatesWithSerial returns the records of the certificates with
	// serial (lower-case hex), ordered by key; none is no error.
	CertificatesWithSerial(ctx context.Context, serial string) ([]*store.Certificate, error)
	// GetBlockedKey returns the blocked key whose KeyHash is spkiSHA256
	// (32 bytes); store.ErrNotFound when it is not blocked.
	GetBlockedKey(ctx context.Context, spkiSHA256 []byte) (*store.BlockedKey, error)
	// CRLContents takes the cRLNumber (RFC 5280 §5.2.3) of issuer's next
	// CRL, atLeast (Unix nanoseconds) or one more than the last, and lists
	// the revoked certificates of issuerDN not expired by notAfter, read
	// after the number in one transaction.
	CRLContents(ctx context.Context, issuer, issuerDN string, notAfter time.Time, atLeast int64) (int64, []store.RevokedEntry, error)
	// RenewalWindow returns the suggested renewal window (RFC 9773 §4.2)
	// stored for the certificate with serial, zero times when none;
	// store.ErrNotFound when no certificate has that serial.
	RenewalWindow(ctx context.Context, serial string) (start, end time.Time, err error)
}

// Validator performs one validation attempt (see internal/va). It returns
// nil on success or an *acme.Problem saying why the attempt failed. The RA
// calls Validate and CheckCAA of one attempt concurrently, so both must be
// safe for concurrent use.
type Validator interface {
	// Validate performs one attempt of challenge typ ("http-01", "dns-01"
	// or "tls-alpn-01") for id with keyAuthorization (RFC 8555 §8.1): nil
	// on success, else an *acme.Problem.
	Validate(ctx context.Context, id acme.Identifier, typ, token, keyAuthorization string) error
	// CheckCAA checks the CAA records of id (RFC 8659, RFC 8657) for
	// issuance to the account whose URL is one of accountURIs after
	// validation with challenge type method. It returns nil when issuance
	// may proceed, else an *acme.Problem of type caa.
	CheckCAA(ctx context.Context, id acme.Identifier, wildcard bool, method string, accountURIs []string) error
}

// DefaultCRLValidity is Config.CRLValidity's default, the one certgate
// serve uses: nextUpdate − thisUpdate of the CRLs, and how long an expired
// certificate stays on them (RFC 5280 §5).
const DefaultCRLValidity = 24 * time.Hour

// Config holds the RA's policy knobs. Zero values take the defaults noted.
type Config struct {
	OrderLifetime        time.Duration // pending order lifetime; default and maximum store.MaxOrderLifetime (7 days; New panics above it)
	PendingAuthzLifetime time.Duration // default 7 days
	ValidAuthzLifetime   time.Duration // how long a valid authorization stays valid; default 30 days
	AuthzReuse           time.Duration // reuse valid authorizations validated within this window; 0 → default 30 days; negative disables
	CertValidity         time.Duration // default 90 days
	MaxCertValidity      time.Duration // longest notBefore..notAfter a newOrder may ask; default = CertValidity
	Backdate             time.Duration // notBefore = now - Backdate (clock skew); default 1 minute
	ValidationAttempts   int           // attempts before a challenge turns invalid (RFC 8555 §8.2); default 3
	RetryDelay           time.Duration // delay before the 2nd attempt, doubled each time; default 1s
	// RetryPoll is how often a validation waiting between attempts reads
	// its challenge's row for a retry requested through another node
	// (RFC 8555 §8.2; store.RequestChallengeRetry): such a request is
	// answered within it. Nothing is read when the wait is not longer
	// than RetryPoll, when no attempt failed (no wait), or when Exclusive
	// (no other node). Default 1s; negative disables.
	RetryPoll         time.Duration
	ValidationWorkers int           // concurrent validations; default 32
	CRLValidity       time.Duration // nextUpdate - thisUpdate of CRLs, and how long an expired certificate stays on them; default DefaultCRLValidity
	// RetiredCRLSigners are the intermediates of the issuer that signed
	// before its current one (a rotated built-in CA): each signs the CRL
	// of the certificates it signed (CRLOf), which are stored under the
	// issuer's name as the current one's are. With any, each CRL lists
	// only the records its intermediate issued (their DER is read).
	RetiredCRLSigners []issuer.CRLSigner
	// PrunedIntermediates are the retired intermediates of the issuer
	// whose key was removed (local.PruneRetired): they sign no CRL, but a
	// certificate they signed is still this CA's (not another CA's) when
	// it enters the inventory by import.
	PrunedIntermediates []*x509.Certificate
	// RevokedIntermediates returns the retired intermediates of the
	// built-in CA revoked with `certgate ca revoke-intermediate`
	// (local.CA.RevokedIntermediates: on this node's data directory, or on
	// another node's, which the root's CRL this node serves lists):
	// renewalInfo (RFC 9773) asks the holders of the certificates they
	// signed to renew at once. It is called for each answer, so that a
	// revocation the node learns while it runs counts; nil: none.
	RevokedIntermediates func() []*x509.Certificate
	// CRLRefresh bounds how long a signed CRL is served before a new one
	// is signed, so that revocations made by other nodes appear within it
	// (revocations through this node clear it at once); default 1 minute,
	// at most CRLValidity/2.
	CRLRefresh time.Duration
	// OnRevoke, when set, is called with the serial (lower-case hex) of
	// every certificate revoked through this RA, after the revocation is
	// stored (the OCSP responder drops its cached responses).
	OnRevoke func(serial string)
	// LeaseDuration is how long a node owns a challenge it validates before
	// another node may take it over (renewed before every attempt); default 30s.
	LeaseDuration time.Duration
	// SweepInterval is how often a node looks for work left by dead nodes
	// (expired validation leases, interrupted issuance) and prunes used
	// nonces; default 10s.
	SweepInterval time.Duration
	// StuckAfter is how long an order may stay processing before the sweep
	// makes it invalid (issuance takes milliseconds; a longer stay means
	// the node died between reserving a serial and storing the
	// certificate); default 1 minute. An order whose node holds a lease
	// (NodeLease) is failed sooner, once that lease runs out.
	StuckAfter time.Duration
	// NodeLease is how long the lease that a started node holds on itself
	// lasts (renewed every NodeLease/5 while it runs; store.RenewNodeLease).
	// The node records its ID with every order it moves to processing,
	// and every node fails, within NodeLease/5, a processing order whose
	// node's lease ran out (store.AbandonedOrders): a killed node's
	// orders are failed seconds after the kill, not after StuckAfter,
	// and an order whose node is alive is never touched before
	// StuckAfter, however slow its issuance. Default 5s; negative
	// disables (then StuckAfter only); not used when Exclusive.
	NodeLease time.Duration
	// Retention is how long expired pending or invalid orders and
	// authorizations are kept before the sweep deletes them; default 7 days.
	Retention time.Duration
	// Exclusive says that no other process uses the same storage (SQLite,
	// guarded by the lock beside the database: server.LockDatabase). Start
	// then resumes every processing challenge and fails every processing
	// order at once, without waiting for leases and StuckAfter to run out.
	Exclusive bool
	// ResultWait is how long a request about a challenge being validated
	// (the challenge response, an authorization fetch) may wait for the
	// result before answering "processing" with Retry-After. Retry-After
	// only has whole seconds, so a short wait answers most clients at the
	// right moment instead of a second later. Default 1s; negative disables.
	ResultWait time.Duration
	// CAARecheckAfter: finalize checks CAA again for every authorization
	// validated longer ago than this (CA/B BR §3.2.2.8: CAA is checked
	// within 8 hours before issuance). Default 8h; negative re-checks at
	// every finalize.
	CAARecheckAfter time.Duration
	// IPDenied returns a client-safe error when validation never connects
	// to an ip identifier's address (va.VA.AddressDenied: the
	// va-deny-networks list and the always-denied ranges), else nil.
	// newOrder refuses such an identifier as rejectedIdentifier unless the
	// profile pre-authorizes it: http-01 and tls-alpn-01 connect to the
	// address itself (RFC 8738 §3, §6), so no challenge could validate
	// it. nil refuses none (the always-denied ranges still are, by
	// NormalizeIdentifiers).
	IPDenied func(netip.Addr) error
	// AccountURIPrefixes are what an account's URL starts with, the
	// account ID following: a CAA accounturi parameter (RFC 8657 §3)
	// matches when it equals one of them + the account ID. Empty: no
	// accounturi matches.
	AccountURIPrefixes []string
	// Profiles resolves certificate profiles (internal/policy); nil: only
	// the built-in default profile, from CertValidity and MaxCertValidity.
	Profiles *policy.Registry
	// ApprovalWebhook, when set, receives a JSON POST (Escalation) for
	// every approval that is escalated (see Sweep).
	ApprovalWebhook string
	// WebhookClient sends webhook requests; nil: http.DefaultClient with
	// a 10 s timeout per request.
	WebhookClient *http.Client
	// Audit records issuance and revocation in the audit log, in the same
	// transaction as the change (*audit.Log implements it); nil records
	// nothing.
	Audit Auditor
	// RateLimits are the ACME rate limits (internal/ratelimit); they apply
	// when the store implements ratelimit.Store. Zero rates disable.
	RateLimits ratelimit.Config
	// Metrics, when set, counts issuance, revocation, failed finalizations,
	// validations and rate-limit refusals; nil counts nothing.
	Metrics *metrics.Metrics
	// Issuers are the issuers besides the built-in one that profiles may
	// name (Profile.Issuer), by Name: connectors to CAs elsewhere
	// (internal/issuer/acmeupstream). An issuer.Remote among them is asked
	// detached from the finalize request; StuckAfter is raised to its
	// IssueTimeout and a minute more, so that no sweep fails an order
	// while its upstream still works on it.
	Issuers []issuer.Issuer
	// TermsOfService, when set, is the URL of the terms of service the
	// directory names (meta.termsOfService): a newAccount that would
	// create an account must then agree to them (RFC 8555 §7.3), or it is
	// refused with userActionRequired. "" requires no agreement.
	TermsOfService string
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.OrderLifetime, store.MaxOrderLifetime)
	def(&c.PendingAuthzLifetime, 7*24*time.Hour)
	def(&c.ValidAuthzLifetime, 30*24*time.Hour)
	def(&c.AuthzReuse, 30*24*time.Hour)
	def(&c.CertValidity, 90*24*time.Hour)
	def(&c.MaxCertValidity, c.CertValidity)
	def(&c.Backdate, time.Minute)
	def(&c.RetryDelay, time.Second)
	def(&c.RetryPoll, time.Second)
	def(&c.CRLValidity, DefaultCRLValidity)
	def(&c.CRLRefresh, time.Minute)
	c.CRLRefresh = min(c.CRLRefresh, c.CRLValidity/2)
	def(&c.ResultWait, time.Second)
	def(&c.LeaseDuration, 30*time.Second)
	def(&c.SweepInterval, 10*time.Second)
	def(&c.StuckAfter, time.Minute)
	def(&c.NodeLease, 5*time.Second)
	def(&c.Retention, 7*24*time.Hour)
	def(&c.CAARecheckAfter, 8*time.Hour)
	if c.ValidationAttempts <= 0 {
		c.ValidationAttempts = 3
	}
	if c.ValidationWorkers <= 0 {
		c.ValidationWorkers = 32
	}
}

// RA is the registration authority. Create it with New, call Start once,
// and Shutdown to drain validations.
type RA struct {
	cfg    Config
	store  Store
	va     Validator
	issuer issuer.Issuer
	// issuers are the built-in issuer and cfg.Issuers, by name.
	issuers map[string]issuer.Issuer
	now     func() time.Time
	// profiles resolves order profiles (cfg.Profiles or the default only).
	profiles *policy.Registry
	log      *slog.Logger
	node     string // this process's random ID, the owner of its validation leases
	// leased: this node holds a node lease (Start renewed it; NodeLease),
	// so the orders it moves to processing name it (processingNode).
	leased atomic.Bool
	// leaseUntil is when the lease this node last renewed runs out (Unix
	// nanoseconds of its clock); past it, other nodes take this node for
	// dead, and the orders it moves to processing name no node.
	leaseUntil atomic.Int64
	// hbStop ends the heartbeat (closed by Shutdown once everything else
	// stopped); hbDone is closed when it has ended.
	hbStop, hbDone chan struct{}

	sem       chan struct{}  // a slot per validation worker (ValidationWorkers)
	valJobs   chan valJob    // validations handed to idle workers (unbuffered)
	wg        sync.WaitGroup // the sweep loop and the validation goroutines (workers)
	jobs      sync.WaitGroup // validations enqueued and not finished
	workers   atomic.Int64   // validation workers started so far (tests)
	valCtx    context.Context
	valCancel context.CancelFunc
	closing   chan struct{}
	closeOnce sync.Once

	waitMu  sync.Mutex
	waiters map[string]*waiter // challenge ID → its validation running in this process

	limits *ratelimit.Limiter // nil: no rate limits

	weakKeys *certlint.KeyChecker // trivially recoverable ECDSA certificate keys

	crlMu    sync.Mutex
	crlCache map[issuer.CRLSigner]*SignedCRL // per intermediate; nil or absent: none, or dropped by a revocation
}

// New returns an RA. now may be nil (time.Now). It panics when
// cfg.OrderLifetime exceeds store.MaxOrderLifetime (a programming error: no
// configuration setting reaches it).
func New(cfg Config, st Store, va Validator, iss issuer.Issuer, now func() time.Time, log *slog.Logger) *RA {
	cfg.setDefaults()
	if cfg.OrderLifetime > store.MaxOrderLifetime {
		// The store's orders list relies on the bound (ListACMEOrders).
		panic(fmt.Sprintf("ra: order lifetime %s exceeds the maximum of %s (store.MaxOrderLifetime)", cfg.OrderLifetime, store.MaxOrderLifetime))
	}
	if now == nil {
		now = time.Now
	}
	profiles := cfg.Profiles
	if profiles == nil {
		var err error
		profiles, err = policy.NewRegistry(emptyProfiles{}, DefaultProfile(cfg.CertValidity, cfg.MaxCertValidity, false, false), 0, now)
		if err != nil {
			panic(fmt.Sprintf("ra: default profile from the configuration: %v", err)) // validity <= 0 cannot pass setDefaults
		}
	}
	issuers := map[string]issuer.Issuer{}
	if iss != nil {
		issuers[iss.Name()] = iss
	}
	for _, is := range cfg.Issuers {
		issuers[is.Name()] = is
		if rm, ok := is.(issuer.Remote); ok {
			cfg.StuckAfter = max(cfg.StuckAfter, rm.IssueTimeout()+time.Minute)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var limits *ratelimit.Limiter
	if ls, ok := st.(ratelimit.Store); ok {
		limits = ratelimit.New(cfg.RateLimits, ls, now)
		if m := cfg.Metrics; m != nil {
			limits.OnRefuse = func(n ratelimit.Name) { m.RateLimited(string(n)) }
		}
	}
	return &RA{limits: limits, cfg: cfg, store: st, va: va, issuer: iss, issuers: issuers, now: func() time.Time { return now().UTC() }, log: log, node: newID(), profiles: profiles,
		sem: make(chan struct{}, cfg.ValidationWorkers), valJobs: make(chan valJob), waiters: map[string]*waiter{}, valCtx: ctx, valCancel: cancel, closing: make(chan struct{}),
		weakKeys: certlint.NewKeyChecker()}
}

// Now is the RA's clock (UTC).
func (r *RA) Now() time.Time { return r.now() }

// Config returns the effective configuration (defaults filled in).
func (r *RA) Config() Config { return r.cfg }

// Start resumes work that stopped or dead processes left unfinished (see
// Sweep) and then sweeps every SweepInterval until Shutdown.
func (r *RA) Start(ctx context.Context) error {
	if r.nodeLeases() {
		// Before any order can name this node: an order of a node
		// without a lease counts as abandoned.
		until := r.now().Add(r.cfg.NodeLease)
		if err := r.store.RenewNodeLease(ctx, r.node, until); err != nil {
			return err
		}
		r.leaseUntil.Store(until.UnixNano())
		r.leased.Store(true)
		r.hbStop, r.hbDone = make(chan struct{}), make(chan struct{})
		go func() { defer close(r.hbDone); r.heartbeat(r.hbStop) }()
	}
	if err := r.sweep(ctx, r.cfg.Exclusive); err != nil {
		r.stopHeartbeat()
		return err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.cfg.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-r.closing:
				return
			case <-t.C:
				if err := r.Sweep(r.valCtx); err != nil && r.valCtx.Err() == nil {
					r.log.Error("sweep", "err", err)
				}
			}
		}
	}()
	return nil
}

// Sweep does the cluster's housekeeping; every node runs it and each step
// is safe to run concurrently:
//   - challenges whose validation lease ran out (their node died or shut
//     down) are validated again here (RFC 8555 §8.2);
//   - orders left processing longer than StuckAfter, or whose node's
//     lease ran out (NodeLease; a node died between reserving a serial
//     and storing the certificate), become invalid, so
//     the client orders again; the reserved serial is never reused; an
//     approved order (its node died issuing it after the approval) waits
//     for issuance again instead, and is issued by this sweep; an order
//     whose upstream order was recorded (issuer.Remote) is not failed but
//     recovered: the upstream order is fetched and its certificate
//     stored (recoverRemote);
//   - used-nonce records past their expiry and pending or invalid objects
//     expired for longer than Retention are deleted.
func (r *RA) Sweep(ctx context.Context) error { return r.sweep(ctx, false) }

// sweep is Sweep; with takeOver (a process that alone uses the storage,
// starting) every lease and every processing order is left over from a
// previous process, so none needs to run out first.
func (r *RA) sweep(ctx context.Context, takeOver bool) error {
	now := r.now()
	leaseCutoff, stuckCutoff := now, now.Add(-r.cfg.StuckAfter)
	if takeOver {
		leaseCutoff, stuckCutoff = now.Add(365*24*time.Hour), now // beyond any lease
	}
	ids, err := r.store.ExpiredLeases(ctx, leaseCutoff, 1000)
	if err != nil {
		return fmt.Errorf("resume validations: %w", err)
	}
	for _, id := range ids {
		if takeOver {
			// Drop the dead process's lease so this one can take it.
			if err := r.store.LeaseChallenge(ctx, id, "", leaseCutoff, time.Time{}); err != nil && !errors.Is(err, store.ErrStale) {
				return fmt.Errorf("take over validation %s: %w", id, err)
			}
		}
		r.enqueue(id, nil)
	}
	stuck, err := r.store.ProcessingOrders(ctx, stuckCutoff)
	if err != nil {
		return fmt.Errorf("find stuck orders: %w", err)
	}
	if r.nodeLeases() {
		abandoned, err := r.store.AbandonedOrders(ctx, r.node, now)
		if err != nil {
			return fmt.Errorf("find abandoned orders: %w", err)
		}
		for _, id := range abandoned {
			if !slices.Contains(stuck, id) {
				stuck = append(stuck, id)
			}
		}
	}
	if err := r.failInterrupted(ctx, stuck, stuckCutoff, now); err != nil {
		return err
	}
	if err := r.sweepApprovals(ctx); err != nil {
		return err
	}
	if _, err := r.store.PruneNonces(ctx, now); err != nil {
		return err
	}
	if r.nodeLeases() {
		if _, err := r.store.PruneNodeLeases(ctx, now.Add(-nodeLeaseRetention)); err != nil {
			return err
		}
	}
	if err := r.pruneRateBuckets(ctx, now); err != nil {
		return err
	}
	orders, authzs, err := r.store.DeleteStale(ctx, now.Add(-r.cfg.Retention))
	if err != nil {
		return err
	}
	if len(ids)+len(stuck) > 0 || orders+authzs > 0 {
		r.log.Info("sweep", "resumed_validations", len(ids), "interrupted_orders", len(stuck), "deleted_orders", orders, "deleted_authorizations", authzs)
	}
	return nil
}

// Shutdown stops accepting validations and waits for running ones to finish
// until ctx is done; then it cancels them (they stay processing and are
// resumed by the next Start).
func (r *RA) Shutdown(ctx context.Context) {
	r.waitMu.Lock() // see enqueue
	r.closeOnce.Do(func() { close(r.closing) })
	r.waitMu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.valCancel()
		<-done
	}
	r.valCancel()
	// Last: the lease covers the issuance of an approved order that the
	// sweep loop finished above. Not dropped: it runs out by itself,
	// covering a finalize still answering.
	r.stopHeartbeat()
}

// stopHeartbeat ends the renewals of this node's lease, if they run, and
// waits for them.
func (r *RA) stopHeartbeat() {
	if r.hbStop != nil {
		close(r.hbStop)
		<-r.hbDone
		r.hbStop = nil
	}
}

// newID returns a new object ID (store.NewID: creation time first, then 80
// random bits; 22 characters that never start with '-').
func newID() string { return store.NewID(time.Now()) }

// newToken returns a challenge token: 256 random bits, base64url without
// padding (43 characters; RFC 8555 §8.3 asks for at least 128 bits).
func newToken() string { return randomB64(32) }

func randomB64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// internal logs err and returns a serverInternal problem without internals
// (acme.Internal: a client's own cancellation is logged at Info).
func (r *RA) internal(ctx context.Context, what string, err error) error {
	return acme.Internal(ctx, r.log, what, err)
}

// RevokedIntermediates returns what Config.RevokedIntermediates returns
// now (none when it is nil): the built-in CA's intermediates revoked with
// `certgate ca revoke-intermediate`, for the admin API's and the
// dashboard's renewal windows.
func (r *RA) RevokedIntermediates() []*x509.Certificate {
	if r.cfg.RevokedIntermediates == nil {
		return nil
	}
	return r.cfg.RevokedIntermediates()
}
