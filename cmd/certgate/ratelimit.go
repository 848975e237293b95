package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/net/idna"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
)

// newRateLimit is `certgate ratelimit`: per-subject overrides of the rate
// limits (docs/rate-limits.md), written to the server's database beside a
// running server; nodes apply them within ratelimit.OverrideRefresh.
func newRateLimit() *cobra.Command {
	cmd := &cobra.Command{Use: "ratelimit", Short: "Manage rate limit overrides for accounts, EAB keys, addresses and domains"}
	cmd.AddCommand(newRateLimitSet(), newRateLimitList(), newRateLimitDelete())
	return cmd
}

// overrideSubject builds a subject from exactly one of the subject flags.
type subjectFlags struct{ account, eab, ip, domain string }

func (s *subjectFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.account, "account", "", "ACME account ID (the last path segment of its URL)")
	cmd.Flags().StringVar(&s.eab, "eab", "", "external account binding key ID: applies to every account bound with it")
	cmd.Flags().StringVar(&s.ip, "ip", "", "client IPv4 address, or IPv6 address or /64 (counted per /64) (new-accounts-per-ip)")
	cmd.Flags().StringVar(&s.domain, "domain", "", "registered domain, or an IPv4 address, or an IPv6 address or /64 (counted per /64) (certificates-per-domain)")
}

func (s *subjectFlags) subject() (string, error) {
	var out []string
	if s.account != "" {
		out = append(out, ratelimit.AccountSubject(s.account))
	}
	if s.eab != "" {
		out = append(out, ratelimit.EABSubject(s.eab))
	}
	if s.ip != "" {
		key, err := ipOverrideKey(s.ip)
		if err != nil {
			return "", err
		}
		out = append(out, ratelimit.IPSubject(key))
	}
	if addr, err := netip.ParseAddr(strings.TrimSpace(s.domain)); err == nil && addr.Zone() == "" {
		// An IP address identifier counts as an IPv4 address, in the form
		// newOrder writes it (IPv4-mapped as IPv4), or as the IPv6 /64 it
		// lies in (ratelimit.RegisteredDomain).
		out = append(out, ratelimit.DomainSubject(ratelimit.IPKey(addr)))
	} else if p, err := netip.ParsePrefix(strings.TrimSpace(s.domain)); err == nil {
		if !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() != 64 {
			return "", fmt.Errorf("--domain %q: the only prefix certificates-per-domain counts is an IPv6 /64", s.domain)
		}
		out = append(out, ratelimit.DomainSubject(ratelimit.IPKey(p.Addr())))
	} else if s.domain != "" {
		name, err := idna.Lookup.ToASCII(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s.domain), "*."), "."))
		if err != nil || name == "" {
			return "", fmt.Errorf("--domain %q is not a DNS name", s.domain)
		}
		if why := acme.CheckDNSName(strings.ToLower(name)); why != "" && !strings.Contains(why, "top-level domain") {
			// Any name newOrder would refuse can never be counted; a bare
			// top-level domain still names its registered domain.
			return "", fmt.Errorf("--domain %q is not a DNS name newOrder accepts: %s", s.domain, why)
		}
		out = append(out, ratelimit.DomainSubject(ratelimit.RegisteredDomain(name)))
	}
	if len(out) != 1 {
		return "", fmt.Errorf("give exactly one of --account, --eab, --ip, --domain")
	}
	return out[0], nil
}

// given is the subject flag set ("account", "eab", "ip", "domain"), or "".
func (s *subjectFlags) given() string {
	switch {
	case s.account != "":
		return "account"
	case s.eab != "":
		return "eab"
	case s.ip != "":
		return "ip"
	case s.domain != "":
		return "domain"
	}
	return ""
}

