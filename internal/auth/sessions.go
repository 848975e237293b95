package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
)

// Session lifetimes of the web dashboard (Sessions): a session ends after
// DefaultSessionIdle without a request, and DefaultSessionMax after it
// began whatever its use.
const (
	DefaultSessionIdle = 8 * time.Hour
	DefaultSessionMax  = 24 * time.Hour
)

// sessionTouchEvery is how stale a session's last_seen may get before a
// request records a new one: the idle limit is kept to within this, and a
// page view costs no write most of the time.
const sessionTouchEvery = time.Minute

// SessionStore is what Sessions needs from storage; *store.Store
// implements it.
type SessionStore interface {
	// CreateUISession stores sess and appends ev (nil: none) in one
	// transaction.
	CreateUISession(ctx context.Context, sess *store.UISession, ev *store.AuditAppend) error
	// GetUISession returns the session whose secret hashes to secretHash
	// and its token; store.ErrNotFound when none.
	GetUISession(ctx context.Context, secretHash string) (*store.UISession, *store.APIToken, error)
	// TouchUISession records a request of the session at now.
	TouchUISession(ctx context.Context, secretHash string, now time.Time) error
	// DeleteUISession deletes the session and appends ev in one
	// transaction; store.ErrNotFound when there is none.
	DeleteUISession(ctx context.Context, secretHash string, ev *store.AuditAppend) error
	// PruneUISessions deletes the sessions that ended by now (expired, or
	// idle since before idleSince).
	PruneUISessions(ctx context.Context, now, idleSince time.Time) (int64, error)
}

// Sessions are the web dashboard's sign-in sessions: a person signs in
// with an API token (Tokens.Authenticate) and holds a random 256-bit
// session secret (the cookie's value) from then on. The database keeps
// the secret's SHA-256 only, so any node of a cluster accepts the session
// and a copy of the database signs no one in. A session acts with its
// token's role and ends when it is idle for longer than the idle limit,
// when it reaches its maximum age, when its token is revoked or expires,
// or at sign-out. Sign-in and sign-out are audited (session.sign_in,
// session.sign_out).
type Sessions struct {
	st     SessionStore
	tokens *Tokens
	log    *audit.Log
	now    func() time.Time
	idle   time.Duration
	maxAge time.Duration
}

// NewSessions returns the session service over st, authenticating with
// tokens and auditing in log; now may be nil (time.Now), idle and maxAge 0
// (DefaultSessionIdle, DefaultSessionMax).
func NewSessions(st SessionStore, tokens *Tokens, log *audit.Log, now func() time.Time, idle, maxAge time.Duration) *Sessions {
	if now == nil {
		now = time.Now
	}
	if idle <= 0 {
		idle = DefaultSessionIdle
	}
	if maxAge <= 0 {
		maxAge = DefaultSessionMax
	}
	return &Sessions{st: st, tokens: tokens, log: log, now: now, idle: idle, maxAge: maxAge}
}

// Session is a signed-in session as a request sees it.
type Session struct {
	ID        string     // public ID, 16 hex digits (audit object ID)
	Principal *Principal // who: the token signed in with, and its role
	ExpiresAt time.Time  // the absolute end (UTC)
	// CSRF is the token the session's forms carry (CSRFToken of its
	// secret): only a page of the session can know it.
	CSRF string
}

// sessionSecretLen is the length of a session secret: 32 random bytes,
// base64url without padding.
const sessionSecretLen = 43

// SignIn authenticates token (an API token as `certgate token create`
// printed it) and starts a session for it, audited as session.sign_in in
// the same transaction. It returns the session's secret (for the cookie;
// never stored) and the session. Ended sessions of any token are pruned
// first. Errors: ErrUnauthenticated (a malformed, unknown, revoked or
// expired token), or a storage error.
func (s *Sessions) SignIn(ctx context.Context, token string) (string, *Session, error) {
	p, err := s.tokens.Authenticate(ctx, token)
	if err != nil {
		return "", nil, err
	}
	return s.startSession(ctx, p, func(rec *store.UISession) { rec.TokenID = p.TokenID })
}

