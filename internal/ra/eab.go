package ra

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
	jose "github.com/go-jose/go-jose/v4"
)

// eabAlgorithms are the MAC algorithms accepted for external account
// bindings (RFC 8555 §7.3.4 requires a MAC-based algorithm; RFC 7518 §3.2).
var eabAlgorithms = []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}

// EABKeySize is the length in bytes of the HMAC keys certgate creates:
// 64 bytes, enough for HS512 (RFC 7518 §3.2 wants a key at least as long
// as the hash output).
const EABKeySize = 64

// NewAccountIn is NewAccount on the directory of profile ("" for the
// default), whose newAccount URL is url, with external account binding
// (RFC 8555 §7.3.4):
//   - a key that already has an account gets it back, and
//     onlyReturnExisting never creates one, without EAB in both cases
//     (also when a concurrent request with the same key created the
//     account meanwhile and spent a single-use EAB key);
//   - with Config.TermsOfService set, a request that would create an
//     account without "termsOfServiceAgreed": true is userActionRequired
//     (checkTermsAgreed), before any binding is checked or spent;
//   - a profile that requires EAB answers externalAccountRequired when the
//     request has none;
//   - an EAB that is not a valid flattened JWS with HS256/384/512, a kid
//     and the newAccount url, or whose payload is not the account key,
//     is malformed; an unknown, used, revoked or expired kid, a key for
//     another profile or a MAC that does not verify is unauthorized.
//
// The new account is bound to the EAB key (owner, default attributes,
// allowlist, pre-authorization), a single-use key is spent,
// new-accounts-per-ip is spent and the creation is audited
// (account.create), in the same transaction; a request that gets an
// existing account back records and spends nothing.
func (r *RA) NewAccountIn(ctx context.Context, profile, url, tp string, jwk []byte, req acme.NewAccountRequest) (*store.Account, bool, error) {
	existing, err := r.store.GetAccountByThumbprint(ctx, tp)
	switch {
	case err == nil:
		if existing.Status != acme.StatusValid {
			return nil, false, AccountNotValid(existing)
		}
		return existing, false, nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, false, r.internal(ctx, "account lookup", err)
	case req.OnlyReturnExisting:
		return nil, false, acme.NewProblem(acme.AccountDoesNotExist, "no account exists for this key")
	}
	// Before the binding is checked: a refused request spends no
	// single-use EAB key.
	if err := r.checkTermsAgreed(req); err != nil {
		return nil, false, err
	}
	p, err := r.Profile(ctx, profile)
	if err != nil {
		return nil, false, err
	}
	if len(req.ExternalAccountBinding) == 0 || string(req.ExternalAccountBinding) == "null" {
		if p.RequireEAB {
			return nil, false, acme.NewProblem(acme.ExternalAccountRequired,
				"profile %s requires an external account binding; ask the CA's administrator for an EAB key id and HMAC key", p.Name)
		}
		return r.createAccount(ctx, p.Name, tp, jwk, req)
	}
	k, err := r.verifyEAB(ctx, req.ExternalAccountBinding, url, tp)
	if err != nil {
		if a, ok := r.createdMeanwhile(ctx, tp); ok {
			return a, false, nil
		}
		return nil, false, err
	}
	if profile != "" && k.Profile != p.Name {
		return nil, false, acme.NewProblem(acme.Unauthorized, "EAB key %s is for profile %s; use that profile's directory", k.KID, k.Profile)
	}
	contact, sp, refused, err := r.admitNewAccount(ctx, req.Contact, jwk)
	if err != nil {
		return nil, false, err
	}
	a := &store.Account{ID: newID(), KeyThumbprint: tp, JWK: jwk, Status: acme.StatusValid, Contact: contact,
		TOSAgreed: req.TermsOfServiceAgreed, CreatedAt: r.now(), EABKid: k.KID}
	events, err := r.auditEvent(ctx, createEvent(a, p.Name, k))
	if err != nil {
		return nil, false, r.internal(ctx, "audit event", err)
	}
	err = r.store.CreateAccountEAB(ctx, a, r.now(), sp, events...)
	if p := rateRefusal(err, refused); p != nil {
		return nil, false, p
	}
	switch {
	case err == nil:
	case errors.Is(err, store.ErrStale):
		if a, ok := r.createdMeanwhile(ctx, tp); ok {
			return a, false, nil
		}
		// The key was spent, revoked or expired since verifyEAB read it.
		if now, err := r.store.GetEABKey(ctx, k.KID); err == nil {
			k = now
		}
		return nil, false, r.unusableEAB(k)
	case errors.Is(err, store.ErrConflict): // created concurrently with the same key
		if existing, err2 := r.store.GetAccountByThumbprint(ctx, tp); err2 == nil {
			return existing, false, nil
		}
		return nil, false, r.internal(ctx, "account creation", err)
	default:
		return nil, false, r.internal(ctx, "account creation", err)
	}
	r.log.InfoContext(ctx, "account created", "account", a.ID, "eab_kid", k.KID, "owner", k.Owner)
	return a, true, nil
}