// checkSubjectFits refuses a subject that limit never looks up (see
// ratelimit.SubjectFlags): such an override would be stored and apply to
// nobody, e.g. new-orders-per-account for an address.
func (s *subjectFlags) checkSubjectFits(limit string) error {
	flag := s.given()
	fits := ratelimit.SubjectFlags(ratelimit.Name(limit))
	if flag == "" || slices.Contains(fits, flag) {
		return nil
	}
	alt := make([]string, len(fits))
	for i, f := range fits {
		alt[i] = "--" + f
	}
	var limits []string
	for _, n := range ratelimit.Names {
		if slices.Contains(ratelimit.SubjectFlags(n), flag) {
			limits = append(limits, string(n))
		}
	}
	per := map[ratelimit.Name]string{ratelimit.NewAccountsPerIP: "client address", ratelimit.CertificatesPerDomain: "registered domain"}[ratelimit.Name(limit)]
	if per == "" {
		per = "account"
	}
	noun := subjectNoun(flag)
	give := alt[len(alt)-1]
	if len(alt) > 1 {
		give = strings.Join(alt[:len(alt)-1], ", ") + " or " + give
	}
	return fmt.Errorf("--%s: %s is counted per %s and never looks up an override for %s: give %s (--%s applies to %s)",
		flag, limit, per, noun, give, flag, strings.Join(limits, ", "))
}

// subjectNoun names the kind of subject of a subject flag ("account",
// "eab", "ip", "domain") in a sentence, e.g. "an EAB key".
func subjectNoun(flag string) string {
	switch flag {
	case "account":
		return "an account"
	case "eab":
		return "an EAB key"
	case "ip":
		return "an address"
	case "domain":
		return "a domain"
	}
	return flag
}

// checkOverrideSubject refuses an override for an account or EAB key the
// database does not hold: their IDs are made by the server, so such a
// subject is a typo, and its override would apply to nobody while the
// account meant keeps its rate.
func checkOverrideSubject(ctx context.Context, st *store.Store, s subjectFlags) error {
	switch {
	case s.account != "":
		if _, err := st.GetAccount(ctx, s.account); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--account: there is no account %q (see 'certgate account list')", s.account)
		} else if err != nil {
			return fmt.Errorf("look up account %s: %w", s.account, err)
		}
	case s.eab != "":
		if _, err := st.GetEABKey(ctx, s.eab); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--eab: there is no EAB key %q (see 'certgate eab list')", s.eab)
		} else if err != nil {
			return fmt.Errorf("look up EAB key %s: %w", s.eab, err)
		}
	}
	return nil
}

// verbatimSubject is the subject as `ratelimit set` stored --ip and
// --domain before they were normalized (ipOverrideKey, A-labels), or "" when
// neither is given.
func (s *subjectFlags) verbatimSubject() string {
	switch {
	case s.account != "" || s.eab != "":
		return ""
	case s.ip != "" && s.domain == "":
		return ratelimit.IPSubject(s.ip)
	case s.domain != "" && s.ip == "":
		if addr, err := netip.ParseAddr(strings.TrimSpace(s.domain)); err == nil && addr.Zone() == "" {
			// Before IPv6 addresses counted per /64, one counted as itself.
			return ratelimit.DomainSubject(addr.Unmap().String())
		}
		return ratelimit.DomainSubject(ratelimit.RegisteredDomain(s.domain))
	}
	return ""
}

// ipOverrideKey turns --ip into the bucket key the limiter uses for a
// client address (ratelimit.IPKey): an IPv4 address as such, an IPv6
// address as the /64 it lies in, and an IPv6 /64 prefix in canonical form.
// An override stored under any other spelling would never match a client.
func ipOverrideKey(s string) (string, error) {
	if addr, err := netip.ParseAddr(s); err == nil && addr.Zone() == "" {
		return ratelimit.IPKey(addr), nil
	}
	if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is6() && !p.Addr().Is4In6() && p.Bits() == 64 {
		return ratelimit.IPKey(p.Addr()), nil
	}
	return "", fmt.Errorf("--ip %q: give an IPv4 address, or an IPv6 address or /64 prefix (IPv6 clients are counted per /64)", s)
}

