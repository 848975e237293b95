package adminapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/danielgtaylor/huma/v2"
)

// Profiles, EAB keys and approvals (docs/profiles.md): the API twin of
// `certgate profile`, `certgate eab` and `certgate approval`.

// storedProfileError is the answer to err from reading the stored profile
// name for a PUT or DELETE: for "default" while none is stored, whose GET
// answers the built-in default, a 404 that says so and then what (as
// 'certgate profile update|delete default' do), rather than "not found";
// otherwise storeError's.
func (a *API) storedProfileError(ctx context.Context, name string, err error, what string) error {
	if errors.Is(err, store.ErrNotFound) && name == policy.DefaultName {
		return huma.Error404NotFound("no profile \"default\" is stored, so the built-in default applies (GET /api/v1/profiles/default shows it; docs/profiles.md): " + what)
	}
	return a.storeError(ctx, "profile "+name, err)
}

// defaultProfile is the built-in default profile the API reports when no
// profile named "default" is stored.
func (a *API) defaultProfile() *policy.Profile {
	if a.d.DefaultProfile != nil {
		return a.d.DefaultProfile
	}
	p := ra.DefaultProfile(config.DefaultCertValidity, 0, false, true)
	_ = p.Validate()
	return &p
}

// profile returns the stored profile called name, the built-in default for
// "default", or, for a profile that does not exist, the 422 of the body
// field at location that names it: the request's content is wrong, not
// its URL.
func (a *API) profile(ctx context.Context, name, location string) (*policy.Profile, bool, error) {
	rec, err := a.d.Store.GetProfile(ctx, name)
	switch {
	case err == nil:
		p, err := policy.Parse(rec.Spec)
		if err != nil {
			return nil, false, a.storeError(ctx, "profile", err)
		}
		return p, true, nil
	case errors.Is(err, store.ErrNotFound) && name == policy.DefaultName:
		return a.defaultProfile(), false, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, false, invalidField(location, fmt.Sprintf("no profile %q (GET %s/profiles lists them)", name, Prefix), name)
	default:
		return nil, false, a.storeError(ctx, "profile", err)
	}
}

// auditEvents prepares the audit event of a change about to be made
// through the API, by p, for the store method that makes the change to
// append in the same transaction: none without an audit log. A 500 when
// the event cannot be prepared (nothing is changed then).
func (a *API) auditEvents(ctx context.Context, p *auth.Principal, action, objectType, id string, before, after any) ([]*store.AuditAppend, error) {
	return a.auditChange(ctx, audit.Event{Actor: p.Actor(), Action: action, ObjectType: objectType, ObjectID: id, Before: before, After: after})
}

// auditChange is auditEvents for a prepared event, e.g. one whose Before
// and After the store computes from the row it replaces (Event.Replaced).
func (a *API) auditChange(ctx context.Context, e audit.Event) ([]*store.AuditAppend, error) {
	if a.d.Audit == nil {
		return nil, nil
	}
	ev, err := a.d.Audit.Prepare(ctx, e)
	if err != nil {
		return nil, a.storeError(ctx, "audit event", err)
	}
	return []*store.AuditAppend{ev}, nil
}

type profilesOut struct {
	Body struct {
		Items []*policy.Profile `json:"items"`
	}
}

type profileNameIn struct {
	Name string `path:"name" maxLength:"63" doc:"profile name"`
}

type profileDeleteIn struct {
	Name    string   `path:"name" maxLength:"63" doc:"profile name"`
	Force   bool     `query:"force" doc:"delete even while EAB keys that are not revoked, orders or certificates refer to the profile"`
	IfMatch []string `header:"If-Match" doc:"delete the profile only while it is still this version: the ETag of a GET (or PUT) of it (RFC 9110 §13.1.1; * for any); else 412"`
}

type profileOut struct {
	ETag string `header:"ETag" doc:"the stored profile's entity tag (RFC 9110 §8.8.3): send it in If-Match to replace this version only; absent for the built-in default"`
	Body *policy.Profile
}

type profileBodyIn struct {
	Body policy.Profile
}

