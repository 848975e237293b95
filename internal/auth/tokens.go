package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
)

// Errors returned (wrapped) by Tokens.
var (
	// ErrUnauthenticated: no token, a malformed, unknown, revoked or
	// expired token. Callers answer 401 without saying which.
	ErrUnauthenticated = errors.New("auth: invalid or missing token")
	// ErrNameTaken: an unrevoked token already has that name.
	ErrNameTaken = errors.New("auth: token name in use")
	// ErrNoToken: no token has that ID or (unrevoked) name.
	ErrNoToken = errors.New("auth: no such token")
	// ErrRevoked: the token is already revoked.
	ErrRevoked = errors.New("auth: token already revoked")
	// ErrInvalid: a token request with a bad name, role or lifetime.
	ErrInvalid = errors.New("auth: invalid token request")
)

// invalidError is a refused token request: its own message, and
// errors.Is(err, ErrInvalid); field names the request's field at fault.
type invalidError struct {
	error
	field string
	value any
}

func (invalidError) Is(target error) bool { return target == ErrInvalid }

// InvalidField returns the field of the refused token request — "name",
// "role" or "expires" (the lifetime), as the admin API's request body and
// the CLI's flags call them — and the value refused.
func (e invalidError) InvalidField() (field string, value any) { return e.field, e.value }

// TokenPrefix starts every token, so that secret scanners (and the
// request log's redaction) recognize them.
const TokenPrefix = "cgt_"

// Store is what Tokens needs from storage; *store.Store implements it.
type Store interface {
	// CreateAPIToken stores t and appends ev (nil: none) in one
	// transaction; store.ErrConflict when an unrevoked token has t's name.
	CreateAPIToken(ctx context.Context, t *store.APIToken, ev *store.AuditAppend) error
	// GetAPIToken returns the token with id; store.ErrNotFound when none.
	GetAPIToken(ctx context.Context, id string) (*store.APIToken, error)
	// FindAPIToken returns the token with ID ref, else the unrevoked token
	// named ref; store.ErrNotFound when neither exists.
	FindAPIToken(ctx context.Context, ref string) (*store.APIToken, error)
	// ListAPITokens returns the tokens by name, then creation time;
	// revoked ones only when includeRevoked.
	ListAPITokens(ctx context.Context, includeRevoked bool) ([]*store.APIToken, error)
	// RevokeAPIToken marks token id revoked at at and appends ev (nil:
	// none) in one transaction; store.ErrStale when already revoked,
	// store.ErrNotFound when there is no such token.
	RevokeAPIToken(ctx context.Context, id string, at time.Time, ev *store.AuditAppend) error
}

// Principal is an authenticated caller: the holder of an API token, or a
// person signed in to the dashboard with OpenID Connect (TokenID "",
// SSOSubject set).
type Principal struct {
	TokenID   string // ID of the token the caller presented; "" for SSO
	TokenName string // its name (audit actors: TokenActor); for SSO, DisplayName
	Role      Role   // its role (for SSO, mapped from the ID token at sign-in)
	// SSOIssuer and SSOSubject are the ID token's iss and sub (OpenID
	// Connect Core 1.0 §2) of a person signed in with SSO; "" otherwise.
	SSOIssuer, SSOSubject string
	// DisplayName names the person of an SSO sign-in (email,
	// preferred_username, name or sub); "" otherwise.
	DisplayName string
}

// Actor is the principal as an audit actor: "token:NAME#ID"
// (audit.TokenActor), which tells apart tokens that had the same name; for
// a person signed in with SSO "sso:NAME#SUBJECT" (audit.SSOActor).
func (p *Principal) Actor() string {
	if p.TokenID == "" && p.SSOSubject != "" {
		return audit.SSOActor(p.DisplayName, p.SSOSubject)
	}
	return audit.TokenActor(p.TokenName, p.TokenID)
}

// Can reports whether the principal holds permission perm.
func (p *Principal) Can(perm Permission) bool { return Allowed(p.Role, perm) }

// Tokens manages API tokens. A token is "cgt_" + ID (16 hex digits) + "_" +
// 43 base64url characters (a 256-bit random secret); the store keeps the
// hex SHA-256 of the whole string, compared in constant time.
type Tokens struct {
	st  Store
	log *audit.Log
	now func() time.Time
}

// NewTokens returns the token service over st, recording changes in log;
// now may be nil (time.Now).
func NewTokens(st Store, log *audit.Log, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{st: st, log: log, now: now}
}