func checkLimitName(name string) error {
	if !slices.Contains(ratelimit.Names, ratelimit.Name(name)) {
		names := make([]string, len(ratelimit.Names))
		for i, n := range ratelimit.Names {
			names[i] = string(n)
		}
		return fmt.Errorf("unknown limit %q (one of %s)", name, strings.Join(names, ", "))
	}
	return nil
}

func newRateLimitSet() *cobra.Command {
	var so storeOpts
	var sub subjectFlags
	var rate, comment string
	cmd := &cobra.Command{
		Use:   "set LIMIT --rate COUNT/PERIOD (--account ID | --eab KID | --ip ADDR | --domain NAME)",
		Short: "Set the rate of LIMIT for one subject (COUNT/PERIOD; 0 = unlimited; pending-authorizations-per-account takes a count)",
		Long: `Set the rate of LIMIT for one subject: COUNT/PERIOD (e.g. 1000/1h), or for
pending-authorizations-per-account a COUNT alone (a period is refused).

--rate 0 means unlimited: the subject is exempt from LIMIT (it does not block
the subject). A count of 0 with a period (0/1h) is refused for that reason.
To remove an override, so that the subject gets the configured rate again,
use 'certgate ratelimit delete LIMIT' with the same subject flag.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLimitName(args[0]); err != nil {
				return err
			}
			subject, err := sub.subject()
			if err != nil {
				return err
			}
			if err := sub.checkSubjectFits(args[0]); err != nil {
				return err
			}
			// Surrounding space is ignored on both paths, as ParseRate
			// ignores it.
			rate := strings.TrimSpace(rate)
			var r ratelimit.Rate
			if err := checkCountRate(args[0], rate); err != nil {
				return err
			}
			if args[0] == string(ratelimit.PendingAuthorizationsPerAccount) && !strings.Contains(rate, "/") {
				n, err := strconv.Atoi(rate)
				if err != nil || n < 0 {
					return fmt.Errorf("--rate: %q is not a count (0 = unlimited)", rate)
				}
				r = ratelimit.Rate{Count: n, Period: time.Hour}
			} else if r, err = ratelimit.ParseRate(rate); err != nil && !errors.Is(err, ratelimit.ErrZeroCount) {
				return fmt.Errorf("--rate: %w", err)
			}
			if r.Count == 0 && rate != "0" {
				// "0/1h" reads as "none an hour", a block; a count of 0
				// is no limit at all.
				return fmt.Errorf("--rate %q: a count of 0 does not block the subject, it exempts it from %s (unlimited): write --rate 0 to exempt it; "+
					"'certgate ratelimit delete %s' removes an override (the configured rate applies again)", rate, args[0], args[0])
			}
			if r.Period == 0 {
				r.Period = time.Hour // exempt: count 0
			}
			st, err := openStore(cmd.Context(), cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			if err := checkOverrideSubject(ctx, st, sub); err != nil {
				return err
			}
			o := store.RateLimitOverride{Limit: args[0], Subject: subject, Count: r.Count, Period: r.Period, Comment: comment, CreatedAt: time.Now().UTC()}
			ev, err := prepareAuditReplaced(ctx, st, audit.ActionRateLimitSet, audit.ObjectRateLimitOverride, args[0]+" "+subject,
				audit.ReplacedRow(func(old *store.RateLimitOverride) (any, any) {
					if old == nil {
						return nil, viewOverride(o)
					}
					return viewOverride(*old), viewOverride(o)
				}))
			if err != nil {
				return err
			}
			if err := st.SetRateLimitOverride(ctx, o, ev); err != nil {
				return err
			}
			if r.Count == 0 {
				kind, value, _ := strings.Cut(subject, ":")
				fmt.Fprintf(cmd.OutOrStdout(), "%s for %s: unlimited (exempt from the limit; 'certgate ratelimit delete %s --%s %s' gives it the configured rate again)\n",
					args[0], subject, args[0], kind, value)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s for %s: %s\n", args[0], subject, describeRate(args[0], r))
			return nil
		},
	}
	storeFlags(cmd, &so)
	sub.add(cmd)
	cmd.Flags().StringVar(&rate, "rate", "", "COUNT/PERIOD, e.g. 1000/1h or 500/7d; 0 = unlimited (exempts the subject; 'ratelimit delete' removes an override)")
	cmd.Flags().StringVar(&comment, "comment", "", "why (shown by list)")
	_ = cmd.MarkFlagRequired("rate")
	return cmd
}

// checkCountRate refuses a COUNT/PERIOD rate (e.g. "5/1h") for a limit
// that is a count, not a rate (pending-authorizations-per-account), as
// serve refuses one for its setting: the period would be dropped without
// a word. A count of 0 with a period passes, for the refusal that names
// 'ratelimit delete'.
func checkCountRate(limit, rate string) error {
	if limit != string(ratelimit.PendingAuthorizationsPerAccount) {
		return nil
	}
	c, _, ok := strings.Cut(rate, "/")
	if !ok || strings.TrimSpace(c) == "0" {
		return nil
	}
	eg := "500"
	if n, err := strconv.Atoi(strings.TrimSpace(c)); err == nil && n > 0 {
		eg = strconv.Itoa(n)
	}
	return fmt.Errorf("--rate %q: %s is a count of pending authorizations, not a rate: give the count alone, without a period (e.g. --rate %s; 0 = unlimited)",
		rate, limit, eg)
}

// overrideView is an override as `ratelimit list --format json` prints it
// and the audit log records it.
type overrideView struct {
	Limit   string    `json:"limit"`
	Subject string    `json:"subject"`
	Rate    string    `json:"rate"`
	Comment string    `json:"comment"`
	Created time.Time `json:"created"`
	// NeverApplied (list only) says why the limit never looks the
	// override up, and how to delete it (neverApplied).
	NeverApplied string `json:"never_applied,omitempty"`
}

// neverApplied says why limit never looks up an override stored for
// subject, with the command that deletes it, or "" when it may apply.
// `ratelimit set` refuses such overrides now, but older versions stored
// them: a subject of a kind the limit does not count (new-orders-per-account
// for an address; ratelimit.SubjectFlags), and an --ip (or --domain IP
// address) stored as typed, which no client's key (ratelimit.IPKey) equals.
func neverApplied(limit, subject string) string {
	if !slices.Contains(ratelimit.Names, ratelimit.Name(limit)) {
		return fmt.Sprintf("never applied: certgate has no limit %q", limit)
	}
	kind, value, _ := strings.Cut(subject, ":")
	sf := subjectFlags{}
	switch kind {
	case "account":
		sf.account = value
	case "eab":
		sf.eab = value
	case "ip":
		sf.ip = value
	case "domain":
		sf.domain = value
	default:
		return fmt.Sprintf("never applied: no limit looks up a subject of kind %q", kind)
	}
	del := fmt.Sprintf("(delete: certgate ratelimit delete %s --%s %s)", limit, kind, value)
	if err := sf.checkSubjectFits(limit); err != nil {
		fits := ratelimit.SubjectFlags(ratelimit.Name(limit))
		return fmt.Sprintf("never applied: %s never looks up an override for %s (only --%s) %s", limit, subjectNoun(kind), strings.Join(fits, ", --"), del)
	}
	if norm, err := sf.subject(); (err != nil || norm != subject) && sf.verbatimSubject() == subject {
		why := "no client address is counted under it"
		if err == nil {
			why = "clients are counted as " + norm
		}
		return fmt.Sprintf("never applied: stored as typed by an older version, %s %s", why, del)
	}
	return ""
}

func viewOverride(o store.RateLimitOverride) overrideView {
	return overrideView{Limit: o.Limit, Subject: o.Subject, Rate: describeRate(o.Limit, ratelimit.Rate{Count: o.Count, Period: o.Period}), Comment: o.Comment, Created: o.CreatedAt}
}

func describeRate(limit string, r ratelimit.Rate) string {
	if r.Count == 0 {
		return "unlimited"
	}
	if limit == string(ratelimit.PendingAuthorizationsPerAccount) {
		return strconv.Itoa(r.Count)
	}
	return r.String()
}

func newRateLimitList() *cobra.Command {
	var so storeOpts
	format := outputFormat("table")
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the rate limit overrides",
		Long: `List the rate limit overrides. An override that its limit never looks up,
stored by an older version (an address for new-orders-per-account, an --ip
as typed), is marked "never applied: ..." with the command that deletes it
(a NOTE column; never_applied in JSON).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.ListRateLimitOverrides(cmd.Context())
			if err != nil {
				return err
			}
			if format == "json" {
				out := make([]overrideView, 0, len(list))
				for _, o := range list {
					v := viewOverride(o)
					v.NeverApplied = neverApplied(o.Limit, o.Subject)
					out = append(out, v)
				}
				return printJSON(cmd.OutOrStdout(), out)
			}
			rows := make([][]string, 0, len(list))
			notes := make([]string, len(list))
			noted := false
			for i, o := range list {
				rows = append(rows, []string{o.Limit, o.Subject, describeRate(o.Limit, ratelimit.Rate{Count: o.Count, Period: o.Period}), o.Comment})
				notes[i] = neverApplied(o.Limit, o.Subject)
				noted = noted || notes[i] != ""
			}
			header := []string{"LIMIT", "SUBJECT", "RATE", "COMMENT"}
			if noted { // a NOTE column only when some override is never applied
				header = append(header, "NOTE")
				for i, note := range notes {
					rows[i] = append(rows[i], cmp.Or(note, "-"))
				}
			}
			return writeTable(cmd.OutOrStdout(), header, rows)
		},
	}
	storeFlags(cmd, &so)
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

