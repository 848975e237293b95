package ra

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
)

// emptyProfiles is the profile source of an RA configured without a
// registry: no stored profiles, so only the built-in default exists.
type emptyProfiles struct{}

func (emptyProfiles) GetProfile(context.Context, string) (*store.Profile, error) {
	return nil, store.ErrNotFound
}
func (emptyProfiles) ListProfiles(context.Context) ([]store.Profile, error) { return nil, nil }

// DefaultProfile is the built-in default profile that reproduces
// certgate's behaviour without profiles: DNS and IP identifiers, any name,
// wildcards, every key type, validity and maximum from the configuration,
// serverAuth (+clientAuth) EKUs, the server's authorization reuse, every
// challenge type, no EAB. followsBR marks a validity that is certgate's
// default rather than the operator's (policy.Profile.FollowsBR).
func DefaultProfile(validity, maxValidity time.Duration, clientAuth, followsBR bool) policy.Profile {
	if maxValidity < validity {
		maxValidity = validity
	}
	p := policy.Profile{Name: policy.DefaultName, Description: "Default profile: TLS server certificates for any name",
		Wildcard: true, Validity: policy.Duration(validity), MaxValidity: policy.Duration(maxValidity), EKUs: []string{"serverAuth"}, FollowsBR: followsBR}
	if clientAuth {
		p.EKUs = append(p.EKUs, "clientAuth")
	}
	return p
}

// Profile returns the profile called name ("" for the default), or an
// invalidProfile problem when there is none (draft-ietf-acme-profiles §5).
func (r *RA) Profile(ctx context.Context, name string) (*policy.Profile, error) {
	if !store.PlainText(name) { // no profile has such a name; PostgreSQL would refuse it
		return nil, acme.NewProblem(acme.InvalidProfile, "there is no profile %q", name)
	}
	p, err := r.profiles.Get(ctx, name)
	if errors.Is(err, policy.ErrUnknown) {
		return nil, acme.NewProblem(acme.InvalidProfile, "there is no profile %q", name)
	}
	if err != nil {
		return nil, r.internal(ctx, "profile lookup", err)
	}
	return p, nil
}

// Profiles lists every profile, the default first.
func (r *RA) Profiles(ctx context.Context) ([]*policy.Profile, error) {
	ps, err := r.profiles.List(ctx)
	if err != nil {
		return nil, r.internal(ctx, "profile list", err)
	}
	return ps, nil
}

// ekuChecker is an issuer that can tell whether its CA's chain allows
// leaves with given EKUs (local.Issuer: an error with the refused ones,
// refusedEKUs, when not).
type ekuChecker interface {
	CheckExtKeyUsages(ekus []x509.ExtKeyUsage) error
}

// refusedEKUs is the error of ekuChecker (local.EKUError).
type refusedEKUs interface {
	error
	Refused() []x509.ExtKeyUsage
}

// checkProfileEKUs refuses, with a serverInternal problem naming the
// profile and the cause, a newOrder under profile p of the built-in
// issuer when the chain of its CA's current intermediate allows none of
// p's EKUs: every certificate would fail to verify for each purpose it
// names (a profile stored before certgate checked this, or kept through a
// CA rotation or import; the start logged it). A profile with some of its
// EKUs allowed is served as before: its certificates verify for those.
func (r *RA) checkProfileEKUs(p *policy.Profile) error {
	if p.Issuer != "" && p.Issuer != issuer.LocalName {
		return nil
	}
	c, ok := r.issuer.(ekuChecker)
	if !ok {
		return nil
	}
	ekus := p.ExtKeyUsages()
	if len(ekus) == 0 {
		ekus = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} // policy.Profile.Validate's default
	}
	var re refusedEKUs
	if err := c.CheckExtKeyUsages(ekus); !errors.As(err, &re) || len(re.Refused()) < len(ekus) {
		return nil
	}
	return acme.NewProblem(acme.ServerInternal, "profile %s cannot issue usable certificates: %v; ask the server's operator to give the profile an issuer whose CA allows them",
		p.Name, re)
}