type profilePutIn struct {
	Name    string   `path:"name" maxLength:"63" doc:"profile name"`
	IfMatch []string `header:"If-Match" doc:"replace the profile only while it is still this version: the ETag of the GET (or PUT) the body derives from (RFC 9110 §13.1.1; * for any); else 412"`
	Body    policy.Profile
}

// profileETag is the strong entity tag (RFC 9110 §8.8.3) of a stored
// profile's spec: quoted base64url of its SHA-256, truncated to 128 bits.
// The spec is stored as text as written, so equal tags mean equal specs.
func profileETag(spec []byte) string {
	sum := sha256.Sum256(spec)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
}

// ifMatch reports what the If-Match field values match (RFC 9110
// §13.1.1): star when they hold "*", which matches any stored profile,
// tag when they hold etag itself. Entity tags are compared strongly, so a
// weak tag (W/"...") never matches.
func ifMatch(values []string, etag string) (star, tag bool) {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			switch strings.TrimSpace(t) {
			case "*":
				star = true
			case etag:
				tag = true
			}
		}
	}
	return star, tag
}

// profileChanged is the 412 of a PUT or DELETE whose If-Match no longer
// matches the stored profile.
func profileChanged(name, method string) error {
	redo := "apply the change to it and PUT with that ETag"
	if method == http.MethodDelete {
		redo = "and DELETE with that ETag if it is still to go"
	}
	return huma.NewError(http.StatusPreconditionFailed, "profile "+name+" has changed since the version If-Match names: "+
		"GET it again (its ETag), "+redo)
}

// ifMatchSpec evaluates the If-Match field values of a PUT or DELETE
// (method) of the stored profile name, read with spec (RFC 9110 §13.1.1).
// It returns profileChanged's 412 when they match no version; otherwise
// check reports whether the change must be made only while the stored spec
// is still spec (store.UpdateProfileIf, store.DeleteProfileIf): true when
// an entity tag matched, false without If-Match or with "*", which any
// stored version satisfies.
func ifMatchSpec(name, method string, values []string, spec []byte) (check bool, err error) {
	if len(values) == 0 {
		return false, nil
	}
	star, tag := ifMatch(values, profileETag(spec))
	switch {
	case star:
		return false, nil
	case !tag:
		return false, profileChanged(name, method)
	}
	return true, nil
}

// checkProfile validates p, refuses identifier rules no name can match
// (policy.Profile.CheckRules) and lints its certificates
// (Deps.LintProfile).
// Each refusal is a 422 whose errors list names the body's field at fault
// (the *policy.FieldError's path, e.g. body.keyTypes[1]; body for an
// error that names none).
func (a *API) checkProfile(p *policy.Profile) error {
	if err := p.Validate(); err != nil {
		return invalidProfile(err)
	}
	if err := p.CheckRules(); err != nil {
		return invalidProfile(err)
	}
	issuers := a.d.Issuers
	if issuers == nil {
		issuers = []string{issuer.LocalName}
	}
	if err := p.CheckIssuer(issuers); err != nil {
		return invalidProfile(err)
	}
	if a.d.LintProfile != nil {
		if err := a.d.LintProfile(p); err != nil {
			return invalidProfile(err)
		}
	}
	return nil
}

// invalidProfile is the 422 of a refused profile body: at "body." and the
// field a *policy.FieldError names, with its value; at "body" otherwise.
func invalidProfile(err error) error {
	location, value := "body", any(nil)
	if fe := (*policy.FieldError)(nil); errors.As(err, &fe) {
		location, value = "body."+fe.Field, fe.Value
	}
	return invalidField(location, err.Error(), value)
}

