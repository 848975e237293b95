// Package mpic is multi-perspective issuance corroboration (CA/B Forum
// Baseline Requirements §3.2.2.9): a challenge and the CAA check are
// performed from the primary network perspective (the certgate node that
// runs the RA) and from remote perspectives (`certgate serve --roles va
// --perspective NAME`, each an HTTPS endpoint in another network), and
// the result counts only when a quorum of remote perspectives agrees with
// the primary.
//
// Quorum (BR §3.2.2.9 table): with 2 to 5 remote perspectives at most one
// may disagree, with 6 or more at most two; with one remote perspective it
// must agree. A perspective that cannot be reached counts as disagreeing
// (Unreachable "fail", the default), or is left out of the count
// (Unreachable "ignore": the table is applied to the perspectives that
// answered, and at least one must answer). A quorum that fails only
// because perspectives could not be reached is a serverInternal problem:
// the CA's failure, not the applicant's.
//
// Requests and responses are authenticated with HMAC-SHA256 under a secret
// shared by the primary and its perspectives, and bound to the name of the
// perspective asked and to the primary's nonce (see HeaderMAC in
// remote.go); an answer that is not from the perspective asked counts as
// unreachable.
package mpic

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/certgate/certgate/internal/acme"
)

// Request asks a perspective for one challenge check and the CAA check
// that follows it (RFC 8555 §8, RFC 8659, RFC 8657).
type Request struct {
	Identifier       acme.Identifier `json:"identifier"`       // Value without "*."
	Wildcard         bool            `json:"wildcard"`         // the certificate names "*." + Identifier.Value
	Type             string          `json:"type"`             // http-01, dns-01, tls-alpn-01
	Token            string          `json:"token"`            // the challenge token (RFC 8555 §8.3)
	KeyAuthorization string          `json:"keyAuthorization"` // token + "." + JWK thumbprint (RFC 8555 §8.1)
	AccountURIs      []string        `json:"accountURIs"`      // RFC 8657 accounturi candidates
}

// Statuses of a Result.
const (
	StatusValid       = "valid"       // challenge and CAA passed
	StatusInvalid     = "invalid"     // the perspective saw a failure (Problem says which)
	StatusUnreachable = "unreachable" // no authenticated answer from the perspective
)

// PrimaryName names the primary perspective in results.
const PrimaryName = "primary"

// Result is one perspective's outcome.
type Result struct {
	Perspective string        `json:"perspective"`       // the perspective's name, e.g. "primary", "eu1"
	Status      string        `json:"status"`            // StatusValid, StatusInvalid or StatusUnreachable
	Problem     *acme.Problem `json:"problem,omitempty"` // why, when not valid (RFC 8555 §6.7); nil when valid
	// CAARefused: the challenge passed and the CAA records refused (a caa
	// problem: a final answer; a failed CAA lookup is a dns problem, not
	// final).
	CAARefused bool `json:"caaRefused,omitempty"`
	// Cause is why an unreachable perspective gave no usable answer, in
	// full (addresses, socket and TLS errors, HTTP status, MAC
	// failures): for the operator's log, never for the client, whose
	// Problem names only the kind of failure. Never marshalled.
	Cause string `json:"-"`
}

// Checker performs a Request from one perspective. It never returns an
// error: failures are in the Result.
type Checker interface {
	// Name is the perspective's name, as results and logs give it (e.g.
	// "primary", "eu1").
	Name() string
	// Check performs req from this perspective; a failure of any kind is
	// in the Result.
	Check(ctx context.Context, req Request) Result
}

// Validator is what Local needs from the validation authority; *va.VA
// implements it.
type Validator interface {
	// Validate performs one attempt of challenge typ for id with
	// keyAuthorization (RFC 8555 §8.1): nil on success, else an
	// *acme.Problem.
	Validate(ctx context.Context, id acme.Identifier, typ, token, keyAuthorization string) error
	// CheckCAA checks the CAA records of id (RFC 8659, RFC 8657 accounturi
	// and validationmethods) for issuance to an account of accountURIs
	// after challenge type method; wildcard says the certificate names
	// *.id.Value. nil when issuance may proceed, else an *acme.Problem.
	CheckCAA(ctx context.Context, id acme.Identifier, wildcard bool, method string, accountURIs []string) error
}

// Local checks from this process with a Validator.
type Local struct {
	Perspective string    // the name in results, e.g. PrimaryName
	VA          Validator // validates and checks CAA
}

// Name implements Checker.
func (l Local) Name() string { return l.Perspective }

// Check implements Checker: the challenge and CAA at the same time (the
// CAA lookups need nothing from the challenge's answer), so that the
// check takes the longer of the two, each bounded by the VA's timeout,
// not their sum; the outcome is that of running them in order: the
// challenge's problem when it fails (the CAA check is then cancelled),
// else CAA's.
func (l Local) Check(ctx context.Context, req Request) Result {
	res := Result{Perspective: l.Perspective, Status: StatusValid}
	caaCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	caa := make(chan error, 1)
	go func() { caa <- l.VA.CheckCAA(caaCtx, req.Identifier, req.Wildcard, req.Type, req.AccountURIs) }()
	err := l.VA.Validate(ctx, req.Identifier, req.Type, req.Token, req.KeyAuthorization)
	if err != nil {
		cancel()
		<-caa
	} else if err = <-caa; err != nil {
		// A refusal by the records (caa); a failed lookup (dns) is not.
		p, ok := acme.AsProblem(err)
		res.CAARefused = ok && p.Type == acme.CAA
	}
	if err != nil {
		res.Status, res.Problem = StatusInvalid, asProblem(err, req.Identifier)
	}
	return res
}

