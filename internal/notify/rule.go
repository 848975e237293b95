// Package notify sends expiry notifications: alert rules decide which
// certificates, at which thresholds (days before notAfter), are reported to
// whom, and channels (SMTP email, signed HTTPS webhooks) deliver them. The
// deliveries are rows of the database (store.Notification): every node of
// a cluster may scan, one row per (certificate, threshold, channel,
// recipient) is ever stored, and a node claims the rows it sends with a
// lease, so a message goes out once however many nodes run
// (docs/notifications.md).
package notify

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/certgate/certgate/internal/store"
)

// Channel names.
const (
	ChannelEmail   = "email"   // SMTP (SMTPChannel)
	ChannelWebhook = "webhook" // HTTP POST of a signed JSON document (WebhookChannel)
)

// DefaultThresholds are a rule's thresholds when it names none: days
// before notAfter.
func DefaultThresholds() []int { return []int{30, 14, 7, 1} }

// AttributePrefix starts a rule's recipient taken from a custom attribute
// of the certificate ("to=attribute:owner").
const AttributePrefix = "attribute:"

// Rule is one alert rule: which certificates, at which thresholds, are
// reported to whom over which channel. Certificates that are revoked,
// expired or renewed (their replacement issued, RFC 9773) are never
// reported.
type Rule struct {
	Name    string // unique among the rules; recorded with each delivery
	Channel string // ChannelEmail or ChannelWebhook
	// To is the recipient: an email address (email), an http(s) URL
	// (webhook; "" uses the webhook channel's URL), or AttributePrefix
	// and the name of a custom attribute of the certificate holding one.
	To string
	// Fallback receives the certificates whose attribute named by To is
	// missing, not a valid recipient or not allowed by Allow; "" skips
	// them (logged).
	Fallback string
	// Allow restricts the recipients taken from an attribute (To =
	// AttributePrefix + NAME), which an ACME client may choose in its
	// newOrder: for webhook, absolute http(s) URL prefixes, of which at
	// least one is required (AllowsRecipient); for email, domains (none:
	// any address).
	Allow []string
	// Thresholds are days before notAfter, descending, each at least 1.
	Thresholds []int
	// Filters: empty fields do not filter.
	Profile string // certificate profile
	Issuer  string // issuer name ("local") or, for imported certificates, issuer DN
	// Source is store.SourceIssued, SourceImported, SourceDiscovered or
	// SourceListener; "" matches every source but SourceListener (the
	// server renews its own listener certificate itself: a rule names
	// source=listener to hear of one that is not renewed).
	Source     string
	Attributes map[string]string // custom attribute key = value, each one required
}

// Attribute returns the attribute name when the rule's recipient is a
// certificate attribute, else "".
func (r *Rule) Attribute() string {
	a, ok := strings.CutPrefix(r.To, AttributePrefix)
	if !ok {
		return ""
	}
	return a
}

// ruleFields splits a rule into its fields: white space separates them,
// except within double quotes, which are removed ("a b" is a b). Nothing
// else is special — not single quotes, backslashes or '#' — so that rules
// written before quoting existed (to=o'brien@example.com,
// issuer=CN=Acme\,Inc, days=7 #weekly) keep their meaning; a POSIX shell splitter
// (such as github.com/google/shlex) would have refused, changed or cut
// them. An unclosed quote is an error saying how to quote.
func ruleFields(s string) ([]string, error) {
	var fields []string
	var cur strings.Builder
	inField, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inField = !quoted, true
		case !quoted && unicode.IsSpace(r):
			if inField {
				fields = append(fields, cur.String())
				cur.Reset()
				inField = false
			}
		default:
			cur.WriteRune(r)
			inField = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("%q: a double quote is not closed (a value with spaces is written in double quotes: issuer=\"CN=R11,O=Let's Encrypt,C=US\")", s)
	}
	if inField {
		fields = append(fields, cur.String())
	}
	return fields, nil
}