func profileRoutes(a *API) {
	Register(a, auth.PermProfilesRead, huma.Operation{OperationID: "list-profiles", Method: http.MethodGet, Path: Prefix + "/profiles",
		Summary: "List certificate profiles", Tags: []string{"profiles"},
		Description: "Every stored profile by name, after the default one (the built-in default when none named default is stored)."},
		func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*profilesOut, error) {
			recs, err := a.d.Store.ListProfiles(ctx)
			if err != nil {
				return nil, a.storeError(ctx, "profiles", err)
			}
			stored := make([]*policy.Profile, 0, len(recs))
			for _, r := range recs {
				p, err := policy.Parse(r.Spec)
				if err != nil {
					return nil, a.storeError(ctx, "profile "+r.Name, err)
				}
				stored = append(stored, p)
			}
			out := &profilesOut{}
			out.Body.Items = policy.DefaultFirst(a.defaultProfile(), stored)
			return out, nil
		})
	Register(a, auth.PermProfilesRead, huma.Operation{OperationID: "get-profile", Method: http.MethodGet, Path: Prefix + "/profiles/{name}",
		Summary: "Show a certificate profile", Tags: []string{"profiles"}, Errors: []int{404}},
		func(ctx context.Context, _ *auth.Principal, in *profileNameIn) (*profileOut, error) {
			rec, err := a.d.Store.GetProfile(ctx, in.Name)
			if errors.Is(err, store.ErrNotFound) && in.Name == policy.DefaultName {
				return &profileOut{Body: a.defaultProfile()}, nil
			}
			if errors.Is(err, store.ErrNotFound) {
				return nil, huma.Error404NotFound("no profile " + in.Name)
			}
			if err != nil {
				return nil, a.storeError(ctx, "profile", err)
			}
			p, err := policy.Parse(rec.Spec)
			if err != nil {
				return nil, a.storeError(ctx, "profile", err)
			}
			return &profileOut{ETag: profileETag(rec.Spec), Body: p}, nil
		})
	Register(a, auth.PermProfilesWrite, huma.Operation{OperationID: "create-profile", Method: http.MethodPost, Path: Prefix + "/profiles",
		Summary: "Create a certificate profile", Tags: []string{"profiles"}, DefaultStatus: http.StatusCreated, Errors: []int{409, 422},
		Description: "The profile is validated and its certificates linted (zlint); its ACME directory is /acme/NAME/directory. 409 when the name is taken. Audited as profile.create in the same transaction."},
		func(ctx context.Context, pr *auth.Principal, in *profileBodyIn) (*profileOut, error) {
			p := in.Body
			if err := a.checkProfile(&p); err != nil {
				return nil, err
			}
			spec, _ := json.Marshal(&p)
			now := a.d.Now().UTC()
			events, err := a.auditEvents(ctx, pr, audit.ActionProfileCreate, audit.ObjectProfile, p.Name, nil, json.RawMessage(spec))
			if err != nil {
				return nil, err
			}
			if err := a.d.Store.PutProfile(ctx, &store.Profile{Name: p.Name, Spec: spec, CreatedAt: now, UpdatedAt: now}, false, events...); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return nil, huma.Error409Conflict("profile " + p.Name + " exists")
				}
				return nil, a.storeError(ctx, "profile", err)
			}
			return &profileOut{ETag: profileETag(spec), Body: &p}, nil
		})
	Register(a, auth.PermProfilesWrite, huma.Operation{OperationID: "replace-profile", Method: http.MethodPut, Path: Prefix + "/profiles/{name}",
		Summary: "Replace a certificate profile", Tags: []string{"profiles"}, Errors: []int{404, 412, 422},
		Description: "Replaces the stored profile (the body's name must be the path's or empty). With If-Match (the ETag of the GET the body derives from), " +
			"only while the profile is still that version, checked in the transaction that replaces it: else 412 and nothing changes, so a change made " +
			"meanwhile is never overwritten. Servers apply it within 2 seconds. Audited as profile.update in the same transaction."},
		func(ctx context.Context, pr *auth.Principal, in *profilePutIn) (*profileOut, error) {
			p := in.Body
			if p.Name == "" {
				p.Name = in.Name
			}
			if p.Name != in.Name {
				return nil, invalidField("body.name", "the body names profile "+p.Name+", the path "+in.Name, p.Name)
			}
			rec, err := a.d.Store.GetProfile(ctx, in.Name)
			if err != nil {
				return nil, a.storedProfileError(ctx, in.Name, err, "POST /api/v1/profiles a profile named default to store one in its place")
			}
			check, err := ifMatchSpec(in.Name, http.MethodPut, in.IfMatch, rec.Spec)
			if err != nil {
				return nil, err
			}
			if err := a.checkProfile(&p); err != nil {
				return nil, err
			}
			spec, _ := json.Marshal(&p)
			events, err := a.auditChange(ctx, audit.Event{Actor: pr.Actor(), Action: audit.ActionProfileUpdate, ObjectType: audit.ObjectProfile, ObjectID: p.Name,
				Replaced: audit.ReplacedRow(func(old *store.Profile) (any, any) { return json.RawMessage(old.Spec), json.RawMessage(spec) })})
			if err != nil {
				return nil, err
			}
			np := &store.Profile{Name: p.Name, Spec: spec, UpdatedAt: a.d.Now().UTC()}
			if check {
				// The version checked above must still be the stored one.
				err = a.d.Store.UpdateProfileIf(ctx, np, rec.Spec, events...)
			} else {
				err = a.d.Store.PutProfile(ctx, np, true, events...)
			}
			if errors.Is(err, store.ErrStale) {
				return nil, profileChanged(in.Name, http.MethodPut)
			}
			if err != nil {
				return nil, a.storeError(ctx, "profile "+in.Name, err)
			}
			return &profileOut{ETag: profileETag(spec), Body: &p}, nil
		})
	Register(a, auth.PermProfilesWrite, huma.Operation{OperationID: "delete-profile", Method: http.MethodDelete, Path: Prefix + "/profiles/{name}",
		Summary: "Delete a certificate profile", Tags: []string{"profiles"}, DefaultStatus: http.StatusNoContent, Errors: []int{404, 409, 412},
		Description: "Its directory disappears; its pending orders fail at finalize. Audited as profile.delete in the same transaction. " +
			"409 while EAB keys that are not revoked, orders or certificates refer to the profile, unless force=true: counted in the transaction that deletes it. With If-Match (the ETag of a GET), " +
			"only while the profile is still that version, checked in the transaction that deletes it: else 412 and nothing changes, so a profile " +
			"changed meanwhile is not deleted unseen."},
		func(ctx context.Context, pr *auth.Principal, in *profileDeleteIn) (*struct{}, error) {
			rec, err := a.d.Store.GetProfile(ctx, in.Name)
			if err != nil {
				return nil, a.storedProfileError(ctx, in.Name, err, "it cannot be deleted")
			}
			check, err := ifMatchSpec(in.Name, http.MethodDelete, in.IfMatch, rec.Spec)
			if err != nil {
				return nil, err
			}
			events, err := a.auditChange(ctx, audit.Event{Actor: pr.Actor(), Action: audit.ActionProfileDelete, ObjectType: audit.ObjectProfile, ObjectID: in.Name,
				Replaced: audit.ReplacedRow(func(old *store.Profile) (any, any) { return json.RawMessage(old.Spec), nil })})
			if err != nil {
				return nil, err
			}
			// The version checked above must still be the stored one, and
			// without force nothing may refer to the profile: both checked
			// in the deleting transaction.
			err = a.d.Store.DeleteProfileWhen(ctx, in.Name, store.ProfileDeletion{CheckSpec: check, Spec: rec.Spec, Unused: !in.Force}, events...)
			var inUse *store.ProfileInUseError
			if errors.As(err, &inUse) {
				return nil, huma.Error409Conflict(fmt.Sprintf("profile %s is still used by %s: "+
					"delete it anyway with force=true (its pending orders then fail at finalize)", in.Name, inUse.Use))
			}
			if errors.Is(err, store.ErrStale) {
				return nil, profileChanged(in.Name, http.MethodDelete)
			}
			if err != nil {
				return nil, a.storeError(ctx, "profile "+in.Name, err)
			}
			return nil, nil
		})
	eabRoutes(a)
	approvalRoutes(a)
}

