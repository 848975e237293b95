package policy

import (
	"slices"
	"sort"
	"strings"

	"github.com/certgate/certgate/internal/acme"
)

// MergeAttributes combines custom attribute sources, later ones overriding
// earlier ones (certgate's order: EAB binding defaults, the account, the
// order), and checks the result against the profile: every attribute must
// be declared, match its enum or regex, and every required one must be
// present. Errors are malformed problems naming the attributes concerned.
// The result is never nil.
func (p *Profile) MergeAttributes(sources ...map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for _, src := range sources {
		for k, v := range src {
			out[k] = v
		}
	}
	if err := p.CheckAttributes(out); err != nil {
		return nil, err
	}
	return out, nil
}

// CheckAttributes checks final attributes against the profile (see
// MergeAttributes).
func (p *Profile) CheckAttributes(attrs map[string]string) error {
	var unknown, bad, missing []string
	for k, v := range attrs {
		a := p.attribute(k)
		switch {
		case a == nil:
			unknown = append(unknown, k)
		case len(a.Enum) > 0 && !slices.Contains(a.Enum, v):
			bad = append(bad, k+" (one of "+strings.Join(a.Enum, ", ")+")")
		case a.re != nil && !a.re.MatchString(v):
			bad = append(bad, k+" (must match "+a.Regex+")")
		}
	}
	for _, a := range p.Attributes {
		if v := attrs[a.Name]; a.Required && v == "" { // an empty value is no value
			missing = append(missing, a.Name)
		}
	}
	sort.Strings(unknown)
	sort.Strings(bad)
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing required attributes: "+strings.Join(missing, ", "))
	}
	if len(bad) > 0 {
		parts = append(parts, "invalid attribute values: "+strings.Join(bad, "; "))
	}
	if len(unknown) > 0 {
		parts = append(parts, "attributes not defined by the profile: "+strings.Join(unknown, ", "))
	}
	if len(parts) == 0 {
		return nil
	}
	return acme.NewProblem(acme.Malformed, "profile %s: %s (send them in the newOrder \"certgate\": {\"attributes\": {...}} object or bind them to the account's EAB key)",
		p.Name, strings.Join(parts, "; "))
}

func (p *Profile) attribute(name string) *Attribute {
	for i := range p.Attributes {
		if p.Attributes[i].Name == name {
			return &p.Attributes[i]
		}
	}
	return nil
}
