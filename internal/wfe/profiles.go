package wfe

import (
	"context"
	"net/http"
	"strings"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/metrics"
	"github.com/certgate/certgate/internal/policy"
)

// Each profile is an ACME directory: /acme/{profile}/directory, with its
// own newAccount (EAB requirement) and newOrder (the profile of its
// orders) below it. The other resources are shared by all profiles.
const (
	profileDirectory  = "directory"
	profileNewAccount = "new-account"
	profileNewOrder   = "new-order"
)

// profileOf returns the profile named by a path /acme/{profile}/..., or ""
// for the default profile's resources (/acme/directory, ...).
func profileOf(path string) string {
	rest, ok := strings.CutPrefix(path, "/acme/")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return name
}

// profilePath returns the path of a default-profile resource (e.g.
// newOrderPath) in profile's directory ("" or the default: unchanged).
func profilePath(profile, path string) string {
	if profile == "" {
		return path
	}
	return "/acme/" + profile + "/" + strings.TrimPrefix(path, "/acme/")
}

// profileRoutes serves /acme/{profile}/directory, new-account and
// new-order for every profile, and 404 for anything else below /acme/.
// The Link rel="index" of newAccount and newOrder names the profile's
// directory (RFC 8555 §7.1: the directory the resource belongs to), not
// /acme/directory; the profile's directory has none (§7.1: the relation
// is on all resources other than the directory); for a name that is no
// profile (a 404) it names /acme/directory. The lookup
// is the one the handler makes next (policy.Registry caches it).
func (w *WFE) profileRoutes() http.HandlerFunc {
	own := func(r *http.Request) string {
		name := profileOf(r.URL.Path)
		if _, err := w.ra.Profile(r.Context(), name); err != nil {
			return directoryPath
		}
		return profilePath(name, directoryPath)
	}
	dir := w.handleIn(metrics.EndpointDirectory, w.directory, own, http.MethodGet, http.MethodHead)
	acct := w.handleIn(metrics.EndpointNewAccount, w.newAccount, own, http.MethodPost)
	order := w.handleIn(metrics.EndpointNewOrder, w.newOrder, own, http.MethodPost)
	nf := w.handle(metrics.EndpointOther, w.notFound, http.MethodGet, http.MethodHead, http.MethodPost)
	return func(rw http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/acme/"), "/")
		if len(parts) == 2 && parts[0] != "" {
			switch parts[1] {
			case profileDirectory:
				dir(rw, r)
				return
			case profileNewAccount:
				acct(rw, r)
				return
			case profileNewOrder:
				order(rw, r)
				return
			}
		}
		nf(rw, r)
	}
}

// profileMeta returns the directory meta of profile's directory ("" for
// /acme/directory): externalAccountRequired from the profile and
// "profiles" (draft-ietf-acme-profiles §3): every profile on the default
// directory, the profile itself on its own. An unknown profile is a 404
// malformed problem.
func (w *WFE) profileMeta(ctx context.Context, profile string) (*acme.DirectoryMeta, error) {
	if profile != "" {
		p, err := w.ra.Profile(ctx, profile)
		if err != nil {
			if pr, ok := acme.AsProblem(err); ok && pr.Type == acme.InvalidProfile {
				nf := acme.NewProblem(acme.Malformed, "there is no profile %q, so no directory at /acme/%s/directory", profile, profile)
				nf.Status = http.StatusNotFound
				return nil, nf
			}
			return nil, err
		}
		return &acme.DirectoryMeta{ExternalAccountRequired: p.RequireEAB, Profiles: map[string]string{p.Name: describe(p)}}, nil
	}
	ps, err := w.ra.Profiles(ctx)
	if err != nil {
		return nil, err
	}
	m := &acme.DirectoryMeta{Profiles: make(map[string]string, len(ps))}
	for _, p := range ps {
		m.Profiles[p.Name] = describe(p)
		if p.Name == policy.DefaultName {
			m.ExternalAccountRequired = p.RequireEAB
		}
	}
	return m, nil
}

func describe(p *policy.Profile) string {
	if p.Description != "" {
		return p.Description
	}
	return p.Name
}

// orderProfile resolves the profile of a newOrder posted to path, whose
// payload named requested (draft-ietf-acme-profiles §4): a profile's own
// newOrder only takes that profile (another one is invalidProfile); the
// default newOrder takes any, "" meaning the default.
func orderProfile(path, requested string) (string, error) {
	dir := profileOf(path)
	switch {
	case dir == "":
		return requested, nil
	case requested == "" || requested == dir:
		return dir, nil
	default:
		return "", acme.NewProblem(acme.InvalidProfile, "this is the directory of profile %s; profile %q must be ordered through /acme/directory or its own directory", dir, requested)
	}
}
