// Package policy holds certgate's certificate profiles (certificate
// templates): which identifiers, keys, validity, extended key usages,
// custom attributes, challenge types and approvals a class of certificates
// has. Profiles are stored in the database (see Registry); each one is an
// ACME directory (/acme/{name}/directory) and a value of the ACME profiles
// extension (draft-ietf-acme-profiles). The RA enforces them.
package policy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/config"
	zlintutil "github.com/zmap/zlint/v3/util"
)

// DefaultName is the profile served at /acme/directory and used by orders
// that name none.
const DefaultName = "default"

// Duration is a time.Duration written as in the configuration: "90d",
// "2w", "160h", "1d12h" (JSON and YAML strings). Fields of this type carry
// DurationPattern as their pattern tag, so that the admin API's schema
// check refuses a malformed one with a 422 naming the field (the JSON
// decoder's error names none); the API words the message.
type Duration time.Duration

// DurationPattern is the regular expression (RE2 and ECMA-262) that every
// string config.ParseDuration accepts matches: optional whole weeks ("2w"),
// then optional whole days ("90d"), at least one of them, followed by a Go
// duration, or a Go duration alone. A few strings match that ParseDuration
// still refuses (a negative week or day count, a value beyond about 292
// years).
const DurationPattern = `^(?:(?:[+-]?[0-9]+w(?:[+-]?[0-9]+d)?|[+-]?[0-9]+d)(?:[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))?|[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))$`

// MarshalText implements encoding.TextMarshaler ("90d", "160h").
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(config.FormatDuration(time.Duration(d))), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := config.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Key types a profile may allow (KeyTypes).
const (
	KeyRSA2048   = "rsa2048"
	KeyRSA3072   = "rsa3072"
	KeyRSA4096   = "rsa4096"
	KeyECDSAP256 = "ecdsa-p256"
	KeyECDSAP384 = "ecdsa-p384"
)

// AllKeyTypes are every key type certgate issues for, the default.
var allKeyTypes = []string{KeyRSA2048, KeyRSA3072, KeyRSA4096, KeyECDSAP256, KeyECDSAP384}

// ekuByName maps the profile's EKU names to x509 values (RFC 5280 §4.2.1.12).
var ekuByName = map[string]x509.ExtKeyUsage{
	"serverAuth":      x509.ExtKeyUsageServerAuth,
	"clientAuth":      x509.ExtKeyUsageClientAuth,
	"emailProtection": x509.ExtKeyUsageEmailProtection,
	"codeSigning":     x509.ExtKeyUsageCodeSigning,
}

// Attribute declares one custom attribute of a profile's certificates.
type Attribute struct {
	Name        string   `json:"name" yaml:"name"`                                   // letters, digits, _ . -; starts with a letter; at most 63 characters
	Description string   `json:"description,omitempty" yaml:"description,omitempty"` // for people; shown in docs and the UI
	Required    bool     `json:"required,omitempty" yaml:"required,omitempty"`       // every certificate must carry a value
	Enum        []string `json:"enum,omitempty" yaml:"enum,omitempty"`               // allowed values; empty: any
	Regex       string   `json:"regex,omitempty" yaml:"regex,omitempty"`             // RE2, anchored at both ends; "": any
	re          *regexp.Regexp
}

// Approval says which of a profile's orders wait for an approver after
// finalize. An order needs approval when Always is set, or when any of its
// identifiers matches an Identifiers rule, its key type is in KeyTypes, or
// the profile's EKUs include one of EKUs.
type Approval struct {
	Always      bool     `json:"always,omitempty" yaml:"always,omitempty"`           // every order needs approval
	Identifiers []string `json:"identifiers,omitempty" yaml:"identifiers,omitempty"` // identifier rules (see Rule)
	KeyTypes    []string `json:"keyTypes,omitempty" yaml:"keyTypes,omitempty"`       // key types as in Profile.KeyTypes
	EKUs        []string `json:"ekus,omitempty" yaml:"ekus,omitempty"`               // EKU names as in Profile.EKUs
	// EscalateAfter is how long an approval may wait before it is
	// escalated (logged and sent to the configured webhook); 0: never.
	EscalateAfter Duration `json:"escalateAfter,omitempty" yaml:"escalateAfter,omitempty" pattern:"^(?:(?:[+-]?[0-9]+w(?:[+-]?[0-9]+d)?|[+-]?[0-9]+d)(?:[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))?|[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))$"`
	rules         []Rule
}