// nameConstraintChecker is an issuer whose CA's chain may have name
// constraints (local.Issuer): CheckName returns an error naming the
// constraint for a name outside them.
type nameConstraintChecker interface {
	CheckName(name string) error
}

// constrainedName is the error of nameConstraintChecker for a name
// outside the constraints (local.NameConstraintError).
type constrainedName interface {
	error
	ConstrainedName() string
}

// checkNameConstraints refuses, as rejectedIdentifier with one subproblem
// per identifier (RFC 8555 §6.7.1), the identifiers of a newOrder under
// profile p of the built-in issuer that are outside the name constraints
// (RFC 5280 §4.2.1.10) of its CA's chain: a certificate naming them would
// fail verification. Another issuer's profile is not checked.
func (r *RA) checkNameConstraints(ctx context.Context, p *policy.Profile, ids []acme.Identifier) error {
	if p.Issuer != "" && p.Issuer != issuer.LocalName {
		return nil
	}
	c, ok := r.issuer.(nameConstraintChecker)
	if !ok {
		return nil
	}
	var subs []acme.Problem
	for _, id := range ids {
		err := c.CheckName(id.Value)
		if err == nil {
			continue
		}
		var nce constrainedName
		if !errors.As(err, &nce) {
			return r.internal(ctx, "name constraints check", err)
		}
		sp := acme.NewProblem(acme.RejectedIdentifier, "%v", err)
		idc := id
		sp.Identifier = &idc
		subs = append(subs, *sp)
	}
	if len(subs) == 0 {
		return nil
	}
	pr := acme.NewProblem(acme.RejectedIdentifier, "%d identifiers are outside the name constraints of the built-in CA; ask the server's operator for a CA that may issue for them", len(subs))
	pr.Subproblems = subs
	return pr
}

// orderPolicy is what a profile and the account's EAB binding decide about
// a new order.
type orderPolicy struct {
	profile *policy.Profile
	attrs   map[string]string
	bound   bool // the account is bound to an EAB key
}

// newOrderPolicy resolves the order's profile and checks the normalised
// identifiers against it and the account's EAB key (allowlist), and
// merges the custom attributes (EAB defaults, account, order; the order
// may not change a value the first two set: checkPinnedAttributes): of the
// account's attributes, those the profile declares (declaredAttributes;
// an account's attributes may be meant for another profile). Errors are
// invalidProfile, rejectedIdentifier (with subproblems), malformed
// (attributes) or unauthorized (an EAB key bound to another profile).
func (r *RA) newOrderPolicy(ctx context.Context, a *store.Account, req acme.NewOrderRequest, ids []acme.Identifier) (*orderPolicy, error) {
	p, err := r.Profile(ctx, req.Profile)
	if err != nil {
		return nil, err
	}
	if err := r.checkProfileEKUs(p); err != nil {
		return nil, err
	}
	op, eabAttrs, err := r.identifierPolicy(ctx, a, p, ids)
	if err != nil {
		return nil, err
	}
	if err := r.checkNameConstraints(ctx, p, ids); err != nil {
		return nil, err
	}
	var orderAttrs map[string]string
	if req.Certgate != nil {
		orderAttrs = req.Certgate.Attributes
	}
	acctAttrs := declaredAttributes(p, a.Attributes)
	if err := checkPinnedAttributes(a, eabAttrs, acctAttrs, orderAttrs); err != nil {
		return nil, err
	}
	if op.attrs, err = p.MergeAttributes(
		policy.AttributeSource{Attrs: eabAttrs, From: "the EAB key " + a.EABKid + " bound to the account",
			Fix: "the account's own attributes override the key's values: certgate account set-attributes " + a.ID + "; declare an undeclared one in profile " + p.Name},
		policy.AttributeSource{Attrs: acctAttrs, From: "the account's attributes",
			Fix: "certgate account set-attributes " + a.ID + " replaces them, --clear removes them all"},
		policy.AttributeSource{Attrs: orderAttrs, From: "the order's \"certgate\" object",
			Fix: "fix or leave them out of the newOrder payload, or declare them in profile " + p.Name},
	); err != nil {
		return nil, err
	}
	if err := op.checkChallenges(ids, r.cfg.IPDenied); err != nil {
		return nil, err
	}
	return op, nil
}