func asProblem(err error, id acme.Identifier) *acme.Problem {
	p, ok := acme.AsProblem(err)
	if !ok {
		p = acme.NewProblem(acme.ServerInternal, "validation failed unexpectedly")
	}
	if p.Identifier == nil {
		idc := id
		p.Identifier = &idc
	}
	return p
}

// Unreachable policies.
const (
	UnreachableFail   = "fail"
	UnreachableIgnore = "ignore"
)

// Policy is the quorum rule.
type Policy struct {
	// Unreachable is UnreachableFail (default) or UnreachableIgnore.
	Unreachable string
	// MaxDisagree, when >= 0, replaces the BR table's number of remote
	// perspectives that may disagree; negative uses the table.
	MaxDisagree int
}

// AllowedDisagreements is the CA/B BR §3.2.2.9 number of remote
// perspectives that may disagree with the primary out of remotes.
func AllowedDisagreements(remotes int) int {
	switch {
	case remotes <= 1:
		return 0
	case remotes <= 5:
		return 1
	default:
		return 2
	}
}

// Corroborator checks from the primary and every remote perspective at
// once and applies the quorum. Safe for concurrent use.
type Corroborator struct {
	Primary Checker   // this process's perspective
	Remotes []Checker // the remote perspectives
	Policy  Policy    // quorum rules
	// Log receives one warning per perspective that gave no usable
	// answer, with its Result.Cause; nil logs nothing.
	Log *slog.Logger
}

// Outcome is the corroborated result of one validation attempt.
type Outcome struct {
	// Err is nil when the primary passed and the quorum was met; else an
	// *acme.Problem: the primary's own, or one listing the disagreeing
	// perspectives (Subproblems, one per perspective).
	Err error
	// Final: the primary's CAA check refused issuance; not worth retrying.
	Final bool
	// Results are the primary's result, then each remote's in
	// configuration order.
	Results []Result
}

// Check runs req on every perspective concurrently and decides.
func (c *Corroborator) Check(ctx context.Context, req Request) Outcome {
	all := append([]Checker{c.Primary}, c.Remotes...)
	results := make([]Result, len(all))
	var wg sync.WaitGroup
	for i, ch := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = ch.Check(ctx, req)
		}()
	}
	wg.Wait()
	seen := make(map[string]bool, len(all))
	for i, ch := range all {
		results[i] = attributed(results[i], ch.Name(), seen, req.Identifier)
		if res := results[i]; res.Status == StatusUnreachable && c.Log != nil {
			cause := res.Cause
			if cause == "" && res.Problem != nil {
				cause = res.Problem.Detail
			}
			c.Log.WarnContext(ctx, "multi-perspective validation: no usable answer from a remote perspective",
				"perspective", res.Perspective, "identifier", req.Identifier.Value, "challenge", req.Type, "cause", cause)
		}
	}
	out := Outcome{Results: results}
	primary := results[0]
	if primary.Status != StatusValid {
		out.Err, out.Final = primary.Problem, primary.CAARefused
		return out
	}
	out.Err = c.quorum(req.Identifier, results[1:])
	return out
}

// attributed returns res when it is the answer of the perspective asked
// (want) and the first answer from that perspective; else an unreachable
// result for want saying whose answer arrived: an answer that does not
// come from the perspective asked is no answer from it, and never counts
// twice toward the quorum.
func attributed(res Result, want string, seen map[string]bool, id acme.Identifier) Result {
	var why string
	switch {
	case res.Perspective != want:
		why = fmt.Sprintf("the answer comes from perspective %q, not %q", res.Perspective, want)
	case seen[want]:
		why = fmt.Sprintf("perspective %q answered twice", want)
	}
	seen[want] = true
	if why == "" {
		return res
	}
	idc := id
	p := acme.NewProblem(acme.Connection, "no answer from perspective %s: %s", want, why)
	p.Identifier = &idc
	return Result{Perspective: want, Status: StatusUnreachable, Problem: p}
}

