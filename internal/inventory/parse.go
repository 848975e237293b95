package inventory

import (
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/duration"
)

// NormalizeName lower-cases a DNS name or IP address and drops a trailing
// dot, as names are stored in the inventory (the name filter: `cert list
// --name`, ?name=). ErrInvalid (Param "name") for white space or a control
// character anywhere in name (spaceError): no stored name holds one, and
// it is refused, not trimmed, as serials and fingerprints are.
func NormalizeName(name string) (string, error) {
	if err := spaceError("name", "name", name, "give the name alone"); err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.ToLower(name), "."), nil
}

// NormalizeSuffix turns a domain search into the store's terms: suffix is
// ".example.com" for "example.com", ".example.com" or "*.example.com", the
// names under that domain; apex is true for the bare form "example.com",
// which also selects the domain itself (as a search box's "domain" is
// read), false for ".example.com" and "*.example.com" (only the names
// under it). Case and a trailing dot do not matter.
//
// ErrInvalid (Param "suffix") for anything that is not a domain, rather
// than a search that silently matches nothing or matches by text: white
// space or a control character anywhere in s (refused as NormalizeName
// refuses it); an empty domain or label ("..example.com"); a '*' other
// than a leading "*." ("*example.com", "ex*ample.com"); non-ASCII
// characters (use the A-label) or any but letters, digits, '-' and '_'; a
// label longer than 63 octets (RFC 1035 §2.3.4; a label beginning or
// ending with '-', which imported certificates may carry, is searchable);
// an IP address ("::1") or a last label of digits alone (an IPv4
// address's tail, "0.0.1"), whose text would match addresses, not domains
// (a name search, `--name`, finds an address); a ':' otherwise
// ("example.com:443") is a character a domain does not have.
func NormalizeSuffix(s string) (suffix string, apex bool, err error) {
	if err := spaceError("suffix", "name suffix", s, "give the domain alone"); err != nil {
		return "", false, err
	}
	n, _ := NormalizeName(s) // no white space: no error
	d, apex := n, true
	if n == "*" { // "*." less its trailing dot
		d, apex = "", false
	} else if rest, ok := strings.CutPrefix(n, "*."); ok {
		d, apex = rest, false
	} else if rest, ok := strings.CutPrefix(n, "."); ok {
		d, apex = rest, false
	}
	if d == "" {
		return "", false, invalid("suffix", s, "empty name suffix")
	}
	bad := func(format string, a ...any) (string, bool, error) {
		return "", false, invalid("suffix", s, "name suffix %q "+format, append([]any{s}, a...)...)
	}
	if _, err := netip.ParseAddr(d); err == nil {
		return bad("is an IP address, not a domain (an address is found by a name search: --name, ?name=, or \"name (exact)\" in the dashboard)")
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return bad("has an empty label")
		case strings.Contains(l, "*"):
			return bad("has a '*' inside it: a wildcard is a whole leading label, as in *.example.com")
		case len(l) > 63:
			return bad("has a label longer than 63 characters")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case c >= 0x80:
				return bad("is not ASCII (use the A-label, xn--...)")
			case !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'):
				return bad("holds %q: a domain has letters, digits, '-' and '_'", string(c))
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return bad("ends in a number: an IP address, not a domain (an address is found by a name search: --name, ?name=, or \"name (exact)\" in the dashboard)")
	}
	return "." + d, apex, nil
}

// NormalizeSerial returns a serial number as stored: lower-case hex without
// leading zeros. Colons and a 0x prefix are accepted. ErrInvalid otherwise,
// also for white space or a control character anywhere in s (spaceError):
// such a serial is refused, not trimmed, by every entry point.
func NormalizeSerial(s string) (string, error) {
	if err := spaceError("serial", "serial", s, "give the hex digits alone (colons allowed)"); err != nil {
		return "", err
	}
	h := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	h = strings.TrimPrefix(h, "0x")
	if h == "" || strings.Trim(h, "0123456789abcdef") != "" {
		return "", invalid("serial", s, "serial %q is not hexadecimal", s)
	}
	h = strings.TrimLeft(h, "0")
	if h == "" {
		h = "0"
	}
	return h, nil
}

