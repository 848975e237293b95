package va

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// caaSetResolver answers every CAA query with the same records; its other
// lookups are never made by checkCAA.
type caaSetResolver []CAARecord

func (r caaSetResolver) LookupIPs(context.Context, string) ([]netip.Addr, error) {
	return nil, errors.New("not used")
}
func (r caaSetResolver) LookupTXT(context.Context, string) ([]string, error) {
	return nil, errors.New("not used")
}
func (r caaSetResolver) LookupCAA(context.Context, string) ([]CAARecord, error) { return r, nil }

// caaIssueValueRE is the issue-value grammar of RFC 8659 §4.2, written
// independently of parseIssueValue, plus the one trailing ";" after the
// parameters that parseIssueValue tolerates. Group 1 is the issuer
// domain name.
var caaIssueValueRE = func() *regexp.Regexp {
	const (
		label  = `[A-Za-z0-9](?:-*[A-Za-z0-9])*`
		domain = label + `(?:\.` + label + `)*`
		param  = label + `[ \t]*=[ \t]*[\x21-\x3A\x3C-\x7E]*`
		params = param + `(?:[ \t]*;[ \t]*` + param + `)*`
	)
	return regexp.MustCompile(`^[ \t]*(?:(` + domain + `)[ \t]*)?(?:;[ \t]*(?:` + params + `[ \t]*(?:;[ \t]*)?)?)?$`)
}()

// parseCAALines reads one record a line, "FLAG TAG VALUE" as in a zone
// file without quotes; a FLAG that is not a number 0-255 is taken as 0.
func parseCAALines(s string) []CAARecord {
	var recs []CAARecord
	for line := range strings.SplitSeq(s, "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		for len(f) < 3 {
			f = append(f, "")
		}
		flag, _ := strconv.ParseUint(f[0], 10, 8)
		recs = append(recs, CAARecord{Flag: uint8(flag), Tag: f[1], Value: f[2]})
	}
	return recs
}