// CreateRequest describes a token to create.
type CreateRequest struct {
	Name  string        // unique among unrevoked tokens
	Role  Role          // the role the token carries
	TTL   time.Duration // 0: never expires
	Actor string        // who creates it (audit)
}

// Create makes a token and returns its secret string (shown once, never
// stored) and its record. The creation is audited in the same
// transaction. Errors: ErrNameTaken, ErrInvalid (a bad name, role or
// lifetime).
func (t *Tokens) Create(ctx context.Context, req CreateRequest) (string, *store.APIToken, error) {
	if err := CheckName(req.Name); err != nil {
		return "", nil, invalidError{err, "name", req.Name}
	}
	if _, err := ParseRole(string(req.Role)); err != nil {
		return "", nil, invalidError{err, "role", string(req.Role)}
	}
	if req.TTL < 0 {
		return "", nil, invalidError{errors.New("token lifetime must be positive"), "expires", req.TTL.String()}
	}
	idb := make([]byte, 8)
	secret := make([]byte, 32)
	if _, err := rand.Read(idb); err != nil {
		return "", nil, fmt.Errorf("token id: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return "", nil, fmt.Errorf("token secret: %w", err)
	}
	id := hex.EncodeToString(idb)
	tok := TokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret)
	now := t.now().UTC()
	if err := store.CheckLifetime(now, req.TTL); err != nil {
		return "", nil, invalidError{fmt.Errorf("token %w", err), "expires", req.TTL.String()}
	}
	rec := &store.APIToken{ID: id, Name: req.Name, Role: string(req.Role), SecretHash: hashToken(tok), CreatedAt: now, CreatedBy: req.Actor}
	if req.TTL > 0 {
		rec.ExpiresAt = now.Add(req.TTL)
	}
	ev, err := t.log.Prepare(ctx, audit.Event{Actor: req.Actor, Action: audit.ActionTokenCreate, ObjectType: audit.ObjectToken,
		ObjectID: id, After: View(rec, now)})
	if err != nil {
		return "", nil, err
	}
	if err := t.st.CreateAPIToken(ctx, rec, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return "", nil, fmt.Errorf("%w: %q", ErrNameTaken, req.Name)
		}
		return "", nil, err
	}
	return tok, rec, nil
}

// CheckName returns nil when n may name a token: 1 to 64 letters, digits
// and - _ . @, not shaped like a token ID (16 lower-case hex digits), else
// an error saying which rule n breaks.
func CheckName(n string) error {
	if n == "" || len(n) > 64 {
		return errors.New("token name must have 1 to 64 characters")
	}
	if _, err := hex.DecodeString(n); err == nil && len(n) == 16 && strings.ToLower(n) == n {
		// Revoke takes an ID or a name: a name shaped like an ID could
		// make an operator revoke another token than the one meant.
		return fmt.Errorf("token name %q looks like a token ID; choose another", n)
	}
	if _, ok := pastedTokenID(n); ok {
		// Revoke takes a whole token too, by this shape.
		return fmt.Errorf("token name %s looks like a token; choose another", RedactToken(n))
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.@", c)) {
			return fmt.Errorf("token name %q: use letters, digits and - _ . @", n)
		}
	}
	return nil
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// Authenticate returns the principal holding tok (the bearer token as
// sent), or ErrUnauthenticated when it is malformed, unknown, revoked or
// expired.
func (t *Tokens) Authenticate(ctx context.Context, tok string) (*Principal, error) {
	id, ok := tokenID(tok)
	if !ok {
		return nil, ErrUnauthenticated
	}
	rec, err := t.st.GetAPIToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("token lookup: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(tok)), []byte(rec.SecretHash)) != 1 {
		return nil, ErrUnauthenticated
	}
	now := t.now()
	if !rec.RevokedAt.IsZero() || (!rec.ExpiresAt.IsZero() && !now.Before(rec.ExpiresAt)) {
		return nil, ErrUnauthenticated
	}
	return &Principal{TokenID: rec.ID, TokenName: rec.Name, Role: Role(rec.Role)}, nil
}

// tokenLen is the length of every token Create makes: the prefix, 16 hex
// digits, "_" and 43 base64url characters.
const tokenLen = len(TokenPrefix) + 16 + 1 + 43