// NormalizeSerialOrKey returns a certificate serial as NormalizeSerial
// does, or, for the SERIAL-FINGERPRINT16 key under which the inventory
// keeps an imported or discovered certificate whose serial another
// certificate has (see Import), that key normalized (lower-case hex).
// A filter by serial matches the certificate of that serial and those
// keyed by it; a key matches its certificate alone. Errors:
// NormalizeSerial's, for anything that is neither.
func NormalizeSerialOrKey(s string) (string, error) {
	serial, err := NormalizeSerial(s)
	if key, ok := certificateKey(s); err != nil && ok && strings.Contains(key, "-") {
		serial, err = key, nil
	}
	return serial, err
}

// CheckRef refuses, with ErrInvalid (an *InvalidError of Param "ref"), a
// certificate reference (Get's ref: serial, fingerprint or
// SERIAL-FINGERPRINT16 key) holding white space or a control character
// anywhere: `certgate cert show`, `export`, `revoke`, `suggest-renewal`
// and the admin API's /certificates/{ref} refuse it alike (a 422 naming
// path.ref), where some trimmed the space and others refused the serial.
func CheckRef(ref string) error {
	return spaceError("ref", "the certificate reference", ref,
		"give the serial (hex, colons allowed), the SHA-256 fingerprint or the SERIAL-FINGERPRINT16 key alone")
}

// spaceError is the ErrInvalid of param for a value s holding white space
// (Unicode's, NBSP and NEL included) or a control character, naming what
// it is (what), the first such character and what to give instead (hint);
// nil when s has none.
func spaceError(param, what, s, hint string) error {
	i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
	if i < 0 {
		return nil
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return invalid(param, s, "%s %q contains white space or a control character (%U): %s", what, s, r, hint)
}

// CheckAuditObjectID refuses, with ErrInvalid (Param "object_id"), an
// audit object ID that AuditObjectID takes for a serial — objectType
// "certificate", or "" with a colon or an upper-case hex letter in id —
// holding white space or a control character: the serial was trimmed,
// and now is refused, as every other entry point taking a serial does;
// and, for objectType "certificate", an id that is not hexadecimal.
func CheckAuditObjectID(objectType, id string) error {
	if objectType == "certificate" || (objectType == "" && strings.ContainsFunc(id, func(c rune) bool { return c == ':' || (c >= 'A' && c <= 'F') })) {
		if err := spaceError("object_id", "serial", id, "give the hex digits alone (colons allowed)"); err != nil {
			return err
		}
	}
	if objectType == "certificate" && id != "" {
		// A certificate's events are recorded under its inventory key,
		// its serial or SERIAL-FINGERPRINT16: anything else matches none
		// (docs/api.md promises the 422).
		if _, ok := certificateKey(id); !ok {
			return invalid("object_id", id, "object_id %q is not a certificate serial (hexadecimal, colons allowed) nor the SERIAL-FINGERPRINT16 key of an imported certificate", id)
		}
	}
	return nil
}

// certificateKey returns the inventory key of a certificate as a user
// wrote it — a serial (NormalizeSerial) or, for an imported certificate
// whose serial was taken, SERIAL-FINGERPRINT16 (see Import: the serial, a
// dash, the first 16 hex digits of its SHA-256 fingerprint) — as stored,
// and whether id is one of those.
func certificateKey(id string) (string, bool) {
	serial, fp16, keyed := strings.Cut(id, "-")
	n, err := NormalizeSerial(serial)
	if err != nil {
		return "", false
	}
	if !keyed {
		return n, true
	}
	fp16 = strings.ToLower(fp16)
	if len(fp16) != 16 || strings.Trim(fp16, "0123456789abcdef") != "" {
		return "", false
	}
	return n + "-" + fp16, true
}

// AuditObjectID returns the object ID to look up audit events of
// objectType by (store.AuditFilter.ObjectID) for id as a user wrote it: a
// certificate serial as openssl prints it (upper case, colons, a leading
// zero byte: "01:A2:2E...") is the serial as stored (NormalizeSerial), and
// an imported certificate's SERIAL-FINGERPRINT16 key in lower case, when
// objectType is "certificate", and when objectType is "" and id has a
// colon or an upper-case letter (forms no other object ID is written in:
// token IDs are lower-case hex, account and approval IDs not hex). Any
// other id is returned as it is.
func AuditObjectID(objectType, id string) string {
	switch objectType {
	case "certificate":
	case "":
		if !strings.ContainsFunc(id, func(c rune) bool { return c == ':' || (c >= 'A' && c <= 'F') }) {
			return id
		}
	default:
		return id
	}
	if n, ok := certificateKey(id); ok {
		return n
	}
	return id
}

// NormalizeFingerprint returns a SHA-256 fingerprint as stored: 64
// lower-case hex digits (colons accepted). ErrInvalid otherwise, also for
// white space or a control character anywhere in s (spaceError).
func NormalizeFingerprint(s string) (string, error) {
	if err := spaceError("fingerprint", "fingerprint", s, "give the 64 hex digits alone (colons allowed)"); err != nil {
		return "", err
	}
	h := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
		return "", invalid("fingerprint", s, "%q is not a SHA-256 fingerprint (64 hex digits)", s)
	}
	return h, nil
}