// FuzzCAA checks CAA evaluation (RFC 8659, RFC 8657) on arbitrary record
// sets: it never panics, refuses only with caa problems when every lookup
// succeeds, and its decision keeps these invariants:
//   - parseIssueValue accepts exactly the RFC 8659 §4.2 grammar;
//   - issuance is allowed only with no relevant issue/issuewild record, or
//     with one that parses and names one of this CA's identities;
//   - a malformed issue value alone never authorizes this CA;
//   - record order does not matter;
//   - adding a non-critical record with an unknown tag changes nothing;
//   - adding a critical record with an unknown tag always refuses.
func FuzzCAA(f *testing.F) {
	acct := caaAccount
	for _, v := range []string{
		caaUs, "CertGate.TEST", " \tcertgate.test ", "other.test", ";", "", "; accounturi=" + acct,
		caaUs + "; accounturi=" + acct, caaUs + "; accounturi=" + acct + "; AccountUri=" + acct,
		caaUs + "; validationmethods=dns-01", caaUs + "; validationmethods=dns-01,tls-alpn-01 ; accounturi=" + acct,
		caaUs + "; validationmethods=dns-01,,http-01", caaUs + "; policy=ev", caaUs + "; accounturi=" + acct + ";",
		caaUs + "; accounturi", caaUs + ".", "certgate .test", caaUs + "; a=b;; c=d", caaUs + "; =x",
		"  ca.example  ;  a=b ; c-d=e=f  ", "ca.example;a=", "-ca.example", "ca..example", "ca_x.example",
		"ca.example; a=b c", "ca.example; a=\u00e9", "ca.example;; a=b",
	} {
		f.Add("0 issue "+v, false, acme.ChallengeHTTP01, "tbs")
		f.Add("0 issue other.test\n0 issuewild "+v, true, acme.ChallengeDNS01, "tbs")
	}
	f.Add("0 issue "+caaUs+"\n128 tbs x", false, acme.ChallengeHTTP01, "future")
	f.Add("0 tbs x\n128 iodef mailto:a@example.com", false, "", "x")
	f.Add("0 ISSUE other.test\n0 IssueWild "+caaUs, true, acme.ChallengeTLSALPN01, "Issue")
	f.Add("0 issue "+caaUs+"; validationmethods=dns-01", false, "", "tbs")

	identities := []string{"ca.example.org", caaUs}
	accounts := []string{"https://other.test/acct/42", acct}
	f.Fuzz(func(t *testing.T, lines string, wildcard bool, method, extraTag string) {
		recs := parseCAALines(lines)
		check := func(recs []CAARecord) error {
			err := checkCAA(context.Background(), caaSetResolver(recs), caaRequest{name: "www.example.com",
				wildcard: wildcard, method: method, accountURIs: accounts, identities: identities})
			var p *acme.Problem
			if err != nil && (!errors.As(err, &p) || p.Type != acme.CAA) {
				t.Fatalf("records %q: want nil or a caa problem, got %v", recs, err)
			}
			return err
		}
		err := check(recs)

		var issue, wild []CAARecord
		critical := false
		for _, rec := range recs {
			switch strings.ToLower(rec.Tag) {
			case caaIssue:
				issue = append(issue, rec)
			case caaIssueWild:
				wild = append(wild, rec)
			case caaIODef:
			default:
				critical = critical || rec.Flag&caaCritical != 0
			}
		}
		set := issue
		if wildcard && len(wild) > 0 {
			set = wild
		}
		for _, rec := range recs {
			tag := strings.ToLower(rec.Tag)
			if tag != caaIssue && tag != caaIssueWild {
				continue
			}
			v, perr := parseIssueValue(rec.Value)
			m := caaIssueValueRE.FindStringSubmatch(rec.Value)
			if (perr == nil) != (m != nil) {
				t.Fatalf("value %q: parseIssueValue error %v, grammar match %v", rec.Value, perr, m != nil)
			}
			if perr == nil && v.issuer != m[1] {
				t.Fatalf("value %q: issuer %q, grammar says %q", rec.Value, v.issuer, m[1])
			}
			if perr != nil && check([]CAARecord{rec}) == nil && (wildcard || tag == caaIssue) {
				t.Fatalf("malformed value %q (%v) authorizes this CA", rec.Value, perr)
			}
		}
		if critical && err == nil {
			t.Fatalf("records %q with a critical unknown property allow issuance", recs)
		}
		if err == nil && len(set) > 0 {
			ok := false
			for _, rec := range set {
				v, perr := parseIssueValue(rec.Value)
				ok = ok || perr == nil && slices.ContainsFunc(identities, func(id string) bool { return strings.EqualFold(id, v.issuer) })
			}
			if !ok {
				t.Fatalf("records %q allow issuance though none names this CA", recs)
			}
		}
		if !critical && len(set) == 0 && err != nil {
			t.Fatalf("records %q without relevant issue records refuse: %v", recs, err)
		}

		rev := slices.Clone(recs)
		slices.Reverse(rev)
		if got := check(rev); (got == nil) != (err == nil) {
			t.Fatalf("records %q: %v; reversed: %v", recs, err, got)
		}
		switch strings.ToLower(extraTag) {
		case caaIssue, caaIssueWild:
			return
		}
		extra := CAARecord{Tag: extraTag, Value: "x"}
		if strings.ToLower(extraTag) != caaIODef {
			if got := check(append(slices.Clone(recs), extra)); (got == nil) != (err == nil) {
				t.Fatalf("records %q: %v; with %+v added: %v", recs, err, extra, got)
			}
		}
		extra.Flag = caaCritical
		if got := check(append(slices.Clone(recs), extra)); strings.ToLower(extraTag) != caaIODef && got == nil {
			t.Fatalf("records %q with critical %+v added allow issuance", recs, extra)
		}
	})
}