// tokenID returns the ID of tok when tok has the shape of the tokens Create
// makes ("cgt_", 16 lower-case hex digits, "_", 43 base64url characters),
// else false. Nothing else reaches the store: an ID of other bytes (invalid
// UTF-8, which PostgreSQL's text type refuses) failed the lookup with an
// error (500) instead of ErrUnauthenticated (401), and an oversized bearer
// value was hashed whole.
func tokenID(tok string) (string, bool) {
	if len(tok) != tokenLen || !strings.HasPrefix(tok, TokenPrefix) || tok[len(TokenPrefix)+16] != '_' {
		return "", false
	}
	id := tok[len(TokenPrefix) : len(TokenPrefix)+16]
	for i := range len(id) {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	if secret, err := base64.RawURLEncoding.DecodeString(tok[len(TokenPrefix)+17:]); err != nil || len(secret) != 32 {
		return "", false
	}
	return id, true
}

// List returns the tokens (never their secrets), revoked ones only when
// includeRevoked.
func (t *Tokens) List(ctx context.Context, includeRevoked bool) ([]*store.APIToken, error) {
	return t.st.ListAPITokens(ctx, includeRevoked)
}

// pastedTokenID returns the ID of ref when ref is shaped like a whole token
// ("cgt_", 16 lower-case hex digits, "_", then anything: a token pasted
// whole, even cut short or with its secret mistyped), else false.
// CheckName refuses such names, so ref cannot also be a token's name.
func pastedTokenID(ref string) (string, bool) {
	n := len(TokenPrefix)
	if len(ref) < n+17 || !strings.HasPrefix(ref, TokenPrefix) || ref[n+16] != '_' {
		return "", false
	}
	id := ref[n : n+16]
	for i := range len(id) {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", false
		}
	}
	return id, true
}

// RedactToken returns ref to be shown in a message or log: a ref shaped
// like a whole token (see Revoke) cut after its ID, "cgt_ID_...", so that
// its secret is never printed; any other ref (an ID or a name) as it is.
func RedactToken(ref string) string {
	if id, ok := pastedTokenID(ref); ok {
		return TokenPrefix + id + "_..."
	}
	return ref
}

// Revoke revokes the token whose ID or (unrevoked) name is ref and audits
// it in the same transaction. ref may also be a whole token
// ("cgt_ID_SECRET", as printed by Create): its ID is revoked, and its
// secret is in no error (RedactToken). Errors: ErrNoToken, ErrRevoked.
func (t *Tokens) Revoke(ctx context.Context, ref, actor string) (*store.APIToken, error) {
	if id, ok := pastedTokenID(ref); ok {
		ref = id
	}
	rec, err := t.st.FindAPIToken(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNoToken, ref)
	}
	if err != nil {
		return nil, err
	}
	if !rec.RevokedAt.IsZero() {
		return nil, fmt.Errorf("%w: %s", ErrRevoked, rec.ID)
	}
	now := t.now().UTC()
	after := *rec
	after.RevokedAt = now
	ev, err := t.log.Prepare(ctx, audit.Event{Actor: actor, Action: audit.ActionTokenRevoke, ObjectType: audit.ObjectToken,
		ObjectID: rec.ID, Before: View(rec, now), After: View(&after, now)})
	if err != nil {
		return nil, err
	}
	if err := t.st.RevokeAPIToken(ctx, rec.ID, now, ev); err != nil {
		if errors.Is(err, store.ErrStale) {
			return nil, fmt.Errorf("%w: %s", ErrRevoked, rec.ID)
		}
		return nil, err
	}
	return &after, nil
}

// TokenView is a token as shown to people and in the audit log: never the
// secret or its hash.
type TokenView struct {
	ID        string     `json:"id" doc:"token ID (the 16 hex digits after cgt_ in the token)"`
	Name      string     `json:"name"`                                        // unique among unrevoked tokens
	Role      string     `json:"role" enum:"admin,approver,operator,auditor"` // the role it carries
	Status    string     `json:"status" enum:"active,expired,revoked"`        // at the time of the view
	CreatedAt time.Time  `json:"created_at"`                                  // UTC
	CreatedBy string     `json:"created_by"`                                  // audit actor that created it
	ExpiresAt *time.Time `json:"expires_at,omitempty"`                        // nil: never expires
	RevokedAt *time.Time `json:"revoked_at,omitempty"`                        // nil: not revoked
}

// View returns t as a TokenView with its status at now.
func View(t *store.APIToken, now time.Time) TokenView {
	v := TokenView{ID: t.ID, Name: t.Name, Role: t.Role, Status: "active", CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt
		v.ExpiresAt = &e
		if !now.Before(e) {
			v.Status = "expired"
		}
	}
	if !t.RevokedAt.IsZero() {
		r := t.RevokedAt
		v.RevokedAt = &r
		v.Status = "revoked"
	}
	return v
}