// EABKeyView is an EAB key as the API shows it: never its HMAC key.
type EABKeyView struct {
	KID        string            `json:"kid" doc:"key ID, the kid of the binding JWS (RFC 8555 §7.3.4)"`
	Profile    string            `json:"profile" doc:"the profile whose directory accepts the key"`
	Owner      string            `json:"owner,omitempty" doc:"team or person the bound accounts belong to"`
	Attributes map[string]string `json:"attributes,omitempty" doc:"custom attributes given to the accounts the key binds"`
	Allow      []string          `json:"allow,omitempty" doc:"identifier rules the bound accounts may order"`
	SingleUse  bool              `json:"single_use" doc:"the key binds one account only"`
	Status     string            `json:"status" enum:"active,used,revoked,expired" doc:"expired: active but past its expiry"`
	Expires    *time.Time        `json:"expires,omitempty" doc:"absent: never expires"`
	CreatedAt  time.Time         `json:"created_at" doc:"UTC"`
	Account    string            `json:"account,omitempty" doc:"the last account bound with the key"`
}

// EABKeyOf returns the view of k at now: its stored status, or "expired"
// for an active key whose expiry has passed. The admin API answers it and
// `certgate eab list --format json` prints it.
func EABKeyOf(k *store.EABKey, now time.Time) EABKeyView {
	v := EABKeyView{KID: k.KID, Profile: k.Profile, Owner: k.Owner, Attributes: k.Attributes, Allow: k.Allow, SingleUse: k.SingleUse,
		Status: k.Status, CreatedAt: k.CreatedAt, Account: k.AccountID}
	if !k.Expires.IsZero() {
		e := k.Expires
		v.Expires = &e
		if k.Status == store.EABActive && !now.Before(e) {
			v.Status = "expired"
		}
	}
	return v
}