// createdMeanwhile returns the valid account of key thumbprint tp when a
// concurrent newAccount with the same key created it after this one
// looked (a client retrying; with a single-use EAB key the retry finds the
// key spent by the first request): RFC 8555 §7.3.1 gives a key that has
// an account that account back, as NewAccountIn does when it finds one
// at first.
func (r *RA) createdMeanwhile(ctx context.Context, tp string) (*store.Account, bool) {
	a, err := r.store.GetAccountByThumbprint(ctx, tp)
	if err != nil || a.Status != acme.StatusValid {
		return nil, false
	}
	return a, true
}

// eabCompact checks that raw, an externalAccountBinding, is a flattened
// JWS (RFC 7515 §7.2.2) as RFC 8555 §7.3.4 requires, with exactly the
// members "protected", "payload" and "signature", each a string (no
// "signatures", no unprotected "header", as the outer JWS, RFC 8555 §6.2),
// and returns the same three values in the compact form
// (PROTECTED.PAYLOAD.SIGNATURE). Members are matched by their exact
// names: encoding/json's case-insensitive matching could otherwise let
// "Protected" stand for "protected". Errors: a malformed problem.
func eabCompact(raw json.RawMessage) (string, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return "", acme.NewProblem(acme.Malformed, "externalAccountBinding must be a JSON object, a flattened JWS (RFC 8555 §7.3.4)")
	}
	if _, ok := members["signatures"]; ok {
		return "", acme.NewProblem(acme.Malformed, "externalAccountBinding must be a flattened JWS, not the general serialization (\"signatures\")")
	}
	if _, ok := members["header"]; ok {
		return "", acme.NewProblem(acme.Malformed, "externalAccountBinding must not have an unprotected header (\"header\"); put \"alg\", \"kid\" and \"url\" in the protected header")
	}
	parts := make([]string, 3)
	for i, name := range [...]string{"protected", "payload", "signature"} {
		m, ok := members[name]
		if !ok {
			return "", acme.NewProblem(acme.Malformed, "externalAccountBinding needs \"protected\", \"payload\" and \"signature\"")
		}
		if len(m) == 0 || m[0] != '"' || json.Unmarshal(m, &parts[i]) != nil {
			return "", acme.NewProblem(acme.Malformed, "externalAccountBinding member %q must be a string", name)
		}
		if strings.Contains(parts[i], ".") {
			return "", acme.NewProblem(acme.Malformed, "externalAccountBinding member %q is not base64url", name)
		}
	}
	return strings.Join(parts, "."), nil
}