// quorum returns nil when enough remote results agree with the primary's
// success, else the problem listing the perspectives that did not.
func (c *Corroborator) quorum(id acme.Identifier, remotes []Result) error {
	if len(remotes) == 0 {
		return nil
	}
	counted := len(remotes)
	var disagree []Result
	for _, r := range remotes {
		switch {
		case r.Status == StatusValid:
		case r.Status == StatusUnreachable && c.Policy.Unreachable == UnreachableIgnore:
			counted--
		default:
			disagree = append(disagree, r)
		}
	}
	allowed := AllowedDisagreements(counted)
	if c.Policy.MaxDisagree >= 0 {
		allowed = c.Policy.MaxDisagree
	}
	if counted > 0 && len(disagree) <= allowed {
		return nil
	}
	// The problem's type is that of the first perspective that saw a
	// failure when those alone are more than allowed: the applicant's
	// answer failed. Otherwise the quorum failed because perspectives did
	// not answer — the CA's own infrastructure failing, as Boulder reports
	// an unreachable remote VA ("Secondary validation RPC failed") — and
	// the type is serverInternal, which the RA does not charge to the
	// account's failed-validations limit.
	invalid := 0
	for _, r := range disagree {
		if r.Status == StatusInvalid {
			invalid++
		}
	}
	typ := acme.ServerInternal
	var names []string
	subs := make([]acme.Problem, 0, len(disagree))
	for _, r := range disagree {
		p := r.Problem
		if p == nil {
			p = acme.NewProblem(acme.Connection, "no answer")
		}
		if typ == acme.ServerInternal && r.Status == StatusInvalid && invalid > allowed {
			typ = p.Type
		}
		idc := id
		sub := acme.Problem{Type: p.Type, Detail: fmt.Sprintf("perspective %s (%s): %s", r.Perspective, r.Status, p.Detail), Identifier: &idc}
		sub.Status = sub.HTTPStatus()
		subs = append(subs, sub)
		names = append(names, r.Perspective+" "+r.Status)
	}
	var prob *acme.Problem
	if counted == 0 {
		for _, r := range remotes {
			names = append(names, r.Perspective+" "+r.Status)
			if r.Problem != nil {
				idc := id
				subs = append(subs, acme.Problem{Type: r.Problem.Type, Detail: fmt.Sprintf("perspective %s (%s): %s", r.Perspective, r.Status, r.Problem.Detail),
					Identifier: &idc, Status: r.Problem.HTTPStatus()})
			}
		}
		prob = acme.NewProblem(acme.ServerInternal, "multi-perspective validation: none of the %d remote perspectives answered (%s)", len(remotes), strings.Join(names, ", "))
	} else {
		prob = acme.NewProblem(typ, "multi-perspective validation: quorum not met: %d of %d remote perspectives disagreed with the primary, at most %d may (CA/B BR 3.2.2.9): %s",
			len(disagree), counted, allowed, strings.Join(names, ", "))
	}
	idc := id
	prob.Identifier = &idc
	prob.Subproblems = subs
	return prob
}

// PrimaryValidator is the primary's validator with corroboration: the RA
// uses Check when it finds it (see ra.PerspectiveValidator), and
// Validate/CheckCAA of the primary's own validator otherwise (finalize's
// CAA re-check).
type PrimaryValidator struct {
	Validator
	*Corroborator
}

// WithValidator returns a copy of p whose own checks (the primary
// perspective, when it is a Local, and Validate/CheckCAA) use v instead,
// e.g. a VA with a certificate profile's DNS resolvers; the remote
// perspectives are unchanged (they use their own resolvers). p is
// unchanged.
func (p *PrimaryValidator) WithValidator(v Validator) *PrimaryValidator {
	c := *p.Corroborator
	if l, ok := c.Primary.(Local); ok {
		l.VA = v
		c.Primary = l
	}
	return &PrimaryValidator{Validator: v, Corroborator: &c}
}

// Pinger is a remote Checker that can check its configuration with one
// authenticated exchange; *Remote implements it.
type Pinger interface {
	Checker
	// Ping makes one authenticated exchange with the perspective: nil when
	// it answered under its configured name with a MAC that verifies, else
	// an error saying what is wrong.
	Ping(ctx context.Context) error
}

// PingRemotes pings every remote perspective that is a Pinger, at once,
// and logs one line each: Info when it answered under its name with a MAC
// that verifies, Warn saying why otherwise (wrong URL, name or secret,
// clock skew). It never fails: a misconfiguration shows in the log before
// the first validation, and validations then count the perspective as
// unreachable. It returns the names of the perspectives that failed, in
// configuration order.
func (c *Corroborator) PingRemotes(ctx context.Context, log *slog.Logger) []string {
	errs := make([]error, len(c.Remotes))
	var wg sync.WaitGroup
	for i, ch := range c.Remotes {
		p, ok := ch.(Pinger)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Ping(ctx)
		}()
	}
	wg.Wait()
	var failed []string
	for i, ch := range c.Remotes {
		if _, ok := ch.(Pinger); !ok {
			continue
		}
		attrs := []any{"perspective", ch.Name()}
		if r, ok := ch.(*Remote); ok {
			attrs = append(attrs, "url", r.BaseURL())
		}
		if errs[i] != nil {
			failed = append(failed, ch.Name())
			log.WarnContext(ctx, "multi-perspective validation: remote perspective failed its start-up check; check its URL, its --perspective name and the shared secret (validations will count it as unreachable until it answers)",
				append(attrs, "err", errs[i].Error())...)
			continue
		}
		log.InfoContext(ctx, "multi-perspective validation: remote perspective answered", attrs...)
	}
	return failed
}
