package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/acme"
)

// AttributeError is a failed check of custom attributes against a
// profile. Each list is sorted; Bad holds "name (one of a, b)" or "name
// (must match re)". Error gives "profile NAME: " and the non-empty lists;
// callers add where the attributes came from and how to fix them.
type AttributeError struct {
	Profile string   // the profile checked against
	Missing []string // required attributes without a value
	Empty   []string // attributes given an empty value (CheckPartialAttributes only)
	Bad     []string // attributes whose value breaks the enum or regex, with the rule
	Unknown []string // attributes the profile does not declare
	names   []string // the attributes in Empty, Bad and Unknown, by bare name
}

// Error lists the problems, e.g. "profile web: missing required
// attributes: owner; attributes not defined by the profile: colour".
func (e *AttributeError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, "missing required attributes: "+strings.Join(e.Missing, ", "))
	}
	if len(e.Empty) > 0 {
		parts = append(parts, "empty attribute values: "+strings.Join(e.Empty, ", "))
	}
	if len(e.Bad) > 0 {
		parts = append(parts, "invalid attribute values: "+strings.Join(e.Bad, "; "))
	}
	if len(e.Unknown) > 0 {
		parts = append(parts, "attributes not defined by the profile: "+strings.Join(e.Unknown, ", "))
	}
	return "profile " + e.Profile + ": " + strings.Join(parts, "; ")
}

// offending reports whether attribute name is in Empty, Bad or Unknown.
func (e *AttributeError) offending(name string) bool { return slices.Contains(e.names, name) }

// AttributeSource is one source of a certificate's custom attributes for
// MergeAttributes: the values, and for error details where they come
// from (e.g. "the account's attributes") and how to change them.
type AttributeSource struct {
	Attrs map[string]string // attribute name to value
	From  string            // where they come from, e.g. "the account's attributes"
	Fix   string            // how to change them, for the error's text
}

// MergeAttributes combines custom attribute sources, later ones overriding
// earlier ones (certgate's order: EAB binding defaults, the account, the
// order), and checks the result against the profile: every attribute must
// be declared, match its enum or regex, and every required one must be
// present. Errors are RFC 8555 malformed problems naming the attributes
// concerned and, for an undeclared attribute or a bad value, the source
// it came from with that source's fix. The result is never nil.
func (p *Profile) MergeAttributes(sources ...AttributeSource) (map[string]string, error) {
	out := map[string]string{}
	from := map[string]int{} // attribute name -> index of the source that set it last
	for i, src := range sources {
		for k, v := range src.Attrs {
			out[k] = v
			from[k] = i
		}
	}
	ae := p.checkAttributes(out, true)
	if ae == nil {
		maps.DeleteFunc(out, func(_, v string) bool { return blank(v) }) // no value
		return out, nil
	}
	detail := ae.Error()
	if len(ae.Missing) > 0 {
		detail += " (send them in the newOrder \"certgate\": {\"attributes\": {...}} object, set them on the account with certgate account set-attributes, or bind them to the account's EAB key)"
	}
	for i, src := range sources {
		var names []string
		for k, j := range from {
			if j == i && ae.offending(k) {
				names = append(names, k)
			}
		}
		if len(names) == 0 {
			continue
		}
		sort.Strings(names)
		detail += fmt.Sprintf("; %s from %s", strings.Join(names, ", "), src.From)
		if src.Fix != "" {
			detail += " (" + src.Fix + ")"
		}
	}
	return nil, acme.NewProblem(acme.Malformed, "%s", detail)
}

// CheckAttributes checks final attributes against the profile (see
// MergeAttributes). The error is a malformed problem.
func (p *Profile) CheckAttributes(attrs map[string]string) error {
	if ae := p.checkAttributes(attrs, true); ae != nil {
		return acme.NewProblem(acme.Malformed, "%s", ae.Error())
	}
	return nil
}