// Profile is one certificate profile. Empty lists mean "no restriction"
// (all identifier types, all key types, all challenge types, any name).
// Call Validate (Registry does) before using the Check methods.
type Profile struct {
	Name        string `json:"name" yaml:"name"`                                   // lower case letters, digits and hyphens, at most 63 characters; in ACME URLs
	Description string `json:"description,omitempty" yaml:"description,omitempty"` // for people; in the directory's meta.profiles
	// Issuer names the issuer that signs: "local" (the built-in CA, the
	// default) or an issuer of the server's issuers file (an upstream
	// ACME CA, docs/issuers.md). Validate checks its syntax, CheckIssuer
	// that it exists.
	Issuer string `json:"issuer,omitempty" yaml:"issuer,omitempty"`
	// IdentifierTypes are the allowed ACME identifier types: "dns", "ip".
	IdentifierTypes []string `json:"identifierTypes,omitempty" yaml:"identifierTypes,omitempty"`
	// Allow and Deny are identifier rules (see Rule). With Allow set, only
	// identifiers matching one of them are accepted; Deny wins over Allow.
	Allow []string `json:"allow,omitempty" yaml:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty" yaml:"deny,omitempty"` // see Allow
	// Wildcard allows wildcard DNS names ("*.example.com").
	Wildcard bool `json:"wildcard" yaml:"wildcard" required:"false"`
	// KeyTypes are the allowed certificate keys: rsa2048, rsa3072,
	// rsa4096, ecdsa-p256, ecdsa-p384 (rsa3072 allows 3072-4095 bits).
	KeyTypes []string `json:"keyTypes,omitempty" yaml:"keyTypes,omitempty"`
	// Validity is the default lifetime; MaxValidity the longest a newOrder
	// may ask with notBefore/notAfter (0: Validity).
	Validity Duration `json:"validity" yaml:"validity" pattern:"^(?:(?:[+-]?[0-9]+w(?:[+-]?[0-9]+d)?|[+-]?[0-9]+d)(?:[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))?|[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))$"`
	// MaxValidity: see Validity above.
	MaxValidity Duration `json:"maxValidity,omitempty" yaml:"maxValidity,omitempty" pattern:"^(?:(?:[+-]?[0-9]+w(?:[+-]?[0-9]+d)?|[+-]?[0-9]+d)(?:[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))?|[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))$"`
	// EKUs of issued certificates: serverAuth, clientAuth,
	// emailProtection, codeSigning (default serverAuth).
	EKUs []string `json:"ekus,omitempty" yaml:"ekus,omitempty"`
	// Attributes declares the custom attributes (see Attributes).
	Attributes []Attribute `json:"attributes,omitempty" yaml:"attributes,omitempty"`
	// Approval, when set, makes matching orders wait for an approver.
	Approval *Approval `json:"approval,omitempty" yaml:"approval,omitempty"`
	// AuthzReuse is how long a valid authorization is reused by later
	// orders; nil: the server's setting; 0: never.
	AuthzReuse *Duration `json:"authzReuse,omitempty" yaml:"authzReuse,omitempty" pattern:"^(?:(?:[+-]?[0-9]+w(?:[+-]?[0-9]+d)?|[+-]?[0-9]+d)(?:[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))?|[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))$"`
	// Challenges are the offered challenge types: http-01, dns-01,
	// tls-alpn-01 (dns-01 is always the only one for wildcards).
	Challenges []string `json:"challenges,omitempty" yaml:"challenges,omitempty"`
	// RequireEAB makes newAccount on this profile's directory demand an
	// external account binding (RFC 8555 §7.3.4).
	RequireEAB bool `json:"requireEAB,omitempty" yaml:"requireEAB,omitempty"`
	// PreAuthorized are identifier rules whose authorizations are valid
	// at once, without a challenge, for accounts bound to an EAB key
	// (private PKI, where the EAB key is the proof of control).
	PreAuthorized []string `json:"preAuthorized,omitempty" yaml:"preAuthorized,omitempty"`
	// Validation, when set, overrides the server's DNS resolver settings
	// for the validations of this profile's authorizations (see Validation).
	Validation *Validation `json:"validation,omitempty" yaml:"validation,omitempty"`
	// SubjectFields are the subject attributes besides the common name
	// that are copied from the CSR into the certificate: O, OU, C, ST, L
	// (default none). CA/B rules forbid them in domain-validated TLS
	// server certificates, so the lint refuses them with serverAuth.
	SubjectFields []string `json:"subjectFields,omitempty" yaml:"subjectFields,omitempty"`
	// RenewalWindow, when set, replaces the server's default ACME
	// Renewal Information window (RFC 9773) of the profile's
	// certificates.
	RenewalWindow *RenewalWindow `json:"renewalWindow,omitempty" yaml:"renewalWindow,omitempty"`
	// FollowsBR marks the built-in default profile whose validity is
	// certgate's default (serve without --cert-validity) rather than an
	// operator's choice: ValidityAt then shortens Validity and
	// MaxValidity to what the CA/B Forum BR allow at signing time, so
	// that a server left on its defaults keeps issuing as the BR limit
	// falls (SC-081). Never stored, parsed or shown.
	FollowsBR bool `json:"-" yaml:"-"`

	allow, deny, preauth []Rule
}

// ValidityAt returns the validity period and the longest one a newOrder
// may ask (RFC 8555 §7.4 notBefore/notAfter) of a certificate of p whose
// notBefore is nb: Validity and MaxValidity (0 meaning Validity), each at
// most certlint.MaxServerValidity(nb) days when p.FollowsBR. Periods are
// inclusive, as RFC 5280 §4.1.2.5 and the BR count them: a certificate
// of period v has notAfter = notBefore + v − 1 second.
func (p *Profile) ValidityAt(nb time.Time) (validity, max time.Duration) {
	validity, max = time.Duration(p.Validity), time.Duration(p.MaxValidity)
	if max == 0 {
		max = validity
	}
	if p.FollowsBR {
		if l, ok := certlint.MaxServerValidity(nb); ok {
			limit := time.Duration(l.Days) * 24 * time.Hour
			validity, max = min(validity, limit), min(max, limit)
		}
	}
	return validity, max
}