// SignInSSO starts a session for the person id (a verified ID token whose
// claims mapped to id.Role, OIDC.Exchange), audited as session.sign_in
// (actor sso:NAME#SUBJECT) in the same transaction. It returns the
// session's secret (for the cookie) and the session, which acts with
// id.Role until it ends (idle, maximum age, sign-out): a change of the
// person's groups at the provider applies at their next sign-in. Ended
// sessions are pruned first. Errors: ErrUnauthenticated for an identity
// without a role; a storage error.
func (s *Sessions) SignInSSO(ctx context.Context, id *Identity) (string, *Session, error) {
	if id == nil || id.Subject == "" || id.Role == "" {
		return "", nil, ErrUnauthenticated
	}
	p := &Principal{TokenName: id.Name, Role: id.Role, SSOIssuer: id.Issuer, SSOSubject: id.Subject, DisplayName: id.Name}
	return s.startSession(ctx, p, func(rec *store.UISession) {
		rec.Role, rec.SSOIssuer, rec.SSOSubject, rec.DisplayName = string(id.Role), id.Issuer, id.Subject, id.Name
	})
}

// startSession prunes ended sessions, then stores a new session for p
// (who fill sets on the row: its token, or its SSO identity) with its
// session.sign_in audit event in one transaction. It returns the
// session's secret (for the cookie; never stored) and the session.
func (s *Sessions) startSession(ctx context.Context, p *Principal, fill func(*store.UISession)) (string, *Session, error) {
	now := s.now().UTC()
	if _, err := s.st.PruneUISessions(ctx, now, now.Add(-s.idle)); err != nil {
		return "", nil, err
	}
	sec, rec, err := newSessionRecord(now, s.maxAge)
	if err != nil {
		return "", nil, err
	}
	fill(rec)
	ev, err := s.log.Prepare(ctx, audit.Event{Actor: p.Actor(), Action: audit.ActionSessionSignIn, ObjectType: audit.ObjectSession,
		ObjectID: rec.ID, After: sessionView(rec, p)})
	if err != nil {
		return "", nil, err
	}
	if err := s.st.CreateUISession(ctx, rec, ev); err != nil {
		return "", nil, err
	}
	return sec, &Session{ID: rec.ID, Principal: p, ExpiresAt: rec.ExpiresAt, CSRF: CSRFToken(sec)}, nil
}

// RecordSignInRefused audits a refused SSO sign-in as
// session.sign_in_refused: actor the person (sso:NAME#SUBJECT), object
// type session without an ID, after the issuer, subject, name, email,
// the role claim's values and the reason (refused.Reason).
func (s *Sessions) RecordSignInRefused(ctx context.Context, refused *SignInRefusedError) error {
	id := refused.Identity
	return s.log.Record(ctx, audit.Event{Actor: audit.SSOActor(id.Name, id.Subject), Action: audit.ActionSessionSignInRefused,
		ObjectType: audit.ObjectSession, After: map[string]any{"sso_issuer": id.Issuer, "sso_subject": id.Subject, "name": id.Name,
			"email": id.Email, "email_verified": id.EmailVerified, "role_claim_values": id.Values, "reason": refused.Reason}})
}

// newSessionRecord returns a new session secret and its row (no token or
// SSO identity yet), created at now and ending maxAge later.
func newSessionRecord(now time.Time, maxAge time.Duration) (string, *store.UISession, error) {
	secret := make([]byte, 32)
	idb := make([]byte, 8)
	if _, err := rand.Read(secret); err != nil {
		return "", nil, fmt.Errorf("session secret: %w", err)
	}
	if _, err := rand.Read(idb); err != nil {
		return "", nil, fmt.Errorf("session id: %w", err)
	}
	sec := base64.RawURLEncoding.EncodeToString(secret)
	return sec, &store.UISession{SecretHash: hashToken(sec), ID: hex.EncodeToString(idb), CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(maxAge)}, nil
}