type eabKeysOut struct {
	Body struct {
		Items []EABKeyView `json:"items"`
	}
}

type createEABIn struct {
	Body struct {
		Profile    string            `json:"profile" maxLength:"63" doc:"the profile the key is for"`
		Owner      string            `json:"owner,omitempty" maxLength:"200"`
		Attributes map[string]string `json:"attributes,omitempty" doc:"custom attributes of the bound accounts' certificates under the key's profile (the account's own override them; an order cannot)"`
		Allow      []string          `json:"allow,omitempty" doc:"identifier rules the bound accounts may order"`
		Expires    string            `json:"expires,omitempty" doc:"how long the key can bind accounts, e.g. 30d; empty: forever; 422 when it would end after 2262-04-11T23:47:16Z, the latest expiry stored" example:"30d"`
		SingleUse  bool              `json:"single_use,omitempty"`
	}
}

// CreatedEABKey is a new EAB key with its HMAC key, shown this once.
type CreatedEABKey struct {
	HMAC string `json:"hmac" doc:"the HMAC key, unpadded base64url; it cannot be retrieved again"`
	EABKeyView
	// Directory is the profile's ACME directory URL (EABDirectory), the
	// one to give the client with the key.
	Directory string `json:"directory" doc:"the ACME directory URL of the key's profile, https://HOSTNAME:PORT/acme/PROFILE/directory (the server's hostname and listen port), to give the client with the key"`
}

type createEABOut struct {
	// CacheControl is "no-store" (noStore): the body holds the HMAC key.
	CacheControl string `header:"Cache-Control"`
	Body         CreatedEABKey
}

type kidIn struct {
	KID string `path:"kid" maxLength:"64"`
}

type eabKeyOut struct {
	Body EABKeyView
}

