package ra

import (
	"context"
	"errors"
	"net/mail"
	"slices"
	"strings"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// ---- accounts (RFC 8555 §7.3) ----

// maxContacts bounds an account's contacts, counted once duplicates are
// removed.
const maxContacts = 10

// RFC 5321 §4.5.3.1 size limits of an e-mail address, in octets: the local
// part (§4.5.3.1.1), the domain (§4.5.3.1.2), and the whole address, the
// path of §4.5.3.1.3 (256) without its angle brackets.
const (
	maxLocalPart    = 64
	maxMailDomain   = 255
	maxEmailAddress = 254
)

// NormalizeContacts checks account contact URLs (RFC 8555 §7.3) and
// returns them normalised: only "mailto:" with one plain ASCII address
// (no hfields, no display name, no SMTPUTF8 (RFC 6531): a U-label domain
// is sent as its A-label), within the RFC 5321 §4.5.3.1 limits (local
// part ≤ 64 octets, domain ≤ 255, address ≤ 254), the domain a valid DNS
// name with a dot. The scheme is written "mailto:" and the domain in lower
// case (both case-insensitive; the local part is kept as sent), and
// duplicates of the normalised form are removed, the first kept, in the
// order given; at most maxContacts remain. Errors are invalidContact or
// unsupportedContact problems. A nil list gives nil.
func NormalizeContacts(contacts []string) ([]string, error) {
	if contacts == nil {
		return nil, nil
	}
	out := make([]string, 0, len(contacts))
	for _, c := range contacts {
		norm, err := normalizeContact(c)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, norm) {
			out = append(out, norm)
		}
	}
	if len(out) > maxContacts {
		return nil, acme.NewProblem(acme.InvalidContact, "at most %d contacts are accepted", maxContacts)
	}
	return out, nil
}

// normalizeContact is NormalizeContacts for one contact URL.
func normalizeContact(c string) (string, error) {
	scheme, addr, ok := strings.Cut(c, ":")
	if !ok || !strings.EqualFold(scheme, "mailto") {
		return "", acme.NewProblem(acme.UnsupportedContact, "contact %q: only mailto: contacts are supported", c)
	}
	if addr == "" || strings.ContainsAny(addr, "?,") {
		return "", acme.NewProblem(acme.InvalidContact, "contact %q: one plain e-mail address without hfields is required", c)
	}
	for i := 0; i < len(addr); i++ {
		if addr[i] < 0x21 || addr[i] > 0x7e {
			return "", acme.NewProblem(acme.InvalidContact, "contact %q: the e-mail address must be ASCII without spaces or control characters (a domain name in its A-label form; RFC 5321)", c)
		}
	}
	// In a mailto: URI a '%' starts a percent-encoded octet (RFC 6068
	// §2): "a%40b@example.com" is the address "a@b@example.com", which
	// is refused when given as such. The address is taken as written,
	// so an encoded one is refused rather than stored undecoded.
	if strings.Contains(addr, "%") {
		return "", acme.NewProblem(acme.InvalidContact, "contact %q: percent-encoded characters are not accepted; give the e-mail address as it is (RFC 6068 §2)", c)
	}
	parsed, err := mail.ParseAddress(addr)
	if err != nil || parsed.Address != addr || parsed.Name != "" {
		return "", acme.NewProblem(acme.InvalidContact, "contact %q is not a valid e-mail address", c)
	}
	at := strings.LastIndex(addr, "@")
	if at < 1 {
		return "", acme.NewProblem(acme.InvalidContact, "contact %q is not a valid e-mail address", c)
	}
	local, domain := addr[:at], acme.LowerASCII(addr[at+1:])
	switch {
	case len(local) > maxLocalPart:
		return "", acme.NewProblem(acme.InvalidContact, "contact %q: the local part is %d octets, more than %d (RFC 5321 §4.5.3.1.1)", c, len(local), maxLocalPart)
	case len(domain) > maxMailDomain:
		return "", acme.NewProblem(acme.InvalidContact, "contact %q: the domain is %d octets, more than %d (RFC 5321 §4.5.3.1.2)", c, len(domain), maxMailDomain)
	case len(addr) > maxEmailAddress:
		return "", acme.NewProblem(acme.InvalidContact, "contact %q: the address is %d octets, more than %d (RFC 5321 §4.5.3.1.3)", c, len(addr), maxEmailAddress)
	}
	if acme.CheckDNSName(domain) != "" || !strings.Contains(domain, ".") {
		return "", acme.NewProblem(acme.InvalidContact, "contact %q does not have a valid domain", c)
	}
	return "mailto:" + local + "@" + domain, nil
}