// checkPinnedAttributes refuses an order whose own attributes (orderAttrs,
// its newOrder "certgate" object) give an attribute that the
// administrator set, on the account (acctAttrs, as the profile sees them:
// declaredAttributes) or on its EAB key (eabAttrs; the account's value
// wins over the key's), another value: those values are the CA's, not the
// client's to override (a billing code the EAB key supplies must tag every
// certificate of the account). The same value is accepted. The error is a
// malformed problem naming each such attribute, the value set and where.
func checkPinnedAttributes(a *store.Account, eabAttrs, acctAttrs, orderAttrs map[string]string) error {
	var bad []string
	for _, k := range slices.Sorted(maps.Keys(orderAttrs)) {
		v, ok := acctAttrs[k]
		from := "the account's attributes"
		if !ok {
			v, ok = eabAttrs[k]
			from = "the EAB key " + a.EABKid + " bound to the account"
		}
		if ok && orderAttrs[k] != v {
			bad = append(bad, fmt.Sprintf("%s (set to %q by the administrator, in %s)", k, v, from))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return acme.NewProblem(acme.Malformed, "the order's \"certgate\" object cannot override attributes set by the administrator: %s; "+
		"leave them out of the newOrder payload or send the same values", strings.Join(bad, "; "))
}

// declaredAttributes returns those of attrs that profile p declares: an
// account's attributes (certgate account set-attributes) apply to the
// orders of the profiles that declare them and are left out of the
// others', where they would be an error (the built-in default profile
// declares none). nil when none is left.
func declaredAttributes(p *policy.Profile, attrs map[string]string) map[string]string {
	var out map[string]string
	for _, at := range p.Attributes {
		if v, ok := attrs[at.Name]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[at.Name] = v
		}
	}
	return out
}

// identifierPolicy checks the normalised identifiers ids of account a
// against profile p as it is now: requireEAB (the account must be bound
// to an EAB key of p), the identifier types, the wildcard flag, the deny
// and allow rules, and the EAB key's allowlist. It returns the order
// policy (profile, binding) and the EAB key's default attributes. The
// key's allowlist applies under every profile, its binding (requireEAB,
// default attributes, pre-authorization) only under the key's own. Errors:
// externalAccountRequired, or rejectedIdentifier with one subproblem per
// refused identifier (unsupportedIdentifier for a type, RFC 8555 §6.7.1).
// newOrder runs it, and recheckAtSigning again before signing.
func (r *RA) identifierPolicy(ctx context.Context, a *store.Account, p *policy.Profile, ids []acme.Identifier) (*orderPolicy, map[string]string, error) {
	op := &orderPolicy{profile: p}
	var eabAttrs map[string]string
	var allow []policy.Rule
	var k *store.EABKey
	if a.EABKid != "" {
		var err error
		k, err = r.store.GetEABKey(ctx, a.EABKid)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, r.internal(ctx, "EAB key lookup", err)
		}
		if k != nil {
			// The key's allowlist bounds the bound account's names in
			// every profile: the account is the key's, whichever
			// directory it orders from (the built-in default always
			// exists and requires no EAB).
			if allow, err = policy.ParseRules(k.Allow); err != nil {
				return nil, nil, r.internal(ctx, "EAB key allowlist", err)
			}
			// The binding itself counts for the key's own profile: there
			// it satisfies requireEAB and adds its default attributes
			// and pre-authorization.
			if k.Profile == p.Name {
				op.bound = true
				eabAttrs = k.Attributes
			}
		}
	}
	if p.RequireEAB && !op.bound {
		return nil, nil, acme.NewProblem(acme.ExternalAccountRequired,
			"profile %s only serves accounts created with an external account binding key of that profile", p.Name)
	}
	if err := p.CheckIdentifiers(ids, allow); err != nil {
		return nil, nil, eabAllowDetail(err, k)
	}
	return op, eabAttrs, nil
}