// Validation holds a profile's own DNS resolver settings (issue: resolvers
// per profile). Each zero field keeps the server's setting (va-dns-resolver,
// va-dns-timeout, va-dnssec). They apply to every DNS lookup of the
// validation of an authorization created for the profile: dns-01 TXT
// (RFC 8555 §8.4), the A/AAAA lookups of http-01 and tls-alpn-01 (RFC 8555
// §8.3, RFC 8737 §3) and CAA (RFC 8659), at validation and when CAA is
// re-checked at finalize. UDP answers that are truncated are always
// retried over TCP (RFC 7766 §5).
type Validation struct {
	// DNSResolvers are recursive DNS servers ("host:port"), asked in order,
	// the next only when one does not answer.
	DNSResolvers []string `json:"dnsResolvers,omitempty" yaml:"dnsResolvers,omitempty"`
	// DNSTimeout bounds one query to one server, e.g. "5s".
	DNSTimeout Duration `json:"dnsTimeout,omitempty" yaml:"dnsTimeout,omitempty" pattern:"^(?:(?:[+-]?[0-9]+w(?:[+-]?[0-9]+d)?|[+-]?[0-9]+d)(?:[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))?|[+-]?(?:0|(?:(?:[0-9]+(?:[.][0-9]*)?|[.][0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+))$"`
	// DNSSEC, when set, turns DNSSEC checking on or off (AD bit from a
	// validating resolver, RFC 4035 §3.2.3).
	DNSSEC *bool `json:"dnssec,omitempty" yaml:"dnssec,omitempty"`
}

// validate checks v's fields; errors name the field.
func (v *Validation) validate() error {
	for i, s := range v.DNSResolvers {
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" || port == "" {
			return fieldError(fmt.Sprintf("dnsResolvers[%d]", i), s, fmt.Errorf("validation.dnsResolvers: %q is not host:port", s))
		}
	}
	if v.DNSTimeout < 0 {
		return fieldError("dnsTimeout", v.DNSTimeout, errors.New("validation.dnsTimeout must not be negative"))
	}
	return nil
}

// RenewalWindow is a suggested renewal window as fractions of a
// certificate's lifetime L: from notBefore + Start·L to notBefore + End·L,
// 0 < Start < End < 1 (the server's default is 2/3 to 5/6).
type RenewalWindow struct {
	Start float64 `json:"start" yaml:"start"` // fraction of the lifetime, in (0, End)
	End   float64 `json:"end" yaml:"end"`     // fraction of the lifetime, in (Start, 1)
}

// For returns the window of a certificate valid from notBefore to
// notAfter, in UTC whole seconds. It ends at least a second after it
// starts (RFC 9773 §4.2), also when both ends round to the same second.
func (w *RenewalWindow) For(notBefore, notAfter time.Time) (start, end time.Time) {
	life := float64(notAfter.Sub(notBefore))
	start = notBefore.Add(time.Duration(life * w.Start)).UTC().Truncate(time.Second)
	end = notBefore.Add(time.Duration(life * w.End)).UTC().Truncate(time.Second)
	if !end.After(start) {
		end = start.Add(time.Second)
	}
	return start, end
}

var subjectFieldNames = []string{"O", "OU", "C", "ST", "L"}

// Subject returns the subject attributes of csrSubject that the profile
// allows (SubjectFields), without a common name.
func (p *Profile) Subject(csrSubject pkix.Name) pkix.Name {
	var out pkix.Name
	for _, f := range p.SubjectFields {
		switch f {
		case "O":
			out.Organization = csrSubject.Organization
		case "OU":
			out.OrganizationalUnit = csrSubject.OrganizationalUnit
		case "C":
			out.Country = csrSubject.Country
		case "ST":
			out.Province = csrSubject.Province
		case "L":
			out.Locality = csrSubject.Locality
		}
	}
	return out
}

// subjectFieldBounds are the RFC 5280 Appendix A upper bounds, in
// characters, of the subject fields a profile may copy (ub-organization-
// name, ub-organizational-unit-name, ub-state-name, ub-locality-name; a
// country is two letters).
var subjectFieldBounds = map[string]int{"O": 64, "OU": 64, "ST": 128, "L": 128, "C": 2}