// NewAccount creates an account for the key with thumbprint tp and JSON
// JWK, or returns the existing one (created=false) (RFC 8555 §7.3, §7.3.1).
// With onlyReturnExisting and no account, accountDoesNotExist.
func (r *RA) NewAccount(ctx context.Context, tp string, jwk []byte, req acme.NewAccountRequest) (acct *store.Account, created bool, err error) {
	existing, err := r.store.GetAccountByThumbprint(ctx, tp)
	if err == nil {
		if existing.Status != acme.StatusValid {
			return nil, false, AccountNotValid(existing)
		}
		return existing, false, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, false, r.internal(ctx, "account lookup", err)
	}
	if req.OnlyReturnExisting {
		return nil, false, acme.NewProblem(acme.AccountDoesNotExist, "no account exists for this key")
	}
	if err := r.checkTermsAgreed(req); err != nil {
		return nil, false, err
	}
	return r.createAccount(ctx, policy.DefaultName, tp, jwk, req)
}

// checkTermsAgreed refuses the creation of an account that does not agree
// to the terms of service when the server has them (Config.TermsOfService;
// RFC 8555 §7.3: the server MUST reject newAccount requests without
// "termsOfServiceAgreed": true): userActionRequired, 403, its instance the
// terms' URL for the user to read (as §7.3.3 for changed terms).
func (r *RA) checkTermsAgreed(req acme.NewAccountRequest) error {
	if r.cfg.TermsOfService == "" || req.TermsOfServiceAgreed {
		return nil
	}
	p := acme.NewProblem(acme.UserActionRequired, "the terms of service at %s must be agreed to: read them and send \"termsOfServiceAgreed\": true", r.cfg.TermsOfService)
	p.Instance = r.cfg.TermsOfService
	return p
}