func eabRoutes(a *API) {
	Register(a, auth.PermEABRead, huma.Operation{OperationID: "list-eab-keys", Method: http.MethodGet, Path: Prefix + "/eab-keys",
		Summary: "List EAB keys", Tags: []string{"eab"}, Description: "Newest first; never their HMAC keys."},
		func(ctx context.Context, _ *auth.Principal, _ *struct{}) (*eabKeysOut, error) {
			keys, err := a.d.Store.ListEABKeys(ctx)
			if err != nil {
				return nil, a.storeError(ctx, "EAB keys", err)
			}
			out := &eabKeysOut{}
			out.Body.Items = []EABKeyView{}
			for _, k := range keys {
				out.Body.Items = append(out.Body.Items, EABKeyOf(k, a.d.Now()))
			}
			return out, nil
		})
	Register(a, auth.PermEABWrite, huma.Operation{OperationID: "create-eab-key", Method: http.MethodPost, Path: Prefix + "/eab-keys",
		Summary: "Create an EAB key", Tags: []string{"eab"}, DefaultStatus: http.StatusCreated, Errors: []int{422},
		Description: "Returns the key id and the HMAC key (RFC 8555 §7.3.4) once, with Cache-Control: no-store. 422, naming the field in its errors list, for a profile that does not exist, " +
			"attributes the profile does not declare, an allow rule that does not parse or can match no name (docs/profiles.md, Identifier rules) or a bad expiry. " +
			"Audited as eab_key.create (without the HMAC key) in the same transaction."},
		func(ctx context.Context, pr *auth.Principal, in *createEABIn) (*createEABOut, error) {
			name := in.Body.Profile
			if name == "" {
				name = policy.DefaultName
			}
			p, _, err := a.profile(ctx, name, "body.profile")
			if err != nil {
				return nil, err
			}
			var ttl time.Duration
			if in.Body.Expires != "" {
				if ttl, err = config.ParseDuration(in.Body.Expires); err != nil || ttl <= 0 {
					return nil, invalidField("body.expires", "expires must be a positive duration such as 30d", in.Body.Expires)
				}
				if err := store.CheckLifetime(a.d.Now(), ttl); err != nil {
					return nil, invalidField("body.expires", "expires: "+err.Error(), in.Body.Expires)
				}
			}
			for i, rule := range in.Body.Allow {
				err := policy.CheckRule(rule)
				if err == nil {
					// A rule that no name the profile accepts matches.
					err = p.CheckAllowWithin([]string{rule})
				}
				if err != nil {
					var fe *policy.FieldError
					if errors.As(err, &fe) {
						err = fe.Err
					}
					return nil, invalidField(fmt.Sprintf("body.allow[%d]", i), err.Error(), rule)
				}
			}
			k, err := ra.NewEABKey(p, ra.EABKeyRequest{Owner: in.Body.Owner, Attributes: in.Body.Attributes, Allow: in.Body.Allow,
				Expires: ttl, SingleUse: in.Body.SingleUse}, a.d.Now().UTC())
			if err != nil {
				// What is left to refuse: the attributes.
				return nil, invalidField("body.attributes", err.Error(), in.Body.Attributes)
			}
			v := EABKeyOf(k, a.d.Now())
			events, err := a.auditEvents(ctx, pr, audit.ActionEABKeyCreate, audit.ObjectEABKey, k.KID, nil, v)
			if err != nil {
				return nil, err
			}
			if err := a.d.Store.CreateEABKey(ctx, k, events...); err != nil {
				return nil, a.storeError(ctx, "EAB key", err)
			}
			return &createEABOut{CacheControl: noStore, Body: CreatedEABKey{HMAC: base64.RawURLEncoding.EncodeToString(k.HMACKey), EABKeyView: v,
				Directory: EABDirectory(a.d.ACMEBase, k.Profile)}}, nil
		})
	Register(a, auth.PermEABWrite, huma.Operation{OperationID: "revoke-eab-key", Method: http.MethodPost, Path: Prefix + "/eab-keys/{kid}/revoke",
		Summary: "Revoke an EAB key", Tags: []string{"eab"}, Errors: []int{404, 409},
		Description: "The key binds no new account; accounts already bound keep working. 409 when already revoked. Audited as eab_key.revoke in the same transaction."},
		func(ctx context.Context, pr *auth.Principal, in *kidIn) (*eabKeyOut, error) {
			now := a.d.Now()
			events, err := a.auditChange(ctx, audit.Event{Actor: pr.Actor(), Action: audit.ActionEABKeyRevoke, ObjectType: audit.ObjectEABKey, ObjectID: in.KID,
				Replaced: audit.ReplacedRow(func(old *store.EABKey) (any, any) {
					after := *old
					after.Status = store.EABRevoked
					return EABKeyOf(old, now), EABKeyOf(&after, now)
				})})
			if err != nil {
				return nil, err
			}
			// The answer is the key as the revocation's transaction left
			// it, with or without an audit log.
			k, err := a.d.Store.RevokeEABKey(ctx, in.KID, events...)
			if errors.Is(err, store.ErrStale) {
				// As certgate eab revoke says it (storeError's 409 said
				// "is not in a state that allows this").
				return nil, huma.Error409Conflict("EAB key " + in.KID + " is already revoked")
			}
			if err != nil {
				return nil, a.storeError(ctx, "EAB key "+in.KID, err)
			}
			return &eabKeyOut{Body: EABKeyOf(k, now)}, nil
		})
}