// sessionView is a session as the audit log records it: never its secret
// or the secret's hash. A token's session names its token, an SSO
// session its issuer, subject and display name.
func sessionView(rec *store.UISession, p *Principal) map[string]any {
	if rec.IsSSO() {
		return map[string]any{"sso_issuer": rec.SSOIssuer, "sso_subject": rec.SSOSubject, "name": rec.DisplayName, "role": string(p.Role),
			"created_at": rec.CreatedAt, "expires_at": rec.ExpiresAt}
	}
	return map[string]any{"token_id": rec.TokenID, "role": string(p.Role), "created_at": rec.CreatedAt, "expires_at": rec.ExpiresAt}
}

// sessionPrincipal is who acts in session rec: its token (tok) with the
// token's role, or for an SSO session (tok nil) the person with the role
// mapped at sign-in.
func sessionPrincipal(rec *store.UISession, tok *store.APIToken) *Principal {
	if tok == nil {
		return &Principal{TokenName: rec.DisplayName, Role: Role(rec.Role), SSOIssuer: rec.SSOIssuer, SSOSubject: rec.SSOSubject,
			DisplayName: rec.DisplayName}
	}
	return &Principal{TokenID: tok.ID, TokenName: tok.Name, Role: Role(tok.Role)}
}

// Lookup returns the session whose secret is secret (the cookie's value)
// and records its use. Errors: ErrUnauthenticated when there is no such
// session or it has ended (idle too long, past its maximum age, its token
// revoked or expired), or a storage error.
func (s *Sessions) Lookup(ctx context.Context, secret string) (*Session, error) {
	if !sessionSecretShape(secret) {
		return nil, ErrUnauthenticated
	}
	h := hashToken(secret)
	rec, tok, err := s.st.GetUISession(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !now.Before(rec.ExpiresAt) || now.Sub(rec.LastSeen) > s.idle {
		return nil, ErrUnauthenticated
	}
	if tok != nil && (!tok.RevokedAt.IsZero() || (!tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt))) {
		return nil, ErrUnauthenticated
	}
	p := sessionPrincipal(rec, tok)
	if _, err := ParseRole(string(p.Role)); err != nil {
		return nil, ErrUnauthenticated // a row no sign-in writes
	}
	if now.Sub(rec.LastSeen) >= sessionTouchEvery {
		if err := s.st.TouchUISession(ctx, h, now.UTC()); err != nil {
			return nil, err
		}
	}
	return &Session{ID: rec.ID, Principal: p, ExpiresAt: rec.ExpiresAt, CSRF: CSRFToken(secret)}, nil
}

// SignOut ends the session whose secret is secret, audited as
// session.sign_out in the same transaction. Errors: ErrUnauthenticated
// when there is no such session (already signed out, or pruned), or a
// storage error.
func (s *Sessions) SignOut(ctx context.Context, secret string) error {
	if !sessionSecretShape(secret) {
		return ErrUnauthenticated
	}
	h := hashToken(secret)
	rec, tok, err := s.st.GetUISession(ctx, h)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUnauthenticated
	}
	if err != nil {
		return err
	}
	p := sessionPrincipal(rec, tok)
	ev, err := s.log.Prepare(ctx, audit.Event{Actor: p.Actor(), Action: audit.ActionSessionSignOut, ObjectType: audit.ObjectSession,
		ObjectID: rec.ID, Before: sessionView(rec, p)})
	if err != nil {
		return err
	}
	if err := s.st.DeleteUISession(ctx, h, ev); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrUnauthenticated
		}
		return err
	}
	return nil
}

// CSRFToken is the anti-CSRF token of the session whose secret is secret:
// base64url(HMAC-SHA256(secret, "certgate ui csrf")). A page of the
// session carries it in every form; another site knows neither the
// secret (an HttpOnly cookie) nor the token.
func CSRFToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("certgate ui csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports whether token is sess's CSRF token (constant time).
func (sess *Session) CheckCSRF(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), []byte(sess.CSRF)) == 1
}

// sessionSecretShape reports whether s has the shape of a session secret
// (43 base64url characters): nothing else reaches the store.
func sessionSecretShape(s string) bool {
	if len(s) != sessionSecretLen {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}