// CheckSubject returns a badCSR problem when a subject attribute of the
// CSR that the profile copies into the certificate (Subject) is one the
// certificate lint refuses: empty, with a control character, longer than
// its RFC 5280 upper bound, with leading or trailing white space, or a
// country that is not two
// upper-case letters (ISO 3166-1 alpha-2); O, OU, ST or L in a
// certificate for serverAuth (domain-validated: CA/B BR 7.1.2.7.2 allows
// only the country besides the common name); or one with an invisible
// formatting character (Unicode category Cf: a bidirectional override or
// a zero-width character, which would make it display as another name);
// or an O, OU, ST or L that holds no information (CA/B BR §7.1.4.3): no
// letter or digit ("-", ".", " "), or a word saying the value is absent
// or does not apply ("N/A", "none", "unknown"); or an attribute given more
// than once.
// Attributes the profile does not copy are not checked: they are dropped.
func (p *Profile) CheckSubject(csrSubject pkix.Name) error {
	sub := p.Subject(csrSubject)
	if p.serverAuth() {
		for _, f := range []struct {
			name   string
			values []string
		}{{"O", sub.Organization}, {"OU", sub.OrganizationalUnit}, {"ST", sub.Province}, {"L", sub.Locality}} {
			if len(f.values) > 0 {
				return acme.NewProblem(acme.BadCSR, "the CSR's subject has %s %q, which profile %s cannot copy: its certificates are for serverAuth, domain-validated, "+
					"and may carry no subject attribute but the country (CA/B BR 7.1.2.7.2); send a CSR without it", f.name, f.values[0], p.Name)
			}
		}
	}
	for _, f := range []struct {
		name   string
		values []string
	}{{"O", sub.Organization}, {"OU", sub.OrganizationalUnit}, {"C", sub.Country}, {"ST", sub.Province}, {"L", sub.Locality}} {
		if len(f.values) > 1 {
			// The certificate would carry them as one multi-valued RDN
			// (Go's encoding of a pkix.Name), a structure the CSR did not
			// have; CA/B BR §7.1.4.2 allows one instance of an attribute.
			return acme.NewProblem(acme.BadCSR, "the CSR's subject has %d %s attributes (%s); profile %s copies one: send a CSR with one %s",
				len(f.values), f.name, quoteAll(f.values), p.Name, f.name)
		}
		for _, v := range f.values {
			var why string
			switch n := utf8.RuneCountInString(v); {
			case v == "":
				why = "is empty"
			case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }):
				why = "contains a control character (RFC 5280 Appendix A)"
			case strings.ContainsFunc(v, func(r rune) bool { return unicode.Is(unicode.Cf, r) }):
				why = "contains an invisible formatting character (a bidirectional override or zero-width character), which would make it display as another name"
			case f.name != "C" && !strings.ContainsFunc(v, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }):
				// The lint refused it after processing (zlint
				// e_subject_contains_noninformational_value).
				why = "holds no information, only punctuation or white space (CA/B BR §7.1.4.3: metadata such as \".\", \"-\" or \" \" is no value); leave the attribute out instead"
			case f.name != "C" && absentValue(v):
				why = "only says that the value is absent or does not apply (CA/B BR §7.1.4.3); leave the attribute out instead"
			case strings.TrimSpace(v) != v:
				why = "has leading or trailing white space"
			case f.name == "C" && (n != 2 || strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != ""):
				why = "is not a two-letter upper-case country code (ISO 3166-1 alpha-2)"
			case f.name == "C" && !zlintutil.IsISOCountryCode(v):
				// The lint's list (XX, "unknown", included): "UK" or
				// "AA" failed issuance after processing.
				why = "is not an ISO 3166-1 alpha-2 country code (GB, not UK; XX when unknown)"
			case n > subjectFieldBounds[f.name]:
				why = fmt.Sprintf("is longer than %d characters (RFC 5280 Appendix A)", subjectFieldBounds[f.name])
			}
			if why != "" {
				return acme.NewProblem(acme.BadCSR, "the CSR's subject %s %q %s", f.name, v, why)
			}
		}
	}
	return nil
}

// quoteAll returns vs quoted and comma-separated.
func quoteAll(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// absentWords are the values, lower-cased and without white space and
// the punctuation . / - _, that say a subject attribute is absent,
// incomplete or not applicable ("N/A", "n.a.", "None", "Not applicable"):
// CA/B BR §7.1.4.3 forbids them as it forbids metadata such as "-".
var absentWords = []string{"na", "none", "null", "nil", "unknown", "notapplicable", "notavailable", "undefined", "empty", "blank", "tbd"}

// absentValue reports whether v is one of absentWords.
func absentValue(v string) bool {
	k := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || strings.ContainsRune("./-_", r) {
			return -1
		}
		return unicode.ToLower(r)
	}, v)
	return slices.Contains(absentWords, k)
}