type approvalsIn struct {
	Status string `query:"status" enum:"pending,approved,rejected,all" default:"pending"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type approvalsOut struct {
	Body struct {
		Items []ApprovalItem `json:"items"`
		NextPage
	}
}

type approvalIn struct {
	ID string `path:"id" maxLength:"64"`
}

type approvalOut struct {
	Body ra.ApprovalView
}

type approvalDetailOut struct {
	Body *ApprovalDetail
}

type decideIn struct {
	ID   string    `path:"id" maxLength:"64"`
	Body *decision // optional: an approval needs no comment
}

type decision struct {
	Comment string `json:"comment,omitempty" maxLength:"1000" doc:"recorded with the decision; shown to the ACME client on rejection (required there)"`
}

// ApprovalCursor is the cursor of the approvals page that follows ap (the
// next_cursor of GET /api/v1/approvals): opaque base64url text.
func ApprovalCursor(ap *store.Approval) string { return timeIDCursor(ap.RequestedAt, ap.ID) }

// ParseApprovalCursor decodes an ApprovalCursor into the key the page
// after it starts after (store.ListApprovalsPage); nil for "" (the first
// page). A malformed cursor is an error (a 422 problem naming
// query.cursor).
func ParseApprovalCursor(c string) (*store.ApprovalKey, error) {
	if c == "" {
		return nil, nil
	}
	t, id, err := parseOrderCursor(c)
	if err != nil {
		return nil, err
	}
	return &store.ApprovalKey{RequestedAt: t, ID: id}, nil
}

func approvalRoutes(a *API) {
	Register(a, auth.PermApprovalsRead, huma.Operation{OperationID: "list-approvals", Method: http.MethodGet, Path: Prefix + "/approvals",
		Summary: "List approval requests", Tags: []string{"approvals"}, Errors: []int{422},
		Description: "Approvals in status, oldest request first (ties by ID), paginated by cursor (keyset pagination); a malformed cursor is 422."},
		func(ctx context.Context, _ *auth.Principal, in *approvalsIn) (*approvalsOut, error) {
			status := in.Status
			if status == "all" {
				status = ""
			}
			after, err := ParseApprovalCursor(in.Cursor)
			if err != nil {
				return nil, err
			}
			aps, err := a.d.Store.ListApprovalsPage(ctx, status, after, in.Limit+1)
			if err != nil {
				return nil, a.storeError(ctx, "approvals", err)
			}
			out := &approvalsOut{}
			if len(aps) > in.Limit {
				aps = aps[:in.Limit]
				out.Body.NextCursor = ApprovalCursor(aps[len(aps)-1])
			}
			if out.Body.Items, err = ApprovalItems(ctx, a.d.Store, aps); err != nil {
				return nil, a.storeError(ctx, "approvals", err)
			}
			return out, nil
		})
	Register(a, auth.PermApprovalsRead, huma.Operation{OperationID: "get-approval", Method: http.MethodGet, Path: Prefix + "/approvals/{id}",
		Summary: "Show an approval request", Tags: []string{"approvals"}, Errors: []int{404},
		Description: "The approval with what its approver decides on: the order's identifiers, custom attributes, requested validity and expiry, the CSR's key type, the account's status and the EAB key (and owner) it was bound with, and the approval's history (requested, escalated, decided). An unknown ID is 404."},
		func(ctx context.Context, _ *auth.Principal, in *approvalIn) (*approvalDetailOut, error) {
			d, err := ApprovalDetailOf(ctx, a.d.Store, in.ID)
			if err != nil {
				return nil, a.storeError(ctx, "approval "+in.ID, err)
			}
			return &approvalDetailOut{Body: d}, nil
		})
	decide := func(approve bool) func(ctx context.Context, pr *auth.Principal, in *decideIn) (*approvalOut, error) {
		return func(ctx context.Context, pr *auth.Principal, in *decideIn) (*approvalOut, error) {
			if in.Body == nil {
				in.Body = &decision{}
			}
			// The answer is the approval as the decision's transaction
			// left it (with an escalation committed meanwhile, say).
			ap, err := ra.Decide(ctx, a.d.Store, a.d.Audit, in.ID, approve, pr.Actor(), in.Body.Comment, a.d.Now().UTC())
			if err != nil {
				if errors.Is(err, ra.ErrNoRejectionComment) { // as certgate approval reject
					return nil, invalidField("body.comment", "a rejection needs a comment saying why (the ACME client sees it)", in.Body.Comment)
				}
				if errors.Is(err, ra.ErrInvalidComment) {
					return nil, invalidField("body.comment", strings.TrimPrefix(err.Error(), ra.ErrInvalidComment.Error()+": "), in.Body.Comment)
				}
				if errors.Is(err, store.ErrStale) {
					return nil, huma.Error409Conflict("the approval was already decided")
				}
				if errors.Is(err, store.ErrAccountNotValid) {
					return nil, huma.Error409Conflict("the approval's account is no longer valid (deactivated or revoked, RFC 8555 §7.3.6): it can no longer be approved; the server rejects it")
				}
				if errors.Is(err, store.ErrOrderExpired) {
					return nil, huma.Error409Conflict("the approval's order expired (RFC 8555 §7.1.3): it can no longer be approved; the server rejects it")
				}
				if errors.Is(err, store.ErrKeyBlocked) {
					return nil, huma.Error409Conflict("the approval's CSR key was blocked since it was requested (a certificate with that key was revoked for keyCompromise): it can no longer be approved; the server rejects it")
				}
				if errors.Is(err, store.ErrProfileDeleted) {
					return nil, huma.Error409Conflict("the approval's profile was deleted: it can no longer be approved; the server rejects it")
				}
				if errors.Is(err, store.ErrAuthzNotValid) {
					return nil, huma.Error409Conflict("an authorization of the approval's order was deactivated, revoked or expired since it was finalized (RFC 8555 §7.1.6: the order is invalid): it can no longer be approved and no certificate is issued; the server rejects it")
				}
				return nil, a.storeError(ctx, "approval "+in.ID, err)
			}
			return &approvalOut{Body: ra.ApprovalSnapshot(ap)}, nil
		}
	}
	Register(a, auth.PermApprovalsDecide, huma.Operation{OperationID: "approve", Method: http.MethodPost, Path: Prefix + "/approvals/{id}/approve",
		Summary: "Approve a request", Tags: []string{"approvals"}, Errors: []int{404, 409},
		Description: "The certificate is issued at the ACME client's next poll of its order (or by the server's sweep). 409 when already decided, or when its order expired, its account is no longer valid, its CSR's key was blocked, its profile deleted or an authorization of its order deactivated, revoked or expired (it would issue nothing). An authorization that stops being valid after the approval makes the order invalid instead of issued. Audited as approval.approve in the same transaction."},
		decide(true))
	Register(a, auth.PermApprovalsDecide, huma.Operation{OperationID: "reject", Method: http.MethodPost, Path: Prefix + "/approvals/{id}/reject",
		Summary: "Reject a request", Tags: []string{"approvals"}, Errors: []int{404, 409, 422},
		Description: "The order becomes invalid with an unauthorized problem carrying the comment (required). 409 when already decided. Audited as approval.reject in the same transaction."},
		decide(false))
}