// ParseRule reads a rule written as space-separated key=value fields:
//
//	name=owners channel=email to=attribute:owner fallback=pki@example.com allow=example.com days=30,14,7,1 profile=web issuer=local source=issued attribute=team=payments
//
// A value holding spaces is written within double quotes:
// issuer="CN=R11,O=Let's Encrypt,C=US", attribute="team=Platform
// Security" (ruleFields).
//
// channel defaults to webhook when to is an http(s) URL, else email; days
// to DefaultThresholds; name to "rule-N" with N = index+1. attribute= and
// allow= may be given more than once. A webhook rule whose to= is an
// attribute needs allow=. Errors name the field.
func ParseRule(s string, index int) (Rule, error) {
	r := Rule{Name: "rule-" + strconv.Itoa(index+1)}
	fields, err := ruleFields(s)
	if err != nil {
		return Rule{}, err
	}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" {
			return Rule{}, fmt.Errorf("%q: want key=value", f)
		}
		switch k {
		case "name":
			r.Name = v
		case "channel":
			r.Channel = v
		case "to":
			r.To = v
		case "fallback":
			r.Fallback = v
		case "allow":
			r.Allow = append(r.Allow, v)
		case "days":
			r.Thresholds = nil
			for _, d := range strings.Split(v, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(d))
				if err != nil || n < 1 || n > 3650 {
					return Rule{}, fmt.Errorf("days=%s: %q is not a whole number of days from 1 to 3650", v, d)
				}
				r.Thresholds = append(r.Thresholds, n)
			}
		case "profile":
			r.Profile = v
		case "issuer":
			r.Issuer = v
		case "source":
			if !slices.Contains(store.Sources(), v) {
				return Rule{}, fmt.Errorf("source=%s: want issued, imported, discovered or listener", v)
			}
			r.Source = v
		case "attribute":
			ak, av, ok := strings.Cut(v, "=")
			if !ok || ak == "" {
				return Rule{}, fmt.Errorf("attribute=%s: want attribute=KEY=VALUE", v)
			}
			if r.Attributes == nil {
				r.Attributes = map[string]string{}
			}
			r.Attributes[ak] = av
		default:
			return Rule{}, fmt.Errorf("unknown field %q (name, channel, to, fallback, allow, days, profile, issuer, source, attribute)", k)
		}
	}
	if r.Channel == "" {
		r.Channel = ChannelEmail
		if isURL(r.To) {
			r.Channel = ChannelWebhook
		}
	}
	if len(r.Thresholds) == 0 {
		r.Thresholds = DefaultThresholds()
	}
	slices.Sort(r.Thresholds)
	slices.Reverse(r.Thresholds)
	r.Thresholds = slices.Compact(r.Thresholds)
	if err := r.check(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// check validates the channel and recipients of r.
func (r *Rule) check() error {
	switch r.Channel {
	case ChannelEmail:
		if r.To == "" {
			return errors.New("channel=email needs to=ADDRESS or to=attribute:NAME")
		}
	case ChannelWebhook:
	default:
		return fmt.Errorf("channel=%s: want email or webhook", r.Channel)
	}
	if r.Attribute() == "" && r.To != "" {
		if err := CheckRecipient(r.Channel, r.To); err != nil {
			return fmt.Errorf("to=%s: %w", Redact(r.To), err)
		}
	}
	if r.To == AttributePrefix {
		return errors.New("to=attribute: needs an attribute name")
	}
	if r.Fallback != "" {
		if r.Attribute() == "" {
			return errors.New("fallback= is only for to=attribute:NAME")
		}
		if err := CheckRecipient(r.Channel, r.Fallback); err != nil {
			return fmt.Errorf("fallback=%s: %w", Redact(r.Fallback), err)
		}
	}
	return r.checkAllow()
}

// checkAllow validates r.Allow: only with an attribute recipient; each an
// http(s) URL without user, query or fragment (webhook) or a domain
// (email); at least one for a webhook rule whose recipient is an
// attribute, since its URL may come from an ACME client's newOrder.
func (r *Rule) checkAllow() error {
	if r.Attribute() == "" {
		if len(r.Allow) > 0 {
			return errors.New("allow= is only for to=attribute:NAME")
		}
		return nil
	}
	if r.Channel == ChannelWebhook && len(r.Allow) == 0 {
		return errors.New("to=attribute: on channel=webhook needs allow=URL-PREFIX (e.g. allow=https://hooks.example.com/certgate/): " +
			"the attribute may be set by an ACME client, and certgate would POST wherever it points")
	}
	for _, a := range r.Allow {
		switch r.Channel {
		case ChannelWebhook:
			u, err := url.Parse(a)
			if err != nil || !isURL(a) || u.User != nil || u.RawQuery != "" || u.Fragment != "" || dotSegments(u.Path) {
				return fmt.Errorf("allow=%s: want an http(s) URL prefix without user, query, fragment or . and .. segments", a)
			}
		case ChannelEmail:
			if err := CheckRecipient(ChannelEmail, "postmaster@"+a); err != nil || strings.ContainsAny(a, "@[]*") {
				return fmt.Errorf("allow=%s: want a domain (example.com; no wildcard: list each domain)", a)
			}
		}
	}
	return nil
}

// AllowsRecipient reports whether to, a recipient of r's channel taken
// from a certificate attribute, is allowed by r.Allow. Webhook: to has the
// scheme and host (with port) of an allowed prefix, no user, no . or ..
// path segments, and a path that is the prefix's or below it (segment by
// segment: "/hooks" allows "/hooks" and "/hooks/a", not "/hooks-admin").
// Email: to's domain is one of r.Allow (case-insensitive), or r.Allow is
// empty.
func (r *Rule) AllowsRecipient(to string) bool {
	switch r.Channel {
	case ChannelEmail:
		if len(r.Allow) == 0 {
			return true
		}
		_, domain, _ := strings.Cut(to, "@")
		return slices.ContainsFunc(r.Allow, func(a string) bool { return strings.EqualFold(a, domain) })
	case ChannelWebhook:
		u, err := url.Parse(to)
		if err != nil || !isURL(to) || u.User != nil || dotSegments(u.Path) {
			return false
		}
		return slices.ContainsFunc(r.Allow, func(a string) bool {
			p, err := url.Parse(a)
			if err != nil || !strings.EqualFold(p.Scheme, u.Scheme) || !strings.EqualFold(p.Host, u.Host) {
				return false
			}
			prefix := strings.TrimSuffix(p.Path, "/")
			return prefix == "" || u.Path == prefix || strings.HasPrefix(u.Path, prefix+"/")
		})
	}
	return false
}

// dotSegments reports whether the (decoded) URL path p has a "." or ".."
// segment, which a receiver may resolve outside an allowed prefix; a
// backslash separates segments and a ";" parameter is ignored, as some
// servers take them ("\..\", "/..;/").
func dotSegments(p string) bool {
	for _, s := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		s, _, _ = strings.Cut(s, ";")
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// CheckRecipient reports whether to is a recipient of channel: a single
// bare email address (addr-spec, RFC 5322 §3.4.1) for email, an absolute
// http(s) URL for webhook.
func CheckRecipient(channel, to string) error {
	switch channel {
	case ChannelEmail:
		a, err := mail.ParseAddress(to)
		if err != nil || a.Address != to {
			return errors.New("not an email address (user@example.com)")
		}
	case ChannelWebhook:
		if !isURL(to) {
			return errors.New("not an absolute http(s) URL")
		}
	default:
		return fmt.Errorf("unknown channel %q", channel)
	}
	return nil
}

func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// ParseRules parses each of specs with ParseRule and checks that the
// names are unique. Errors name the rule by its position.
func ParseRules(specs []string) ([]Rule, error) {
	var out []Rule
	seen := map[string]bool{}
	for i, s := range specs {
		if strings.TrimSpace(s) == "" {
			continue
		}
		r, err := ParseRule(s, i)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", i+1, err)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("rule %d: name %q is used by another rule", i+1, r.Name)
		}
		seen[r.Name] = true
		out = append(out, r)
	}
	return out, nil
}

// threshold returns the smallest threshold of r crossed by a certificate
// with daysLeft (fractional) days before notAfter, and whether one is.
func (r *Rule) threshold(daysLeft float64) (int, bool) {
	best, ok := 0, false
	for _, t := range r.Thresholds {
		if daysLeft <= float64(t) {
			best, ok = t, true // descending: the last match is the smallest
		}
	}
	return best, ok
}

// selects reports whether r's filters (profile, issuer, source,
// attributes) select c, as the scan's certificate query does: a rule
// without source= leaves out SourceListener.
func (r *Rule) selects(c *store.Certificate) bool {
	source := r.Source == c.Source || (r.Source == "" && c.Source != store.SourceListener)
	if (r.Profile != "" && c.Profile != r.Profile) || (r.Issuer != "" && c.Issuer != r.Issuer) || !source {
		return false
	}
	for k, v := range r.Attributes {
		if got, ok := c.Attributes[k]; !ok || got != v {
			return false
		}
	}
	return true
}