// reservedNames are path segments below /acme/ that a profile name may not take.
var reservedNames = []string{"directory", "new-nonce", "new-account", "new-order", "revoke-cert", "key-change",
	"account", "order", "authz", "chall", "cert", "renewal-info"}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Validate checks p, fills defaults (issuer "local", EKUs serverAuth,
// MaxValidity = Validity) and compiles its rules. Errors name the field.
func (p *Profile) Validate() error {
	if !nameRE.MatchString(p.Name) {
		return fieldError("name", p.Name, fmt.Errorf("profile name %q: use 1-63 lower-case letters, digits and hyphens", p.Name))
	}
	if slices.Contains(reservedNames, p.Name) {
		return fieldError("name", p.Name, fmt.Errorf("profile name %q is reserved (an ACME resource path)", p.Name))
	}
	if p.Issuer == "" {
		p.Issuer = "local"
	}
	if !nameRE.MatchString(p.Issuer) {
		return fieldError("issuer", p.Issuer, fmt.Errorf("profile %s: issuer %q is not an issuer name (\"local\", the built-in CA, or a name from the server's issuers file: lower-case letters, digits and hyphens)", p.Name, p.Issuer))
	}
	for i, t := range p.IdentifierTypes {
		if t != acme.IdentifierDNS && t != acme.IdentifierIP {
			return fieldError(fmt.Sprintf("identifierTypes[%d]", i), t, fmt.Errorf("profile %s: identifier type %q (use dns or ip)", p.Name, t))
		}
	}
	var err error
	if p.allow, err = ParseRules(p.Allow); err != nil {
		return fieldError("allow", p.Allow, fmt.Errorf("profile %s: allow: %w", p.Name, err))
	}
	if p.deny, err = ParseRules(p.Deny); err != nil {
		return fieldError("deny", p.Deny, fmt.Errorf("profile %s: deny: %w", p.Name, err))
	}
	if p.preauth, err = ParseRules(p.PreAuthorized); err != nil {
		return fieldError("preAuthorized", p.PreAuthorized, fmt.Errorf("profile %s: preAuthorized: %w", p.Name, err))
	}
	for i, k := range p.KeyTypes {
		if !slices.Contains(allKeyTypes, k) {
			return fieldError(fmt.Sprintf("keyTypes[%d]", i), k, fmt.Errorf("profile %s: key type %q (use %s)", p.Name, k, strings.Join(allKeyTypes, ", ")))
		}
	}
	if p.Validity == 0 {
		return fieldError("validity", nil, fmt.Errorf("profile %s: validity is missing or 0 (the certificates' default lifetime, a positive duration, e.g. validity: 90d)", p.Name))
	}
	if p.Validity < 0 {
		return fieldError("validity", p.Validity, fmt.Errorf("profile %s: validity must be positive", p.Name))
	}
	if p.MaxValidity == 0 {
		p.MaxValidity = p.Validity
	}
	if p.MaxValidity < p.Validity {
		return fieldError("maxValidity", p.MaxValidity, fmt.Errorf("profile %s: maxValidity %s is below validity %s", p.Name, config.FormatDuration(time.Duration(p.MaxValidity)),
			config.FormatDuration(time.Duration(p.Validity))))
	}
	if len(p.EKUs) == 0 {
		p.EKUs = []string{"serverAuth"}
	}
	for i, e := range p.EKUs {
		if _, ok := ekuByName[e]; !ok {
			return fieldError(fmt.Sprintf("ekus[%d]", i), e, fmt.Errorf("profile %s: EKU %q (use serverAuth, clientAuth, emailProtection, codeSigning)", p.Name, e))
		}
	}
	seen := map[string]bool{}
	for i := range p.Attributes {
		a := &p.Attributes[i]
		if !attrNameRE.MatchString(a.Name) || seen[a.Name] {
			return fieldError(fmt.Sprintf("attributes[%d].name", i), a.Name, fmt.Errorf("profile %s: attribute name %q is invalid or repeated (letters, digits, _ . -)", p.Name, a.Name))
		}
		seen[a.Name] = true
		if a.Regex != "" {
			if a.re, err = regexp.Compile("^(?:" + a.Regex + ")$"); err != nil {
				return fieldError(fmt.Sprintf("attributes[%d].regex", i), a.Regex, fmt.Errorf("profile %s: attribute %s: regex: %w", p.Name, a.Name, err))
			}
		}
	}
	for i, c := range p.Challenges {
		if c != acme.ChallengeHTTP01 && c != acme.ChallengeDNS01 && c != acme.ChallengeTLSALPN01 {
			return fieldError(fmt.Sprintf("challenges[%d]", i), c, fmt.Errorf("profile %s: challenge type %q (use http-01, dns-01, tls-alpn-01)", p.Name, c))
		}
	}
	for i, f := range p.SubjectFields {
		if !slices.Contains(subjectFieldNames, f) {
			return fieldError(fmt.Sprintf("subjectFields[%d]", i), f, fmt.Errorf("profile %s: subject field %q (use O, OU, C, ST, L)", p.Name, f))
		}
	}
	if w := p.RenewalWindow; w != nil && !(w.Start > 0 && w.Start < w.End && w.End < 1) {
		return fieldError("renewalWindow", w, fmt.Errorf("profile %s: renewalWindow: want 0 < start < end < 1 (fractions of the lifetime), got %g..%g", p.Name, w.Start, w.End))
	}
	if p.AuthzReuse != nil && *p.AuthzReuse < 0 {
		return fieldError("authzReuse", *p.AuthzReuse, fmt.Errorf("profile %s: authzReuse must not be negative", p.Name))
	}
	if p.Validation != nil {
		if err := p.Validation.validate(); err != nil {
			return fieldError("validation", p.Validation, fmt.Errorf("profile %s: %w", p.Name, err))
		}
	}
	if a := p.Approval; a != nil {
		if a.rules, err = ParseRules(a.Identifiers); err != nil {
			return fieldError("approval.identifiers", a.Identifiers, fmt.Errorf("profile %s: approval identifiers: %w", p.Name, err))
		}
		for i, k := range a.KeyTypes {
			if !slices.Contains(allKeyTypes, k) {
				return fieldError(fmt.Sprintf("approval.keyTypes[%d]", i), k, fmt.Errorf("profile %s: approval key type %q", p.Name, k))
			}
		}
		for i, e := range a.EKUs {
			if _, ok := ekuByName[e]; !ok {
				return fieldError(fmt.Sprintf("approval.ekus[%d]", i), e, fmt.Errorf("profile %s: approval EKU %q", p.Name, e))
			}
		}
		if a.EscalateAfter < 0 {
			return fieldError("approval.escalateAfter", a.EscalateAfter, fmt.Errorf("profile %s: approval escalateAfter must not be negative", p.Name))
		}
	}
	return nil
}

// CheckRules refuses an identifier rule of p (allow, deny, preAuthorized,
// approval identifiers) that no identifier can ever match (CheckRule, and
// CheckRuleTypes: a rule of an identifier type the profile does not
// allow), naming the field and the rule; a deny, preAuthorized or
// approval identifiers rule that matches no identifier the profile
// accepts (CheckAllowWithin's check: outside the allow rules, wholly
// denied (not for deny rules), only wildcard names in a profile without
// wildcards); wildcard names, or identifierTypes
// ip, that no offered challenge type can validate (unless preAuthorized
// rules are set, which may spare them the challenge); an approval ekus
// or keyTypes entry that the profile's ekus or keyTypes leave out (no
// certificate could match it); and an approval
// escalateAfter without any
// approval rule (always, identifiers, keyTypes, ekus): no approval would
// ever wait to be escalated. It is for a profile being created or
// changed, after Validate: Validate, which loading a stored profile runs,
// only compiles the rules, so that a profile stored before this check
// existed keeps loading.
func (p *Profile) CheckRules() error {
	if a := p.Approval; a != nil && a.EscalateAfter != 0 && !a.Always && len(a.Identifiers)+len(a.KeyTypes)+len(a.EKUs) == 0 {
		return fieldError("approval.escalateAfter", a.EscalateAfter, fmt.Errorf("profile %s: approval escalateAfter %s without an approval rule "+
			"(always, identifiers, keyTypes or ekus): no certificate waits for approval, so none can be escalated", p.Name, config.FormatDuration(time.Duration(a.EscalateAfter))))
	}
	type ruleList struct {
		field string
		rules []string
	}
	lists := []ruleList{{"allow", p.Allow}, {"deny", p.Deny}, {"preAuthorized", p.PreAuthorized}}
	if p.Approval != nil {
		lists = append(lists, ruleList{"approval.identifiers", p.Approval.Identifiers})
	}
	for _, l := range lists {
		if err := CheckRules(l.rules); err != nil {
			return fieldError(l.field, l.rules, fmt.Errorf("profile %s: %s: %w", p.Name, strings.ReplaceAll(l.field, ".", " "), err))
		}
		if err := CheckRuleTypes(l.rules, p.IdentifierTypes); err != nil {
			return fieldError(l.field, l.rules, fmt.Errorf("profile %s: %s: %w", p.Name, strings.ReplaceAll(l.field, ".", " "), err))
		}
	}
	// deny, preAuthorized and approval identifier rules that no
	// identifier the profile accepts can match (outside its allow rules,
	// wholly denied, only wildcards in a profile without them): the
	// profile would show a denial, pre-authorization or approval rule
	// that never applies.
	// So are deny rules outside the allow rules: they deny nothing (a
	// misspelt name, while the name meant stays allowed).
	live := []ruleList{{"deny", p.Deny}, {"preAuthorized", p.PreAuthorized}}
	if p.Approval != nil {
		live = append(live, ruleList{"approval.identifiers", p.Approval.Identifiers})
	}
	for _, l := range live {
		if err := p.checkLive(l.rules, l.field != "preAuthorized", l.field == "deny"); err != nil {
			return fieldError(l.field, l.rules, fmt.Errorf("profile %s: %s: %w", p.Name, strings.ReplaceAll(l.field, ".", " "), err))
		}
	}
	// Approval rules that can never apply: an EKU the profile's
	// certificates do not carry, a key type the profile refuses. The
	// profile would show an approval rule while nothing waited for one.
	if a := p.Approval; a != nil {
		for i, e := range a.EKUs {
			if !slices.Contains(p.EKUs, e) {
				return fieldError(fmt.Sprintf("approval.ekus[%d]", i), e, fmt.Errorf("profile %s: approval ekus: %s is not one of the profile's ekus (%s), "+
					"so no certificate would wait for approval by it: add it to ekus, or use approval always", p.Name, e, strings.Join(p.EKUs, ", ")))
			}
		}
		if len(p.KeyTypes) > 0 {
			for i, k := range a.KeyTypes {
				if !slices.Contains(p.KeyTypes, k) {
					return fieldError(fmt.Sprintf("approval.keyTypes[%d]", i), k, fmt.Errorf("profile %s: approval keyTypes: %s is not one of the profile's keyTypes (%s), "+
						"so no certificate would wait for approval by it: add it to keyTypes, or drop it", p.Name, k, strings.Join(p.KeyTypes, ", ")))
				}
			}
		}
	}
	// Identifiers that only a challenge type the profile does not offer
	// can validate, and that no preAuthorized rule spares a challenge:
	// newOrder would refuse every one of them.
	if len(p.Challenges) > 0 && len(p.PreAuthorized) == 0 {
		if p.Wildcard && !p.ChallengeAllowed(acme.ChallengeDNS01) && (len(p.IdentifierTypes) == 0 || slices.Contains(p.IdentifierTypes, acme.IdentifierDNS)) {
			return fieldError("wildcard", true, fmt.Errorf("profile %s: wildcard: true, but only dns-01 validates a wildcard name (RFC 8555 §7.1.3) "+
				"and challenges [%s] does not offer it: add dns-01 to challenges or drop wildcard", p.Name, strings.Join(p.Challenges, ", ")))
		}
		if slices.Contains(p.IdentifierTypes, acme.IdentifierIP) && !p.ChallengeAllowed(acme.ChallengeHTTP01) && !p.ChallengeAllowed(acme.ChallengeTLSALPN01) {
			return fieldError("identifierTypes", p.IdentifierTypes, fmt.Errorf("profile %s: identifierTypes lists ip, but only http-01 and tls-alpn-01 validate an IP address (RFC 8738 §7) "+
				"and challenges [%s] offers neither: add one to challenges, or drop ip", p.Name, strings.Join(p.Challenges, ", ")))
		}
	}
	return nil
}

// CheckDNSSEC refuses a profile that turns DNSSEC checking on
// (validation.dnssec: true) without resolvers of its own when the
// server's va-dns-resolver, serverResolvers, is empty too: DNSSEC needs a
// validating resolver that reports the AD bit (RFC 4035 §3.2.3), which
// the system resolver does not, so every validation of the profile would
// fail with serverInternal. The error is a *FieldError at
// "validation.dnssec".
func (p *Profile) CheckDNSSEC(serverResolvers string) error {
	v := p.Validation
	if v == nil || v.DNSSEC == nil || !*v.DNSSEC || len(v.DNSResolvers) > 0 || strings.TrimSpace(serverResolvers) != "" {
		return nil
	}
	return fieldError("validation.dnssec", true, fmt.Errorf("profile %s: validation.dnssec needs a validating DNS resolver, and neither the profile "+
		"(validation.dnsResolvers) nor the server (va-dns-resolver) names one: the system resolver does not report DNSSEC status, "+
		"so every validation would fail; give the profile its dnsResolvers (--dns-resolver)", p.Name))
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,62}$`)

// CheckIssuer refuses a profile whose issuer is none of known (the
// issuers a server has: "local" and the names of its issuers file,
// issuer.Names), naming those that exist. The error is a *FieldError at
// "issuer".
func (p *Profile) CheckIssuer(known []string) error {
	name := p.Issuer
	if name == "" {
		name = "local"
	}
	if slices.Contains(known, name) {
		return nil
	}
	return fieldError("issuer", p.Issuer, fmt.Errorf("profile %s: issuer %q does not exist; the issuers are %s (\"local\" is the built-in CA; the others come from the server's issuers-file, docs/issuers.md)",
		p.Name, p.Issuer, strings.Join(known, ", ")))
}

// Parse decodes a profile from JSON and validates it.
func Parse(data []byte) (*Profile, error) {
	var p Profile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("decode profile: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// serverAuth reports whether the profile's certificates are for TLS
// servers (EKU serverAuth, the default when EKUs is empty): the issuer
// marks them domain-validated (CA/B BR certificate policy 2.23.140.1.2.1).
func (p *Profile) serverAuth() bool {
	return len(p.EKUs) == 0 || slices.Contains(p.ExtKeyUsages(), x509.ExtKeyUsageServerAuth)
}

// ExtKeyUsages returns the profile's EKUs as x509 values, in profile order.
func (p *Profile) ExtKeyUsages() []x509.ExtKeyUsage {
	out := make([]x509.ExtKeyUsage, 0, len(p.EKUs))
	for _, e := range p.EKUs {
		out = append(out, ekuByName[e])
	}
	return out
}

// AllowsRSA reports whether the profile allows any RSA key (KeyTypes empty
// allows every key type).
func (p *Profile) AllowsRSA() bool {
	if len(p.KeyTypes) == 0 {
		return true
	}
	return slices.ContainsFunc(p.KeyTypes, func(k string) bool { return strings.HasPrefix(k, "rsa") })
}

// KeyTypeName classifies pub as one of the KeyTypes names ("" when none fits).
func KeyTypeName(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch n := k.N.BitLen(); {
		case n >= 4096:
			return KeyRSA4096
		case n >= 3072:
			return KeyRSA3072
		case n >= 2048:
			return KeyRSA2048
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return KeyECDSAP256
		case elliptic.P384():
			return KeyECDSAP384
		}
	}
	return ""
}

// CheckKey returns a badCSR problem when the profile does not allow pub.
func (p *Profile) CheckKey(pub crypto.PublicKey) error {
	if len(p.KeyTypes) == 0 {
		return nil
	}
	kt := KeyTypeName(pub)
	if !slices.Contains(p.KeyTypes, kt) {
		if kt == "" {
			kt = fmt.Sprintf("%T", pub)
		}
		return acme.NewProblem(acme.BadCSR, "profile %s does not allow %s keys; allowed: %s", p.Name, kt, strings.Join(p.KeyTypes, ", "))
	}
	return nil
}

// ChallengeAllowed reports whether the profile offers challenge type typ.
func (p *Profile) ChallengeAllowed(typ string) bool {
	return len(p.Challenges) == 0 || slices.Contains(p.Challenges, typ)
}

// IsPreAuthorized reports whether order identifier id (a wildcard with
// its "*.") is pre-authorized for EAB-bound accounts: matched like an
// allow rule, so that a wildcard is pre-authorized only by a rule that
// covers the wildcard name ("*.example.com" covers "*.www.example.com"),
// never by an exact rule for its base name, which pre-authorizes that one
// host, not every name below it.
func (p *Profile) IsPreAuthorized(id acme.Identifier) bool { return matchAny(p.preauth, id) }

// CheckIdentifiers checks normalised order identifiers against the
// profile and, when extraAllow is not empty, against that allowlist too
// (an EAB key's). It returns nil, or a rejectedIdentifier problem with one
// subproblem per refused identifier (RFC 8555 §6.7.1).
func (p *Profile) CheckIdentifiers(ids []acme.Identifier, extraAllow []Rule) error {
	var subs []acme.Problem
	for _, id := range ids {
		if why := p.refuse(id, extraAllow); why != "" {
			sp := acme.NewProblem(acme.RejectedIdentifier, "%s: %s", id.Value, why)
			if why == whyType {
				sp.Type = acme.UnsupportedIdentifier
			}
			idc := id
			sp.Identifier = &idc
			subs = append(subs, *sp)
		}
	}
	if len(subs) == 0 {
		return nil
	}
	// Names the profile allows but the EAB key's allowlist does not are
	// named apart: the profile is not what refuses them.
	var byProfile, byEAB []string
	for _, s := range subs {
		if strings.HasSuffix(s.Detail, ": "+whyEAB) {
			byEAB = append(byEAB, s.Identifier.Value)
		} else {
			byProfile = append(byProfile, s.Identifier.Value)
		}
	}
	var detail string
	switch {
	case len(byEAB) == 0:
		detail = fmt.Sprintf("profile %s does not allow %s", p.Name, strings.Join(byProfile, ", "))
	case len(byProfile) == 0:
		detail = fmt.Sprintf("the account's external account binding does not allow %s (profile %s would)", strings.Join(byEAB, ", "), p.Name)
	default:
		detail = fmt.Sprintf("profile %s does not allow %s; the account's external account binding does not allow %s",
			p.Name, strings.Join(byProfile, ", "), strings.Join(byEAB, ", "))
	}
	pr := acme.NewProblem(acme.RejectedIdentifier, "%s", detail)
	pr.Subproblems = subs
	return pr
}

const (
	whyType = "identifier type not allowed by the profile"
	whyEAB  = "not in the names allowed for this account's external account binding"
)

func (p *Profile) refuse(id acme.Identifier, extraAllow []Rule) string {
	if len(p.IdentifierTypes) > 0 && !slices.Contains(p.IdentifierTypes, id.Type) {
		return whyType
	}
	if id.Type == acme.IdentifierDNS && strings.HasPrefix(id.Value, "*.") && !p.Wildcard {
		return "wildcard names are not allowed by the profile"
	}
	if matchCovered(p.deny, id) {
		return "denied by the profile"
	}
	if len(p.allow) > 0 && !matchAny(p.allow, id) {
		return "not in the profile's allowed names"
	}
	if len(extraAllow) > 0 && !matchAny(extraAllow, id) {
		return whyEAB
	}
	return ""
}

// NeedsApproval reports whether an order for ids with a key of type
// keyType (see KeyTypeName) waits for an approver, and why.
func (p *Profile) NeedsApproval(ids []acme.Identifier, keyType string) (bool, string) {
	a := p.Approval
	if a == nil {
		return false, ""
	}
	if a.Always {
		return true, "the profile requires approval for every certificate"
	}
	for _, id := range ids {
		if matchCovered(a.rules, id) {
			return true, "identifier " + id.Value + " requires approval"
		}
	}
	if slices.Contains(a.KeyTypes, keyType) {
		return true, "key type " + keyType + " requires approval"
	}
	for _, e := range a.EKUs {
		if slices.Contains(p.EKUs, e) {
			return true, "EKU " + e + " requires approval"
		}
	}
	return false, ""
}

// EscalateAfter is how long approvals of this profile wait before they are
// escalated; 0: never.
func (p *Profile) EscalateAfter() time.Duration {
	if p.Approval == nil {
		return 0
	}
	return time.Duration(p.Approval.EscalateAfter)
}