// eabAllowDetail adds to err, the rejectedIdentifier problem of
// policy.Profile.CheckIdentifiers, which EAB key's allowlist refused
// names when it did (k is the account's EAB key, nil for none): the
// key's ID, profile and rules, and that they bound the account's orders
// in every profile. Other errors are returned as they are.
func eabAllowDetail(err error, k *store.EABKey) error {
	p, ok := acme.AsProblem(err)
	if !ok || k == nil || len(k.Allow) == 0 || !strings.Contains(p.Detail, "external account binding does not allow") {
		return err
	}
	out := *p
	out.Detail += fmt.Sprintf("; the allowlist of EAB key %s (profile %s) is %s, and it bounds the account's orders under every profile",
		k.KID, k.Profile, strings.Join(k.Allow, ", "))
	return &out
}

// checkChallenges refuses identifiers that are not pre-authorized and
// that no challenge can validate: the profile offers no challenge type
// for them, or (ipDenied, Config.IPDenied, when not nil) they are ip
// identifiers whose address validation never connects to. The problem
// is rejectedIdentifier, with one subproblem per identifier (RFC 8555
// §6.7.1).
func (op *orderPolicy) checkChallenges(ids []acme.Identifier, ipDenied func(netip.Addr) error) error {
	var subs []acme.Problem
	for _, id := range ids {
		aid, wildcard := authzIdentifier(id)
		if op.preAuthorized(aid, wildcard) {
			continue
		}
		var sp *acme.Problem
		if len(op.challengeTypes(aid, wildcard)) == 0 {
			sp = acme.NewProblem(acme.RejectedIdentifier, "%s: profile %s offers no challenge type that can validate it", id.Value, op.profile.Name)
		} else if a, err := netip.ParseAddr(aid.Value); aid.Type == acme.IdentifierIP && err == nil && ipDenied != nil {
			if derr := ipDenied(a); derr != nil {
				sp = acme.NewProblem(acme.RejectedIdentifier, "%v: no challenge can validate it", derr)
			}
		}
		if sp == nil {
			continue
		}
		idc := id
		sp.Identifier = &idc
		subs = append(subs, *sp)
	}
	if len(subs) == 0 {
		return nil
	}
	p := acme.NewProblem(acme.RejectedIdentifier, "%d identifiers cannot be validated under profile %s", len(subs), op.profile.Name)
	p.Subproblems = subs
	return p
}

// challengeTypes are the default challenges for the identifier that the
// profile allows.
func (op *orderPolicy) challengeTypes(id acme.Identifier, wildcard bool) []string {
	var out []string
	for _, t := range challengeTypes(id, wildcard) {
		if op.profile.ChallengeAllowed(t) {
			out = append(out, t)
		}
	}
	return out
}

// preAuthorized reports whether the authorization for id (without "*.";
// wildcard says the order names *.id) is valid without a challenge: the
// account is EAB-bound and the profile pre-authorizes the order's
// identifier (policy.Profile.IsPreAuthorized: for a wildcard, the
// wildcard name).
func (op *orderPolicy) preAuthorized(id acme.Identifier, wildcard bool) bool {
	return op.bound && op.profile.IsPreAuthorized(orderIdentifier(id, wildcard))
}

// reusable reports whether a valid authorization az (with its challenges)
// of another order may serve this one: it was validated by a challenge
// type the profile offers, or, without a challenge, it is pre-authorized
// under this profile for this account.
func (op *orderPolicy) reusable(az *store.Authorization) bool {
	for _, c := range az.Challenges {
		if c.Status == acme.StatusValid {
			return op.profile.ChallengeAllowed(c.Type)
		}
	}
	return op.preAuthorized(az.Identifier, az.Wildcard)
}

// authzReuse is the reuse window under the profile (server default def).
func (op *orderPolicy) authzReuse(def time.Duration) time.Duration {
	if op.profile.AuthzReuse == nil {
		return def
	}
	return time.Duration(*op.profile.AuthzReuse)
}