// CheckPartialAttributes checks one source of attributes that later
// sources may complete (an EAB key's defaults, an account's attributes):
// each must be declared by the profile with a non-empty value that
// matches its enum or regex; required ones may be missing. The error is
// an *AttributeError.
func (p *Profile) CheckPartialAttributes(attrs map[string]string) error {
	if ae := p.checkAttributes(attrs, false); ae != nil {
		return ae
	}
	return nil
}

// checkAttributes checks attrs; final: an attribute set is complete (a
// required attribute must be present, an empty value counts as absent)
// rather than partial (an empty value is an error).
func (p *Profile) checkAttributes(attrs map[string]string, final bool) *AttributeError {
	ae := &AttributeError{Profile: p.Name}
	for k, v := range attrs {
		a := p.attribute(k)
		switch {
		case a == nil:
			ae.Unknown = append(ae.Unknown, k)
		case blank(v) && !final:
			ae.Empty = append(ae.Empty, k)
		case blank(v):
			continue // no value: missing if required (below)
		case !attributeText(v):
			ae.Bad = append(ae.Bad, k+" (must be UTF-8 text without control characters or bidirectional formatting characters)")
		case v != strings.TrimSpace(v):
			ae.Bad = append(ae.Bad, k+" (must not start or end with white space)")
		case len(a.Enum) > 0 && !slices.Contains(a.Enum, v):
			ae.Bad = append(ae.Bad, k+" (one of "+strings.Join(a.Enum, ", ")+")")
		case a.re != nil && !a.re.MatchString(v):
			ae.Bad = append(ae.Bad, k+" (must match "+a.Regex+")")
		default:
			continue
		}
		ae.names = append(ae.names, k)
	}
	if final {
		for _, a := range p.Attributes {
			if v := attrs[a.Name]; a.Required && blank(v) { // an empty or blank value is no value
				ae.Missing = append(ae.Missing, a.Name)
			}
		}
	}
	if len(ae.names) == 0 && len(ae.Missing) == 0 {
		return nil
	}
	sort.Strings(ae.Unknown)
	sort.Strings(ae.Empty)
	sort.Strings(ae.Bad)
	return ae
}

// blank reports whether an attribute value is empty or only white space:
// no value (a required attribute with it is missing).
func blank(v string) bool { return strings.TrimSpace(v) == "" }

// attributeText reports whether v may be an attribute value: valid UTF-8
// without control characters (Unicode Cc: NUL, which PostgreSQL's text
// cannot store, line breaks, escapes) or bidirectional formatting
// characters (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), which
// would make a value look like another in reports, the dashboard and
// notifications.
func attributeText(v string) bool {
	if !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		switch {
		case unicode.IsControl(r),
			r == 0x061c, r == 0x200e, r == 0x200f,
			r >= 0x202a && r <= 0x202e,
			r >= 0x2066 && r <= 0x2069:
			return false
		}
	}
	return true
}

// ParseAttributeArgs parses command-line key=value custom attributes
// (certgate eab create --attr, certgate account set-attributes): each key
// must be a valid attribute name (a letter, then up to 62 letters, digits,
// '_', '.' or '-'; the rule for a profile's attribute names), each value
// non-empty, and no key may repeat. The error names the offending
// argument in one line.
func ParseAttributeArgs(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "":
			return nil, fmt.Errorf("%q: use key=value", kv)
		case !attrNameRE.MatchString(k):
			return nil, fmt.Errorf("%q: invalid attribute name %q (a letter, then letters, digits, _ . -; at most 63)", kv, k)
		case v == "":
			return nil, fmt.Errorf("%q: empty value (leave the attribute out instead)", kv)
		}
		if old, dup := out[k]; dup {
			return nil, fmt.Errorf("%q: attribute %s given twice (also %s=%s)", kv, k, k, old)
		}
		out[k] = v
	}
	return out, nil
}

func (p *Profile) attribute(name string) *Attribute {
	for i := range p.Attributes {
		if p.Attributes[i].Name == name {
			return &p.Attributes[i]
		}
	}
	return nil
}