func newRateLimitDelete() *cobra.Command {
	var so storeOpts
	var sub subjectFlags
	cmd := &cobra.Command{
		Use:   "delete LIMIT (--account ID | --eab KID | --ip ADDR | --domain NAME)",
		Short: "Remove an override: the subject gets the configured rate again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLimitName(args[0]); err != nil {
				return err
			}
			subject, err := sub.subject()
			// An override stored before --ip and --domain were normalized
			// may carry the value as typed; it can still be deleted by it.
			verbatim := sub.verbatimSubject()
			if err != nil && verbatim == "" {
				return err
			}
			st, err := openStore(cmd.Context(), cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			ctx := cmd.Context()
			del := func(subject string) error {
				ev, err := prepareAuditReplaced(ctx, st, audit.ActionRateLimitDelete, audit.ObjectRateLimitOverride, args[0]+" "+subject,
					audit.ReplacedRow(func(old *store.RateLimitOverride) (any, any) { return viewOverride(*old), nil }))
				if err != nil {
					return err
				}
				return st.DeleteRateLimitOverride(ctx, args[0], subject, ev)
			}
			switch {
			case subject == "":
				subject = verbatim
				err = del(verbatim)
			case verbatim != "" && verbatim != subject:
				// The value as typed first: when an older version stored
				// it so beside the normalized override (2001:db8::5 and
				// 2001:db8::/64), it is the one `ratelimit list` marks as
				// never applied and tells to delete with this value; the
				// normalized one, which applies, is deleted by the value
				// `list` shows for it.
				if err = del(verbatim); errors.Is(err, store.ErrNotFound) {
					err = del(subject)
				} else {
					subject = verbatim
				}
			default:
				err = del(subject)
			}
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("there is no %s override for %s (see 'certgate ratelimit list')", args[0], subject)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted the %s override for %s: the configured rate applies again\n", args[0], subject)
			return nil
		},
	}
	storeFlags(cmd, &so)
	sub.add(cmd)
	return cmd
}