// verifyEAB checks an externalAccountBinding JWS (RFC 8555 §7.3.4) and
// returns its stored key.
func (r *RA) verifyEAB(ctx context.Context, raw json.RawMessage, url, tp string) (*store.EABKey, error) {
	compact, perr := eabCompact(raw)
	if perr != nil {
		return nil, perr
	}
	jws, err := jose.ParseSignedCompact(compact, eabAlgorithms)
	if err != nil {
		return nil, acme.NewProblem(acme.Malformed, "externalAccountBinding is not a flattened JWS with HS256, HS384 or HS512: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, acme.NewProblem(acme.Malformed, "externalAccountBinding must have exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if h.KeyID == "" {
		return nil, acme.NewProblem(acme.Malformed, "externalAccountBinding has no \"kid\"")
	}
	if h.Nonce != "" {
		return nil, acme.NewProblem(acme.Malformed, "externalAccountBinding must not carry a nonce")
	}
	if u, _ := h.ExtraHeaders["url"].(string); u != url {
		return nil, acme.NewProblem(acme.Malformed, "externalAccountBinding \"url\" must be the newAccount URL %s", url)
	}
	var k *store.EABKey
	err = store.ErrNotFound // a kid with a NUL or invalid UTF-8 names no key (PostgreSQL would refuse it)
	if store.PlainText(h.KeyID) {
		k, err = r.store.GetEABKey(ctx, h.KeyID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, acme.NewProblem(acme.Unauthorized, "unknown EAB key id %q", h.KeyID)
	}
	if err != nil {
		return nil, r.internal(ctx, "EAB key lookup", err)
	}
	if k.Status != store.EABActive || (!k.Expires.IsZero() && !r.now().Before(k.Expires)) {
		return nil, r.unusableEAB(k)
	}
	payload, err := jws.Verify(k.HMACKey)
	if err != nil {
		return nil, acme.NewProblem(acme.Unauthorized, "the externalAccountBinding MAC does not verify with EAB key %s", k.KID)
	}
	var inner jose.JSONWebKey
	if err := inner.UnmarshalJSON(payload); err != nil || !inner.Valid() || !inner.IsPublic() {
		return nil, acme.NewProblem(acme.Malformed, "the externalAccountBinding payload must be the account's public JWK")
	}
	itp, err := inner.Thumbprint(crypto.SHA256)
	if err != nil || !hmac.Equal([]byte(base64.RawURLEncoding.EncodeToString(itp)), []byte(tp)) {
		return nil, acme.NewProblem(acme.Malformed, "the externalAccountBinding payload is not the key that signs the request")
	}
	return k, nil
}

// unusableEAB is the unauthorized problem for an EAB key that can no
// longer bind an account, saying why: spent (single-use), revoked or
// expired.
func (r *RA) unusableEAB(k *store.EABKey) *acme.Problem {
	const ask = "ask the CA's administrator for a new EAB key"
	switch {
	case k.Status == store.EABUsed:
		return acme.NewProblem(acme.Unauthorized, "EAB key %s was single-use and has bound an account already; %s", k.KID, ask)
	case k.Status == store.EABRevoked:
		return acme.NewProblem(acme.Unauthorized, "EAB key %s was revoked; %s", k.KID, ask)
	case !k.Expires.IsZero() && !r.now().Before(k.Expires):
		return acme.NewProblem(acme.Unauthorized, "EAB key %s expired at %s; %s", k.KID, k.Expires.UTC().Format(time.RFC3339), ask)
	}
	return acme.NewProblem(acme.Unauthorized, "EAB key %s can no longer bind an account; %s", k.KID, ask)
}

// CheckEABAttributes checks an EAB key's default attributes and allowlist
// against its profile before the key is created: each attribute must be
// declared with a non-empty valid value (required ones may come later,
// from the account or the order; policy.CheckPartialAttributes) and each
// allow entry must be a valid rule that some name the profile accepts
// can match (policy.CheckRule, policy.Profile.CheckAllowWithin). An attribute error names the EAB key being created
// as the source, with the fix.
func CheckEABAttributes(p *policy.Profile, attrs map[string]string, allow []string) error {
	if err := policy.CheckRules(allow); err != nil {
		return err
	}
	if err := p.CheckAllowWithin(allow); err != nil {
		return err
	}
	if err := p.CheckPartialAttributes(attrs); err != nil {
		return fmt.Errorf("%w (in the EAB key being created: declare them in the profile, or leave them out of the key or give a valid value)", err)
	}
	return nil
}

// EABKeyRequest describes an EAB key to create (certgate eab create and
// the admin API).
type EABKeyRequest struct {
	Owner      string            // team or person the bound accounts belong to
	Attributes map[string]string // custom attributes of the accounts it binds
	Allow      []string          // identifier rules (policy.Rule)
	Expires    time.Duration     // 0: never
	SingleUse  bool              // the key binds one account only
}

// NewEABKey returns a new active EAB key for profile p: a random key id
// ("kid-" + 16 base64url characters) and an EABKeySize-byte HMAC key from
// crypto/rand whose base64url form does not begin with '-', after checking the attributes and allowlist against p
// (CheckEABAttributes). The caller stores it.
func NewEABKey(p *policy.Profile, req EABKeyRequest, now time.Time) (*store.EABKey, error) {
	if err := CheckEABAttributes(p, req.Attributes, req.Allow); err != nil {
		return nil, err
	}
	if req.Expires < 0 {
		return nil, errors.New("the expiry must be positive")
	}
	if err := store.CheckLifetime(now, req.Expires); err != nil {
		return nil, fmt.Errorf("EAB key %w", err)
	}
	k := &store.EABKey{KID: "kid-" + randomB64(12), HMACKey: make([]byte, EABKeySize), Profile: p.Name, Owner: req.Owner,
		Attributes: req.Attributes, Allow: req.Allow, SingleUse: req.SingleUse, Status: store.EABActive, CreatedAt: now}
	// The key is handed out base64url-encoded and typed as a command-line
	// argument (certbot --eab-hmac-key KEY, lego --eab.hmac KEY): one that
	// began with '-' (1 in 64) would be read as an option by certbot's
	// argument parser and others, so such draws are made again (the
	// first character then has 63 values instead of 64: 0.02 bits less).
	for {
		if _, err := rand.Read(k.HMACKey); err != nil {
			return nil, fmt.Errorf("EAB key: %w", err)
		}
		if !strings.HasPrefix(base64.RawURLEncoding.EncodeToString(k.HMACKey[:3]), "-") {
			break
		}
	}
	if req.Expires > 0 {
		k.Expires = now.Add(req.Expires)
	}
	return k, nil
}