// admitNewAccount holds the checks every new account passes, with or
// without external account binding, before it is stored: its contacts
// (NormalizeContacts: invalidContact or unsupportedContact problems) and
// its key within the account key policy and not blocked
// (checkNewAccountKey: badPublicKey); the first refusal is returned as an
// *acme.Problem, or a storage error. It returns the contacts normalised,
// as the account stores them, and the spend of the new-accounts rate
// limit for the write that creates the account, with the rateLimited
// problem for when that write refuses it (limitNewAccount).
func (r *RA) admitNewAccount(ctx context.Context, contact []string, jwk []byte) (_ []string, sp *store.RateSpend, refused func() error, err error) {
	if contact, err = NormalizeContacts(contact); err != nil {
		return nil, nil, nil, err
	}
	if err := r.checkNewAccountKey(ctx, jwk); err != nil {
		return nil, nil, nil, err
	}
	sp, refused, err = r.limitNewAccount(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return contact, sp, refused, nil
}

// createAccount creates, without external account binding, the account
// of a key that has none, requested at the directory of profile
// (NewAccount, NewAccountIn), spending new-accounts-per-ip and audited as
// account.create in the same transaction; a request that finds the
// account created meanwhile gets it back and spends nothing.
func (r *RA) createAccount(ctx context.Context, profile, tp string, jwk []byte, req acme.NewAccountRequest) (*store.Account, bool, error) {
	contact, sp, refused, err := r.admitNewAccount(ctx, req.Contact, jwk)
	if err != nil {
		return nil, false, err
	}
	a := &store.Account{ID: newID(), KeyThumbprint: tp, JWK: jwk, Status: acme.StatusValid, Contact: contact,
		TOSAgreed: req.TermsOfServiceAgreed, CreatedAt: r.now()}
	events, err := r.auditEvent(ctx, createEvent(a, profile, nil))
	if err != nil {
		return nil, false, r.internal(ctx, "audit event", err)
	}
	if err := r.store.CreateAccountSpend(ctx, a, sp, events...); err != nil {
		if p := rateRefusal(err, refused); p != nil {
			return nil, false, p
		}
		if errors.Is(err, store.ErrConflict) { // created concurrently with the same key
			if existing, err2 := r.store.GetAccountByThumbprint(ctx, tp); err2 == nil {
				return existing, false, nil
			}
		}
		return nil, false, r.internal(ctx, "account creation", err)
	}
	r.log.InfoContext(ctx, "account created", "account", a.ID)
	return a, true, nil
}

// AccountNotValid is the problem for a request authorized by the key of a
// deactivated or revoked account (RFC 8555 §7.3.6: such requests MUST NOT be
// accepted): unauthorized, served with HTTP 401.
func AccountNotValid(a *store.Account) *acme.Problem {
	p := acme.NewProblem(acme.Unauthorized, "the account is %s", a.Status)
	p.Status = 401
	return p
}

// accountNoLongerValid is the problem for a request whose account was
// valid when the request was authenticated (the front end's account cache
// trusts an entry for a few seconds) but no longer was when the store
// checked it in the request's transaction: deactivated by another node or
// the CLI, or revoked (RFC 8555 §7.3.6: unauthorized, as AccountNotValid).
func accountNoLongerValid() *acme.Problem {
	p := acme.NewProblem(acme.Unauthorized, "the account is no longer valid (deactivated or revoked)")
	p.Status = 401
	return p
}

// checkAccountStillValid re-reads account a, which a request was
// authenticated with, and refuses the request unless it is still valid:
// a may be the front end's cached copy (wfe's account cache trusts an
// entry for AccountCacheTTL, 5 s in certgate serve), and another node or
// the CLI may have deactivated or revoked the account since (RFC 8555
// §7.3.6: unauthorized, 401, as accountNoLongerValid). It guards the
// requests whose store change does not itself check the account in its
// transaction (as newOrder and finalize do): revocation by the account,
// a challenge response and an authorization's deactivation. One
// primary-key read.
func (r *RA) checkAccountStillValid(ctx context.Context, a *store.Account) error {
	cur, err := r.store.GetAccount(ctx, a.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return accountNoLongerValid()
	case err != nil:
		return r.internal(ctx, "account lookup", err)
	case cur.Status != acme.StatusValid:
		return accountNoLongerValid()
	}
	return nil
}

// UpdateAccount applies an account update or deactivation (RFC 8555
// §7.3.2, §7.3.6) and returns the account as updated. Only what the
// request names is written: an update without "contact" keeps the stored
// contacts (a may be an older copy), and one that changes nothing writes
// nothing. A contact change is audited (account.update) when the stored
// contacts differ from the new ones, a deactivation as
// account.deactivate, in the transaction of the change.
func (r *RA) UpdateAccount(ctx context.Context, a *store.Account, req acme.AccountUpdateRequest) (*store.Account, error) {
	upd := *a
	upd.Contact = nil // keep (store.UpdateAccount)
	switch req.Status {
	case "":
	case acme.StatusDeactivated:
		upd.Status = acme.StatusDeactivated
	case acme.StatusValid:
	default:
		return nil, acme.NewProblem(acme.Malformed, "an account's status can only be changed to \"deactivated\"")
	}
	var events []*store.AuditAppend
	if req.Contact != nil {
		contact, err := NormalizeContacts(*req.Contact)
		if err != nil {
			return nil, err
		}
		upd.Contact = nonNil(contact)
		// Whether the contacts change is decided on the row the update
		// replaces (a may be an older read, e.g. the front end's cache).
		ev, err := r.auditEvent(ctx, contactEvent(a.ID, upd.Contact))
		if err != nil {
			return nil, r.internal(ctx, "audit event", err)
		}
		events = ev
	}
	if upd.Status == acme.StatusDeactivated && a.Status != acme.StatusDeactivated {
		// The owner of the account's EAB key, as the admin API records it
		// (a deleted key: none).
		var owner string
		if a.EABKid != "" {
			k, err := r.store.GetEABKey(ctx, a.EABKid)
			switch {
			case err == nil:
				owner = k.Owner
			case !errors.Is(err, store.ErrNotFound):
				return nil, r.internal(ctx, "EAB key lookup", err)
			}
		}
		ev, err := r.auditEvent(ctx, deactivateEvent(a.ID, upd.Contact, owner))
		if err != nil {
			return nil, r.internal(ctx, "audit event", err)
		}
		events = append(events, ev...)
	}
	if upd.Contact == nil && upd.Status == a.Status {
		return a, nil // nothing to change
	}
	if err := r.store.UpdateAccount(ctx, &upd, events...); err != nil {
		if errors.Is(err, store.ErrStale) {
			return nil, acme.NewProblem(acme.Unauthorized, "account is not valid")
		}
		return nil, r.internal(ctx, "account update", err)
	}
	if upd.Contact == nil {
		upd.Contact = a.Contact
	}
	return &upd, nil
}

// ChangeKey rolls account a over to the key with thumbprint newTP (RFC 8555
// §7.3.5). When another account holds that key it returns a 409 problem
// whose Location is that account's ID (the caller turns it into a URL); a
// new key outside the account key policy (CheckAccountKey) or blocked by a
// keyCompromise revocation is refused with badPublicKey. The account's
// current key is not checked against the policy: an account whose key it
// no longer accepts rolls over to one it does. A new key that is the
// account's current key is malformed (400): there is nothing to roll over
// to, and the key is in use by no other account.
func (r *RA) ChangeKey(ctx context.Context, a *store.Account, newTP string, newJWK []byte) error {
	if newTP == a.KeyThumbprint {
		return acme.NewProblem(acme.Malformed, "the new key is the account's current key: sign the inner JWS with the key to roll over to (RFC 8555 §7.3.5)")
	}
	if other, err := r.store.GetAccountByThumbprint(ctx, newTP); err == nil {
		p := acme.NewProblem(acme.Malformed, "the new key is already in use by an account")
		p.Status = 409
		p.Location = other.ID
		return p
	}
	if err := r.checkNewAccountKey(ctx, newJWK); err != nil {
		return err
	}
	events, err := r.auditEvent(ctx, keyChangeEvent(a, newTP))
	if err != nil {
		return r.internal(ctx, "audit event", err)
	}
	err = r.store.ChangeAccountKey(ctx, a.ID, a.KeyThumbprint, newTP, newJWK, events...)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict):
		p := acme.NewProblem(acme.Malformed, "the new key is already in use by an account")
		p.Status = 409
		if other, err := r.store.GetAccountByThumbprint(ctx, newTP); err == nil {
			p.Location = other.ID
		}
		return p
	case errors.Is(err, store.ErrStale):
		return acme.NewProblem(acme.Unauthorized, "the account key changed concurrently or the account is not valid")
	default:
		return r.internal(ctx, "key change", err)
	}
}
