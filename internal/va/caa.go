package va

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// CAA property tags this CA understands (RFC 8659 §4.2-4.4).
const (
	caaIssue     = "issue"
	caaIssueWild = "issuewild"
	caaIODef     = "iodef"
)

// caaCritical is the Issuer Critical flag (RFC 8659 §4.1).
const caaCritical = 128

// maxCAAReasons bounds how many records a refusal's detail describes.
const maxCAAReasons = 4

// CheckCAA checks the CAA records of id (RFC 8659) for issuance by this CA
// to the account whose URL is one of accountURIs, after control was shown
// with challenge type method (RFC 8657). wildcard says the certificate will
// name *.id.Value (id.Value itself has no "*." prefix).
//
// The relevant RRset is the first non-empty CAA RRset found from the name
// up towards the root, the root excluded (RFC 8659 §3); a name that does
// not exist (NXDOMAIN) counts as empty. For a wildcard, issuewild records
// decide when there are any, else issue records (§4.3). Without such
// records CAA does not restrict issuance. A record authorizes this CA when
// its issuer domain name is one of Config.CAAIdentities (case-insensitive)
// and its parameters allow the request: accounturi equal to the account's
// URL (at most one accounturi per record), validationmethods listing
// method (RFC 8657 §3, §4). method "" stands for a name pre-authorized
// without a validation method: any validationmethods parameter refuses it. Empty issuers (";"), malformed values, and
// records whose parameters are not satisfied authorize no one. An unknown
// property with the critical flag refuses issuance (§4.1); other unknown
// properties and iodef are ignored.
//
// Any lookup failure other than NXDOMAIN (SERVFAIL, timeout, CNAME loop)
// refuses issuance: a failed lookup is not an empty answer. It is a dns
// problem (RFC 8555 §6.7), not caa: the records could not be read, which
// a later attempt may do.
//
// ip identifiers always pass: CAA is defined for domain names only (RFC
// 8659 §3 looks records up by name; RFC 8738 adds no CAA processing for
// IP addresses).
//
// It returns nil when issuance may proceed, else an *acme.Problem with
// Identifier set: of type caa when the records refuse, with a detail
// that names them and the name where they were found; of type dns when
// a lookup failed. A check whose ctx is cancelled during a lookup
// (not past its deadline, which is a lookup failure as above) refuses
// nothing: it returns a connection problem saying "validation cancelled",
// as a cancelled challenge validation does.
func (v *VA) CheckCAA(ctx context.Context, id acme.Identifier, wildcard bool, method string, accountURIs []string) error {
	t, err := parseTarget(id)
	if err != nil {
		return err
	}
	if t.isIP() || isLocalhost(t.name) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	start := time.Now()
	err = checkCAA(ctx, v.resolver, caaRequest{name: t.name, wildcard: wildcard, method: method,
		accountURIs: accountURIs, identities: v.cfg.CAAIdentities})
	if err != nil {
		var p *acme.Problem
		if !errors.As(err, &p) { // not reached: checkCAA returns problems
			p = acme.NewProblem(acme.CAA, "CAA check failed")
		}
		p.Identifier = &id
		msg := "CAA check refused"
		switch p.Type {
		case acme.CAA:
		case acme.DNS:
			msg = "CAA check failed"
		default:
			msg = "CAA check cancelled"
		}
		v.log.Info(msg, "identifier", id.Value, "wildcard", wildcard, "challenge", method,
			"detail", p.Detail, "err", err, logMS(time.Since(start)))
		return p
	}
	if v.log.Enabled(context.Background(), slog.LevelDebug) { // arguments boxed only when logged
		v.log.Debug("CAA check passed", "identifier", id.Value, "wildcard", wildcard, "challenge", method,
			logMS(time.Since(start)))
	}
	return nil
}