// ParseAttributes parses "key=value" pairs into a map. ErrInvalid for a
// pair without "=" or with an empty key, or a key given twice.
func ParseAttributes(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, invalid("attr", p, "attribute %q is not key=value", p)
		}
		if _, dup := m[k]; dup {
			return nil, invalid("attr", p, "attribute %q given twice", k)
		}
		m[k] = v
	}
	return m, nil
}

// maxDuration bounds the days and weeks ParseDuration accepts: 100 years
// of 365 days.
const maxDuration = 100 * 365 * 24 * time.Hour

// decimalCount is the count of a fractional day or week window
// ("1.5", ".5", "-2": the sign only to be told "use a positive one").
var decimalCount = regexp.MustCompile(`^-?([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// goUnitCount is one count of a Go duration unit ("3650000h"), which
// duration.Parse refuses only when it overflows time.Duration.
var goUnitCount = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(h|m|s|ms|us|µs|ns)$`)

// ParseDuration parses the window of a filter or report (expiring within,
// issued since): a positive duration of at most maxDuration (100 years) as
// every setting takes it (duration.Parse: Go units plus whole weeks and
// days, "2w", "30d", "1w3d", "1d12h", "12h"), or a fractional number of
// days or weeks alone ("1.5d", "0.5w"). ErrInvalid otherwise, its message
// saying which bound was crossed: a zero window selects nothing (read as
// "no window", --expiring-within 0 listed every certificate), a negative
// one is meaningless.
func ParseDuration(s string) (time.Duration, error) {
	d, err := duration.Parse(s)
	if err != nil {
		d = -1
		if goUnitCount.MatchString(s) { // "3650000h": too many for time.Duration
			d = maxDuration + 1
		}
		for suffix, unit := range map[string]time.Duration{"d": duration.Day, "w": duration.Week} {
			if n, ok := strings.CutSuffix(s, suffix); ok {
				// A plain decimal count alone: strconv.ParseFloat
				// would take Go's number syntax besides ("1_0",
				// "0x1p4", "1e3", "+5", "Inf"), which no other
				// duration setting does.
				v, perr := strconv.ParseFloat(n, 64)
				switch {
				case !decimalCount.MatchString(n) || perr != nil:
				case v > float64(maxDuration)/float64(unit): // would overflow time.Duration
					d = maxDuration + 1
				case v <= 0:
					d = 0
				default:
					d = time.Duration(v * float64(unit))
				}
			}
		}
		if d < 0 {
			return 0, fmt.Errorf("%w: invalid duration %q (use e.g. 30d, 2w, 12h)", ErrInvalid, s)
		}
	}
	switch {
	case d <= 0:
		return 0, fmt.Errorf("%w: invalid duration %q (use a positive one, e.g. 30d, 2w, 12h)", ErrInvalid, s)
	case d > maxDuration:
		return 0, fmt.Errorf("%w: invalid duration %q (use at most 100 years, e.g. 30d, 2w)", ErrInvalid, s)
	}
	return d, nil
}

func encodePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
