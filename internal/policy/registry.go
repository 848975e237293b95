package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/certgate/certgate/internal/store"
)

// ErrUnknown is returned (wrapped) for a profile name that does not exist.
var ErrUnknown = errors.New("policy: unknown profile")

// Source is the storage profiles are read from; *store.Store implements it.
type Source interface {
	// GetProfile returns the stored profile called name; store.ErrNotFound
	// when there is none.
	GetProfile(ctx context.Context, name string) (*store.Profile, error)
	// ListProfiles returns every stored profile, by name.
	ListProfiles(ctx context.Context) ([]store.Profile, error)
}

// Registry resolves profile names to validated profiles: those stored in
// the database, and the built-in default profile when none named "default"
// is stored. Lookups are cached for TTL, so profile changes made by
// `certgate profile` (another process) apply within that time.
type Registry struct {
	src Source
	def *Profile
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cached
	list  *cachedList
}

type cached struct {
	p     *Profile // nil: not found
	until time.Time
}

type cachedList struct {
	ps    []*Profile
	until time.Time
}

// NewRegistry returns a registry over src with def as the built-in default
// profile (validated here; its Name is set to DefaultName). ttl <= 0 means
// 2 seconds; now nil means time.Now.
func NewRegistry(src Source, def Profile, ttl time.Duration, now func() time.Time) (*Registry, error) {
	def.Name = DefaultName
	if err := def.Validate(); err != nil {
		return nil, fmt.Errorf("built-in default profile: %w", err)
	}
	if ttl <= 0 {
		ttl = 2 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	return &Registry{src: src, def: &def, ttl: ttl, now: now, cache: map[string]cached{}}, nil
}

// Default returns the built-in default profile (not a stored override).
func (r *Registry) Default() *Profile { return r.def }

// Get returns the profile called name ("" means DefaultName). Errors wrap
// ErrUnknown, or the storage or decoding error. Callers must not modify
// the returned profile.
func (r *Registry) Get(ctx context.Context, name string) (*Profile, error) {
	if name == "" {
		name = DefaultName
	}
	now := r.now()
	r.mu.Lock()
	c, ok := r.cache[name]
	r.mu.Unlock()
	if ok && now.Before(c.until) {
		return r.found(name, c.p)
	}
	var p *Profile
	rec, err := r.src.GetProfile(ctx, name)
	switch {
	case err == nil:
		if p, err = Parse(rec.Spec); err != nil {
			return nil, fmt.Errorf("stored profile %s: %w", name, err)
		}
	case errors.Is(err, store.ErrNotFound):
	default:
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	r.mu.Lock()
	r.cache[name] = cached{p: p, until: now.Add(r.ttl)}
	r.mu.Unlock()
	return r.found(name, p)
}

func (r *Registry) found(name string, p *Profile) (*Profile, error) {
	if p != nil {
		return p, nil
	}
	if name == DefaultName {
		return r.def, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknown, name)
}

// DefaultFirst returns the profiles that apply, as the registry, the
// admin API and `certgate profile list` show them: def (the built-in
// default) first, or in its place the stored profile named DefaultName,
// then the other stored profiles in their order.
func DefaultFirst(def *Profile, stored []*Profile) []*Profile {
	out := make([]*Profile, 1, len(stored)+1)
	out[0] = def
	for _, p := range stored {
		if p.Name == DefaultName {
			out[0] = p
			continue
		}
		out = append(out, p)
	}
	return out
}

// List returns every profile, the default first, then by name.
func (r *Registry) List(ctx context.Context) ([]*Profile, error) {
	now := r.now()
	r.mu.Lock()
	l := r.list
	r.mu.Unlock()
	if l != nil && now.Before(l.until) {
		return l.ps, nil
	}
	recs, err := r.src.ListProfiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	stored := make([]*Profile, 0, len(recs))
	for _, rec := range recs {
		p, err := Parse(rec.Spec)
		if err != nil {
			return nil, fmt.Errorf("stored profile %s: %w", rec.Name, err)
		}
		stored = append(stored, p)
	}
	out := DefaultFirst(r.def, stored)
	sort.Slice(out[1:], func(i, j int) bool { return out[i+1].Name < out[j+1].Name })
	r.mu.Lock()
	r.list = &cachedList{ps: out, until: now.Add(r.ttl)}
	r.mu.Unlock()
	return out, nil
}