// isLocalhost reports whether name is "localhost" or below it. RFC 6761
// §6.3 reserves these names for the local host: DNS servers answer them
// with NXDOMAIN and they can hold no CAA records, so no query is sent.
func isLocalhost(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

// caaRequest is one CAA check.
type caaRequest struct {
	name        string // lower case, no "*.", no trailing dot
	wildcard    bool
	method      string   // challenge type used, e.g. "dns-01"
	accountURIs []string // the requesting account's URLs
	identities  []string // this CA's issuer domain names
}

// caaProblem is a caa problem with an internal cause for the log.
type caaProblem struct {
	prob  *acme.Problem
	cause error
}

func (e *caaProblem) Error() string {
	if e.cause == nil {
		return e.prob.Error()
	}
	return e.prob.Error() + ": " + e.cause.Error()
}

func (e *caaProblem) Unwrap() []error {
	if e.cause == nil {
		return []error{e.prob}
	}
	return []error{e.prob, e.cause}
}

// checkCAA returns nil or a *caaProblem: caa when the records refuse, dns
// when a lookup failed, connection when it was cancelled.
func checkCAA(ctx context.Context, r Resolver, req caaRequest) error {
	at, recs, err := relevantCAA(ctx, r, req.name)
	if err != nil {
		detail := "lookup failed"
		var le *LookupError
		if errors.As(err, &le) {
			if le.Cancelled {
				return &caaProblem{cause: err, prob: cancelledLookup(le)}
			}
			detail = le.Detail()
			if parent := strings.TrimSuffix(strings.ToLower(le.Name), "."); parent != req.name && strings.HasSuffix(req.name, "."+parent) {
				// Why a name other than the identifier's was asked: a
				// server answering only for the identifier's zone (an
				// authoritative server given as va-dns-resolver) refuses
				// its parents.
				detail += fmt.Sprintf(" (a parent of %s: CAA is looked up at every parent name, RFC 8659 §3)", req.name)
			}
		}
		// A dns problem, not caa: the records do not forbid issuance, they
		// could not be read (RFC 8555 §6.7), and the attempt may be
		// retried (RFC 8555 §8.2) where a caa refusal is final.
		return &caaProblem{cause: err, prob: acme.NewProblem(acme.DNS,
			"DNS problem while checking CAA: %s; issuance is refused while CAA records cannot be retrieved", detail)}
	}
	if len(recs) == 0 {
		return nil
	}
	reqName := req.name
	if req.wildcard {
		reqName = "*." + reqName
	}
	where := "CAA records at " + at
	if at != req.name {
		where += " (inherited by " + reqName + ")"
	} else if req.wildcard {
		where += " (for " + reqName + ")"
	}
	var issue, wild []CAARecord
	for _, rec := range recs {
		switch strings.ToLower(rec.Tag) {
		case caaIssue:
			issue = append(issue, rec)
		case caaIssueWild:
			wild = append(wild, rec)
		case caaIODef:
		default:
			if rec.Flag&caaCritical != 0 {
				return &caaProblem{prob: acme.NewProblem(acme.CAA,
					"%s contain %s, an unknown property marked critical, so this CA must not issue (RFC 8659 §4.1)",
					where, presentCAA(rec))}
			}
		}
	}
	set := issue
	if req.wildcard && len(wild) > 0 {
		set = wild
	}
	if len(set) == 0 {
		return nil // only iodef, unknown, or (for a non-wildcard) issuewild properties
	}
	var reasons []string
	for _, rec := range set {
		reason := authorizes(rec, req)
		if reason == "" {
			return nil
		}
		if len(reasons) < maxCAAReasons {
			reasons = append(reasons, presentCAA(rec)+": "+reason)
		}
	}
	if n := len(set) - len(reasons); n > 0 {
		reasons = append(reasons, fmt.Sprintf("and %d more", n))
	}
	who := "this CA (" + strings.Join(req.identities, ", ") + ")"
	if len(req.identities) == 0 {
		who = "this CA (it has no CAA identities configured)"
	}
	return &caaProblem{prob: acme.NewProblem(acme.CAA, "%s do not authorize %s to issue for %s: %s",
		where, who, reqName, strings.Join(reasons, "; "))}
}

// caaClimbWindow is the most CAA lookups one climb (relevantCAA) has in
// flight at once: the name and its first parents up to this many labels
// (real names seldom have more) are still asked all at once.
const caaClimbWindow = 8

// relevantCAA returns the relevant RRset of name (RFC 8659 §3) and the
// name it was found at; no records when the tree has none. The parents of
// name may be answered from r's CAA cache (caacache.go), name itself is
// always asked.
//
// The lookups of name and of each of its parents start at once, as
// Boulder's VA does, instead of one after the other: a climb that finds
// no records (the common case) asks every name anyway, and side by side
// its time is that of the slowest lookup, not the sum of them all, so
// the CAA check, which runs beside the challenge's validation, no longer
// outlasts it. At most caaClimbWindow lookups are in flight at once: a
// name of more labels (up to 127 in 253 characters) starts the lookup of
// its next parent as each answer is taken, so that an order of such names
// cannot make the VA send hundreds of queries at once per name. The
// answers are taken in the order of the climb, as before: the first name with records, or the first failed lookup before
// any, decides, whatever a farther name answered; the lookups still
// running then are cancelled. A name with records of its own thus costs
// the lookups of its parents as well.
func relevantCAA(ctx context.Context, r Resolver, name string) (string, []CAARecord, error) {
	names := []string{name}
	for cur := name; ; {
		_, parent, ok := strings.Cut(cur, ".")
		if !ok || parent == "" {
			break
		}
		names = append(names, parent)
		cur = parent
	}
	pr, cached := r.(parentCAAResolver)
	type answer struct {
		recs []CAARecord
		err  error
	}
	lookup := func(ctx context.Context, i int) answer {
		var a answer
		if cached && i > 0 {
			a.recs, a.err = pr.lookupParentCAA(ctx, names[i])
		} else {
			a.recs, a.err = r.LookupCAA(ctx, names[i])
		}
		return a
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the parents' lookups still running
	answers := make([]chan answer, len(names))
	next := 1 // the next parent whose lookup is to start
	startNext := func() {
		if next < len(names) {
			i := next
			answers[i] = make(chan answer, 1)
			go func() { answers[i] <- lookup(ctx, i) }()
			next++
		}
	}
	for next < min(len(names), caaClimbWindow) {
		startNext()
	}
	for i, cur := range names {
		var a answer
		if i == 0 {
			a = lookup(ctx, 0) // meanwhile, in this goroutine
		} else {
			a = <-answers[i]
		}
		startNext() // this lookup's place in the window
		var le *LookupError
		switch {
		case a.err == nil && len(a.recs) > 0:
			return cur, a.recs, nil
		case a.err != nil && !(errors.As(a.err, &le) && le.IsNotFound()):
			return cur, nil, a.err
		}
	}
	return "", nil, nil
}

// presentCAA formats rec like a zone file: 0 issue "ca.example".
func presentCAA(rec CAARecord) string {
	return fmt.Sprintf("%d %s %q", rec.Flag, rec.Tag, rec.Value)
}

// authorizes returns "" when the issue or issuewild record rec authorizes
// req, else why not.
func authorizes(rec CAARecord, req caaRequest) string {
	v, err := parseIssueValue(rec.Value)
	if err != nil {
		return "malformed (" + err.Error() + ")"
	}
	if v.issuer == "" {
		return "no CA may issue"
	}
	ours := false
	for _, id := range req.identities {
		if strings.EqualFold(v.issuer, id) {
			ours = true
			break
		}
	}
	if !ours {
		return "names another CA"
	}
	var accountURIs, methods []string
	for _, p := range v.params {
		switch strings.ToLower(p.tag) {
		case "accounturi":
			accountURIs = append(accountURIs, p.value)
		case "validationmethods":
			methods = append(methods, p.value)
		}
	}
	switch len(accountURIs) {
	case 0:
	case 1:
		if !accountURIMatches(accountURIs[0], req.accountURIs) {
			if len(req.accountURIs) > 0 {
				return fmt.Sprintf("accounturi is not this account's URL (RFC 8657 §3; this account's is %s)", req.accountURIs[0])
			}
			return "accounturi is not this account's URL (RFC 8657 §3)"
		}
	default:
		return "more than one accounturi parameter makes the record unusable (RFC 8657 §3)"
	}
	switch len(methods) {
	case 0:
	case 1:
		allowed := false
		for _, m := range strings.Split(methods[0], ",") {
			if !isCAAToken(m, false) {
				return fmt.Sprintf("malformed validationmethods %q", methods[0])
			}
			if strings.EqualFold(m, req.method) {
				allowed = true
			}
		}
		if !allowed && req.method == "" {
			// RFC 8657 §4: issuance only after validation by a listed
			// method, which a pre-authorized name never had.
			return fmt.Sprintf("validationmethods allows only %s, and the name was pre-authorized without a validation method (RFC 8657 §4)", methods[0])
		}
		if !allowed {
			return fmt.Sprintf("validationmethods does not allow %s (RFC 8657 §4)", req.method)
		}
	default:
		return "more than one validationmethods parameter makes the record unusable"
	}
	return ""
}

// issueValue is a parsed issue/issuewild property value (RFC 8659 §4.2).
type issueValue struct {
	issuer string // issuer domain name; "" for none
	params []caaParam
}

type caaParam struct{ tag, value string }

// parseIssueValue parses
//
//	issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
//	parameters  = (parameter *WSP ";" *WSP parameters) / parameter
//	parameter   = tag *WSP "=" *WSP value
//	value       = *(%x21-3A / %x3C-7E)
//
// tolerating one trailing ";" after the parameters, as written in the wild.
func parseIssueValue(s string) (issueValue, error) {
	var v issueValue
	domain, rest, hasParams := strings.Cut(s, ";")
	v.issuer = trimWSP(domain)
	if v.issuer != "" && !isIssuerDomain(v.issuer) {
		return v, fmt.Errorf("bad issuer domain name %q", v.issuer)
	}
	if !hasParams || trimWSP(rest) == "" {
		return v, nil
	}
	parts := strings.Split(rest, ";")
	for i, part := range parts {
		part = trimWSP(part)
		if part == "" {
			if i == len(parts)-1 {
				break
			}
			return v, errors.New("empty parameter")
		}
		tag, val, ok := strings.Cut(part, "=")
		tag, val = trimWSP(tag), trimWSP(val)
		if !ok || !isCAAToken(tag, true) {
			return v, fmt.Errorf("bad parameter %q", part)
		}
		for j := 0; j < len(val); j++ {
			if c := val[j]; c < 0x21 || c > 0x7e {
				return v, fmt.Errorf("bad parameter value %q", val)
			}
		}
		v.params = append(v.params, caaParam{tag: tag, value: val})
	}
	return v, nil
}

func trimWSP(s string) string { return strings.Trim(s, " \t") }

// isIssuerDomain checks issuer-domain-name = label *("." label).
func isIssuerDomain(s string) bool {
	for _, l := range strings.Split(s, ".") {
		if !isCAAToken(l, true) {
			return false
		}
	}
	return true
}

// isCAAToken checks (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)), the form
// of labels and parameter tags; with strict false, a validation method
// label, 1*(ALPHA / DIGIT / "-") (RFC 8657 §4).
func isCAAToken(s string, strict bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || strict && (i == 0 || i == len(s)-1)) {
			return false
		}
	}
	return true
}

// accountURIMatches reports whether the accounturi value v (RFC 8657 §3)
// names the account whose URLs are ours: one of them exactly, or an https
// URL with the same path (/acme/account/ID) under another host. The front
// end builds an account's URL from the Host a client connected to (an IP
// address, another name of this server, a load balancer's name), which
// `hostname` cannot know; the record names this CA's issuer domain besides,
// and the path holds the account's ID, so the host adds nothing to which
// account it is. A query, fragment or user part never matches.
func accountURIMatches(v string, ours []string) bool {
	if slices.Contains(ours, v) {
		return true
	}
	if strings.ContainsAny(v, "?#") { // even empty: "…/ID#" parses as "…/ID"
		return false
	}
	u, err := url.Parse(v)
	if err != nil || !strings.EqualFold(u.Scheme, "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	for _, o := range ours {
		if ou, err := url.Parse(o); err == nil && ou.Path != "" && ou.Path == u.Path {
			return true
		}
	}
	return false
}
