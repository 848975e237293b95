package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

func newProfile() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Manage certificate profiles (each one is an ACME directory /acme/NAME/directory)",
		Long: `Certificate profiles decide which names, keys, validity, EKUs, custom attributes,
challenges and approvals a class of certificates has. They are stored in the
server's database; a running server picks up changes within 2 seconds.
Without a stored profile called "default", the built-in default profile (the
server's --cert-validity, serverAuth, any name) serves /acme/directory.
See docs/profiles.md.`,
	}
	cmd.AddCommand(newProfileWrite(false), newProfileWrite(true), newProfileList(), newProfileShow(), newProfileDelete())
	return cmd
}

// profileFlags are the profile fields settable by flag.
type profileFlags struct {
	file, description, validity, maxValidity, authzReuse, escalate string
	types, allow, deny, keys, ekus, challenges, preauth            []string
	required, optional                                             []string
	approveIDs, approveKeys, approveEKUs                           []string
	wildcard, requireEAB, approveAlways                            bool
	dnsResolvers                                                   []string
	dnsTimeout                                                     string
	dnssec                                                         bool
	issuer                                                         string
	// names are the flags add defined: the profile's fields and --file.
	names []string
}

func (f *profileFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	before := map[string]bool{}
	fl.VisitAll(func(fl *pflag.Flag) { before[fl.Name] = true })
	defer fl.VisitAll(func(fl *pflag.Flag) {
		if !before[fl.Name] {
			f.names = append(f.names, fl.Name)
		}
	})
	fl.StringVar(&f.file, "file", "", "read the whole profile from this YAML or JSON file (flags then override its fields)")
	fl.StringVar(&f.description, "description", "", "description shown in the ACME directory's meta.profiles")
	fl.StringSliceVar(&f.types, "identifier-types", nil, "allowed identifier types: dns, ip (default both)")
	fl.StringArrayVar(&f.allow, "allow", nil, "allowed names: exact, *.suffix, /regexp/, IP or CIDR (repeatable; default any)")
	fl.StringArrayVar(&f.deny, "deny", nil, "denied names, same forms as --allow (repeatable)")
	fl.BoolVar(&f.wildcard, "wildcard", false, "allow wildcard DNS names")
	fl.StringSliceVar(&f.keys, "key-types", nil, "allowed keys: rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384 (default all)")
	fl.StringVar(&f.validity, "validity", "", "default certificate lifetime, e.g. 90d, 160h (create without --file: 90d)")
	fl.StringVar(&f.maxValidity, "max-validity", "", "longest lifetime a newOrder may ask (default: --validity)")
	fl.StringSliceVar(&f.ekus, "eku", nil, "extended key usages: serverAuth, clientAuth, emailProtection, codeSigning (default serverAuth)")
	fl.StringArrayVar(&f.required, "require-attr", nil, "required custom attribute NAME (repeatable; enum/regex rules need --file)")
	fl.StringArrayVar(&f.optional, "optional-attr", nil, "optional custom attribute NAME (repeatable)")
	fl.StringVar(&f.authzReuse, "authz-reuse", "", "reuse valid authorizations validated within this window; 0 never (default: server setting)")
	fl.StringSliceVar(&f.challenges, "challenges", nil, "offered challenge types: http-01, dns-01, tls-alpn-01 (default all)")
	fl.BoolVar(&f.requireEAB, "require-eab", false, "newAccount on this profile's directory requires external account binding")
	fl.StringArrayVar(&f.preauth, "pre-authorize", nil, "names valid without a challenge for EAB-bound accounts (rules as --allow; repeatable)")
	fl.BoolVar(&f.approveAlways, "approval", false, "every certificate waits for 'certgate approval approve'")
	fl.StringArrayVar(&f.approveIDs, "approval-identifier", nil, "names (rules as --allow) whose certificates need approval (repeatable)")
	fl.StringSliceVar(&f.approveKeys, "approval-key-types", nil, "key types whose certificates need approval")
	fl.StringSliceVar(&f.approveEKUs, "approval-ekus", nil, "certificates of this profile need approval when it has one of these EKUs")
	fl.StringVar(&f.escalate, "escalate-after", "", "escalate approvals waiting longer than this (log and webhook), e.g. 4h")
	fl.StringSliceVar(&f.dnsResolvers, "dns-resolver", nil, "validate this profile's authorizations with these recursive DNS servers host:port (default: server's --va-dns-resolver)")
	fl.StringVar(&f.dnsTimeout, "dns-timeout", "", "per-query DNS timeout for this profile's validations, e.g. 5s (default: server's --va-dns-timeout)")
	fl.BoolVar(&f.dnssec, "dnssec", false, "require DNSSEC-authenticated answers for this profile's validations (default: server's --va-dnssec)")
	fl.StringVar(&f.issuer, "issuer", "", "the issuer that signs this profile's certificates: local (the built-in CA) or a name from the server's --issuers-file, e.g. an upstream ACME CA (docs/issuers.md; default local)")
	// Only the profile fields given on the command line are set (apply
	// reads Changed): a CERTGATE_* variable or file key of theirs does
	// nothing, so serve warns about the one and refuses the other.
	fl.VisitAll(func(fl *pflag.Flag) {
		if fl.Name != "file" {
			if fl.Annotations == nil {
				fl.Annotations = map[string][]string{}
			}
			fl.Annotations[unresolvedAnnotation] = []string{"true"}
		}
	})
}

// apply sets the fields whose flags were given on p.
func (f *profileFlags) apply(cmd *cobra.Command, p *policy.Profile) error {
	ch := cmd.Flags().Changed
	if ch("issuer") {
		p.Issuer = f.issuer
	}
	dur := func(s string) (policy.Duration, error) {
		d, err := config.ParseDuration(s)
		return policy.Duration(d), err
	}
	var err error
	if ch("description") {
		p.Description = f.description
	}
	if ch("identifier-types") {
		p.IdentifierTypes = f.types
	}
	if ch("allow") {
		p.Allow = f.allow
	}
	if ch("deny") {
		p.Deny = f.deny
	}
	if ch("wildcard") {
		p.Wildcard = f.wildcard
	}
	if ch("key-types") {
		p.KeyTypes = f.keys
	}
	if ch("validity") {
		if p.Validity, err = dur(f.validity); err != nil {
			return fmt.Errorf("--validity: %w", err)
		}
	}
	if ch("max-validity") {
		if p.MaxValidity, err = dur(f.maxValidity); err != nil {
			return fmt.Errorf("--max-validity: %w", err)
		}
	}
	if ch("eku") {
		p.EKUs = f.ekus
	}
	for _, n := range f.required {
		p.Attributes = append(p.Attributes, policy.Attribute{Name: n, Required: true})
	}
	for _, n := range f.optional {
		p.Attributes = append(p.Attributes, policy.Attribute{Name: n})
	}
	if ch("authz-reuse") {
		d, err := dur(f.authzReuse)
		if err != nil {
			return fmt.Errorf("--authz-reuse: %w", err)
		}
		p.AuthzReuse = &d
	}
	if ch("challenges") {
		p.Challenges = f.challenges
	}
	if ch("require-eab") {
		p.RequireEAB = f.requireEAB
	}
	if ch("pre-authorize") {
		p.PreAuthorized = f.preauth
	}
	if ch("approval") || ch("approval-identifier") || ch("approval-key-types") || ch("approval-ekus") || ch("escalate-after") {
		if p.Approval == nil {
			p.Approval = &policy.Approval{}
		}
		a := p.Approval
		if ch("approval") {
			a.Always = f.approveAlways
		}
		if ch("approval-identifier") {
			a.Identifiers = f.approveIDs
		}
		if ch("approval-key-types") {
			a.KeyTypes = f.approveKeys
		}
		if ch("approval-ekus") {
			a.EKUs = f.approveEKUs
		}
		if ch("escalate-after") {
			if a.EscalateAfter, err = dur(f.escalate); err != nil {
				return fmt.Errorf("--escalate-after: %w", err)
			}
		}
		if !a.Always && len(a.Identifiers)+len(a.KeyTypes)+len(a.EKUs) == 0 {
			if ch("escalate-after") {
				// Without a rule nothing waits for approval: the value
				// was dropped while "updated profile" was printed.
				return errors.New("--escalate-after: profile " + p.Name + " has no approval rule, so no approval can wait; add --approval, --approval-identifier, --approval-key-types or --approval-ekus")
			}
			p.Approval = nil
		}
	}
	return f.applyValidation(ch, p)
}

// applyValidation sets the profile's own DNS resolver settings from
// --dns-resolver, --dns-timeout and --dnssec.
func (f *profileFlags) applyValidation(ch func(string) bool, p *policy.Profile) error {
	if !ch("dns-resolver") && !ch("dns-timeout") && !ch("dnssec") {
		return nil
	}
	if p.Validation == nil {
		p.Validation = &policy.Validation{}
	}
	v := p.Validation
	if ch("dns-resolver") {
		v.DNSResolvers = f.dnsResolvers
	}
	if ch("dns-timeout") {
		d, err := config.ParseDuration(f.dnsTimeout)
		if err != nil {
			return fmt.Errorf("--dns-timeout: %w", err)
		}
		v.DNSTimeout = policy.Duration(d)
	}
	if ch("dnssec") {
		on := f.dnssec
		v.DNSSEC = &on
	}
	if len(v.DNSResolvers) == 0 && v.DNSTimeout == 0 && v.DNSSEC == nil {
		p.Validation = nil
	}
	return nil
}

// readProfileFile decodes a YAML (or JSON) profile, refusing unknown fields.
func readProfileFile(path string) (*policy.Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile file: %w", err)
	}
	var p policy.Profile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		var te *yaml.TypeError
		switch {
		case errors.As(err, &te):
			// One line per field otherwise.
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = yamlFieldError(m)
			}
			return nil, fmt.Errorf("profile file %s: %s", path, strings.Join(msgs, "; "))
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("profile file %s is empty", path)
		}
		return nil, fmt.Errorf("profile file %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return &p, nil
}

var (
	yamlUnknownField = regexp.MustCompile("^(line [0-9]+: )field (.+) not found in type [A-Za-z0-9_.]+$")
	yamlWrongType    = regexp.MustCompile("^(line [0-9]+: )cannot unmarshal !!([a-z]+)(?: `(.*)`)? into (.+)$")
)

// yamlFieldError rewrites one of yaml.v3's per-field decoding errors in
// the profile file's terms, without Go type names: "line 3: field x not
// found in type policy.Profile" is "line 3: unknown field "x"", and "line
// 4: cannot unmarshal !!str `maybe` into bool" is "line 4: "maybe" is not
// true or false". Other messages are returned as they are.
func yamlFieldError(m string) string {
	if g := yamlUnknownField.FindStringSubmatch(m); g != nil {
		return g[1] + fmt.Sprintf("unknown field %q (docs/profiles.md lists the fields)", g[2])
	}
	g := yamlWrongType.FindStringSubmatch(m)
	if g == nil {
		return m
	}
	got := map[string]string{"str": "a string", "seq": "a list", "map": "a mapping", "int": "a number", "float": "a number",
		"bool": "true or false", "null": "null"}[g[2]]
	if got == "" {
		got = "this value"
	}
	if g[3] != "" {
		got = strconv.Quote(g[3])
	}
	want := "a value of another kind"
	switch into := g[4]; {
	case into == "bool":
		want = "true or false"
	case strings.HasPrefix(into, "[]"):
		want = "a list"
	case strings.HasPrefix(into, "map["):
		want = "a mapping of key: value"
	case strings.HasPrefix(into, "int"), strings.HasPrefix(into, "uint"), strings.HasPrefix(into, "float"):
		want = "a number"
	case into == "string" || strings.HasSuffix(into, ".Duration"):
		want = "a single value"
		if strings.HasSuffix(into, ".Duration") {
			want = "a duration such as 90d or 36h"
		}
	case into == "policy.Profile":
		want = "a mapping of profile fields (name: ..., validity: ...)"
	case strings.HasPrefix(into, "policy.") || strings.HasPrefix(into, "*policy."):
		want = "a mapping of fields"
	}
	return g[1] + got + " where " + want + " is expected"
}

func newProfileWrite(update bool) *cobra.Command {
	var so storeOpts
	var f profileFlags
	var format outputFormat
	var hostname, listen string
	var vaResolver, issuersFile string
	use, short := "create NAME", "Create a profile from flags and/or --file"
	if update {
		use, short = "update NAME", "Change a stored profile: the given flags (or the whole --file) replace its fields"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.
Prints the profile's name and the URL of its ACME directory,
https://HOSTNAME:PORT/acme/NAME/directory, from the server's --hostname and
--listen (flags of this command, CERTGATE_HOSTNAME and CERTGATE_LISTEN, or
the --config file; without either, the directory's path); --format json
prints the stored profile, as profile show --format json and the admin API do.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if update && len(args) == 0 {
				return errors.New("give the NAME of the profile to update")
			}
			if update && !slices.ContainsFunc(f.names, cmd.Flags().Changed) {
				return errors.New("nothing to change: give a flag or --file")
			}
			base, err := serverURL(hostname, listen)
			if err != nil {
				return err
			}
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			// build makes the profile to store from p (the stored one
			// on update, else a new one): --file replaces it, the
			// flags set their fields. written is the last profile it
			// made: the one stored once the write succeeds.
			var written *policy.Profile
			build := func(p *policy.Profile) error {
				written = p
				if f.file != "" {
					fp, err := readProfileFile(f.file)
					if err != nil {
						return err
					}
					*p = *fp
				}
				if len(args) == 1 {
					if update && p.Name != "" && p.Name != args[0] {
						return fmt.Errorf("--file names profile %q, not %q", p.Name, args[0])
					}
					p.Name = args[0]
				}
				if p.Name == "" {
					return errors.New("give the profile NAME (argument or name: in --file)")
				}
				if err := f.apply(cmd, p); err != nil {
					return err
				}
				if err := p.Validate(); err != nil {
					return err
				}
				if err := p.CheckRules(); err != nil {
					return err
				}
				if err := p.CheckDNSSEC(vaResolver); err != nil {
					return fmt.Errorf("%w, or run this command with the server's --va-dns-resolver (flag, CERTGATE_VA_DNS_RESOLVER or the --config file)", err)
				}
				names, err := issuer.Names(issuersFile)
				if err != nil {
					return fmt.Errorf("--issuers-file: %w", err)
				}
				if err := p.CheckIssuer(names); err != nil {
					return fmt.Errorf("%w; run this command with the server's --issuers-file (flag, CERTGATE_ISSUERS_FILE or the --config file)", err)
				}
				if p.Issuer != issuer.LocalName {
					return nil // signed elsewhere: the built-in CA's lint says nothing about it
				}
				return lintProfileWithCA(so.data, p, cmd.ErrOrStderr())
			}
			name := ""
			changed := true
			if update {
				if changed, err = updateStoredProfile(ctx, st, args[0], build); err != nil {
					return err
				}
				name = args[0]
			} else {
				p := &policy.Profile{Validity: policy.Duration(90 * 24 * time.Hour)}
				if err := build(p); err != nil {
					return err
				}
				spec, err := json.Marshal(p)
				if err != nil {
					return err
				}
				now := time.Now().UTC()
				ev, err := prepareAudit(ctx, st, audit.ActionProfileCreate, audit.ObjectProfile, p.Name, nil, json.RawMessage(spec))
				if err != nil {
					return err
				}
				if err := st.PutProfile(ctx, &store.Profile{Name: p.Name, Spec: spec, CreatedAt: now, UpdatedAt: now}, false, ev); err != nil {
					if errors.Is(err, store.ErrConflict) {
						return fmt.Errorf("profile %q exists; use 'certgate profile update'", p.Name)
					}
					return err
				}
				name = p.Name
			}
			if format == "json" {
				// As profile show --format json and the admin API's
				// answer to POST or PUT /api/v1/profiles.
				return printJSON(cmd.OutOrStdout(), written)
			}
			dir := adminapi.EABDirectory(base, name)
			if !changed {
				fmt.Fprintf(cmd.OutOrStdout(), "profile %s unchanged (it already is so; nothing written or audited): directory %s\n", name, dir)
				return nil
			}
			verb := "created"
			if update {
				verb = "updated"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s profile %s: directory %s\n", verb, name, dir)
			return nil
		},
	}
	storeFlags(cmd, &so)
	f.add(cmd)
	formatFlag(cmd, &format, "table", "json")
	fl := cmd.Flags()
	fl.StringVar(&hostname, "hostname", "", "the server's --hostname, for the directory URL printed (default: localhost when --listen is set; neither set: the directory's path only)")
	fl.StringVar(&listen, "listen", "", "the server's --listen address, whose port the printed directory URL has (default: :8443 when --hostname is set)")
	fl.StringVar(&issuersFile, "issuers-file", "", "the server's --issuers-file (read from its configuration like serve): the issuers a profile's --issuer may name besides local")
	fl.StringVar(&vaResolver, "va-dns-resolver", "", "the server's --va-dns-resolver (read from its configuration like serve): a profile with --dnssec and no --dns-resolver of its own needs one")
	return cmd
}

// profileUpdateAttempts is how many times updateStoredProfile reads the
// stored profile and applies its change before it gives up on a profile
// that other changes keep replacing.
const profileUpdateAttempts = 5

// updateStoredProfile applies change to the stored profile name and writes
// the result back, audited as profile.update, only if no other change
// (another command, the admin API) has replaced the profile since it was
// read (store.UpdateProfileIf): otherwise it reads the profile again and
// reapplies change, so a concurrent change of another field is kept, not
// overwritten. It gives up with a one-line error after
// profileUpdateAttempts tries; change's own error is returned as it is.
// When the changed profile equals the stored one nothing is written or
// audited, and changed is false.
func updateStoredProfile(ctx context.Context, st *store.Store, name string, change func(*policy.Profile) error) (changed bool, err error) {
	for attempt := 1; ; attempt++ {
		rec, err := st.GetProfile(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return false, noStoredProfile(name, "create it first", "'certgate profile create default' with the fields you want stores one in its place")
		}
		if err != nil {
			return false, err
		}
		p := &policy.Profile{}
		if err := json.Unmarshal(rec.Spec, p); err != nil {
			return false, fmt.Errorf("stored profile %s: %w", name, err)
		}
		old, err := json.Marshal(p) // the stored spec as written below
		if err != nil {
			return false, err
		}
		if err := change(p); err != nil {
			return false, err
		}
		spec, err := json.Marshal(p)
		if err != nil {
			return false, err
		}
		if bytes.Equal(spec, old) {
			return false, nil
		}
		ev, err := prepareAuditReplaced(ctx, st, audit.ActionProfileUpdate, audit.ObjectProfile, name,
			audit.ReplacedRow(func(old *store.Profile) (any, any) { return json.RawMessage(old.Spec), json.RawMessage(spec) }))
		if err != nil {
			return false, err
		}
		err = st.UpdateProfileIf(ctx, &store.Profile{Name: name, Spec: spec, UpdatedAt: time.Now().UTC()}, rec.Spec, ev)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, store.ErrNotFound):
			return false, fmt.Errorf("there is no stored profile %q (deleted meanwhile)", name)
		case errors.Is(err, store.ErrStale) && attempt < profileUpdateAttempts:
			continue // changed since the read: apply the change to the new one
		case errors.Is(err, store.ErrStale):
			return false, fmt.Errorf("profile %s was changed by others %d times while this update was applied; nothing was changed, try again", name, attempt)
		default:
			return false, err
		}
	}
}

// lintProfileWithCA lints p's certificates (server.LintProfile) with the
// server's CA when the data directory holds one, else with a throwaway CA
// of the kind a first start creates (ECDSA P-384 root, P-256
// intermediate), made in a temporary directory and removed afterwards: an
// administrator who gives only --db (a PostgreSQL cluster managed from
// another host) must not store a profile whose certificates the lint
// would refuse, which would make each of its orders fail at issuance.
//
// The profile's EKUs are checked against the chain of the CA's current
// intermediate (server.CheckProfileEKUs). A throwaway CA cannot tell them:
// the server's CA may be an imported one allowing others than the
// serverAuth and clientAuth of a CA certgate makes; so then an EKU such a
// CA would refuse is only a warning on stderr, and the server checks it
// (logged at start; newOrder refused when none of the EKUs verifies).
func lintProfileWithCA(data string, p *policy.Profile, stderr io.Writer) error {
	dir := server.CADir(data)
	ok, err := local.Exists(dir)
	if err != nil {
		return fmt.Errorf("look for the CA to lint the profile: %w", err)
	}
	if !ok {
		tmp, err := os.MkdirTemp("", "certgate-lint-")
		if err != nil {
			return fmt.Errorf("throwaway CA to lint the profile: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "ca")
	}
	opts := local.Options{LintBeforeSign: true,
		IssuerURL: "http://certgate.test/pki/intermediate.crt", CRLURL: "http://certgate.test/pki/crl"}
	if ok {
		if _, err := os.Stat(filepath.Join(dir, local.IntermediateKeyFile)); errors.Is(err, fs.ErrNotExist) {
			// The key is in a PKCS#11 token: the lint signs with a
			// throwaway key, so the intermediate's public key is enough.
			if inter, err := local.ReadIntermediate(dir); err == nil {
				opts.IntermediateKey, opts.IntermediateKeyName = local.PublicKeyOnly(inter.PublicKey), "in the PKCS#11 token"
			}
		}
	}
	ca, err := local.LoadOrCreate(dir, opts)
	if err != nil {
		return fmt.Errorf("load the CA to lint the profile: %w", err)
	}
	if !ok {
		if err := server.CheckProfileEKUs(ca, p); err != nil {
			fmt.Fprintf(stderr, "certgate: warning: %s holds no CA, so the profile's EKUs were not checked against the server's CA; "+
				"if it is one certgate made (not imported): %v\n", server.CADir(data), err)
		}
		return server.LintProfileSample(ca, p, time.Now())
	}
	return server.LintProfile(ca, p, time.Now())
}

func loadProfiles(ctx context.Context, st *store.Store) ([]*policy.Profile, error) {
	recs, err := st.ListProfiles(ctx)
	if err != nil {
		return nil, err
	}
	var out []*policy.Profile
	for _, r := range recs {
		p, err := policy.Parse(r.Spec)
		if err != nil {
			return nil, fmt.Errorf("stored profile %s: %w", r.Name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func newProfileList() *cobra.Command {
	var so storeOpts
	var format outputFormat
	var validity string
	var clientAuth bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the profiles: the default (stored or built-in) first, then the stored ones",
		Long: `List the profiles as GET /api/v1/profiles does: "default" first (the stored
one, or the built-in default while none is stored), then the other stored
profiles. --cert-validity and --client-auth describe the built-in default
and are read from the server's configuration like its other settings.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := config.ParseDuration(validity)
			if err != nil {
				return fmt.Errorf("--cert-validity: %w", err)
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			stored, err := loadProfiles(ctx, st)
			if err != nil {
				return err
			}
			// The default first, as the admin API lists them.
			def := ra.DefaultProfile(v, 0, clientAuth, v == config.DefaultCertValidity)
			if err := def.Validate(); err != nil {
				return fmt.Errorf("--cert-validity: %w", err)
			}
			ps := policy.DefaultFirst(&def, stored)
			builtin := ps[0] == &def
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), ps)
			}
			rows := [][]string{}
			for i, p := range ps {
				appr := "-"
				if a := p.Approval; a != nil && (a.Always || len(a.Identifiers)+len(a.KeyTypes)+len(a.EKUs) > 0) {
					// Only a rule makes certificates wait ("approval:
					// {always: false}" said yes).
					appr = "yes"
				}
				eab := "-"
				if p.RequireEAB {
					eab = "required"
				}
				desc := p.Description
				if i == 0 && builtin {
					desc = "built-in default (the server's configuration)"
				}
				rows = append(rows, []string{p.Name, config.FormatDuration(time.Duration(p.Validity)), config.FormatDuration(time.Duration(p.MaxValidity)),
					strings.Join(p.EKUs, ","), eab, appr, desc})
			}
			return writeTable(cmd.OutOrStdout(), []string{"NAME", "VALIDITY", "MAX", "EKUS", "EAB", "APPROVAL", "DESCRIPTION"}, rows)
		},
	}
	storeFlags(cmd, &so)
	cmd.Flags().StringVar(&validity, "cert-validity", "90d", "validity of the built-in default profile (the server's --cert-validity)")
	cmd.Flags().BoolVar(&clientAuth, "client-auth", false, "the built-in default profile adds clientAuth (the server's --client-auth)")
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

// noStoredProfile is the error of a profile command whose profile name is
// not stored: for "default", which `profile list` shows all the same,
// that the built-in default applies and then defaultHint; for another
// name, hint.
func noStoredProfile(name, hint, defaultHint string) error {
	if name == policy.DefaultName {
		return fmt.Errorf("no profile %q is stored, so the built-in default applies (any name, every key type, serverAuth, "+
			"the server's --cert-validity and --client-auth; docs/profiles.md): %s", name, defaultHint)
	}
	return fmt.Errorf("there is no stored profile %q (%s)", name, hint)
}

func newProfileShow() *cobra.Command {
	var so storeOpts
	var format outputFormat
	var validity string
	var clientAuth bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a profile as YAML (or --format json); default: the stored one, else the built-in default",
		Long: `Print a stored profile as YAML (or --format json, as GET /api/v1/profiles/NAME).
"default" shows the stored default profile, or while none is stored the
built-in default the server applies, as profile list and the admin API show
it: --cert-validity and --client-auth describe it and are read from the
server's configuration like its other settings.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := config.ParseDuration(validity)
			if err != nil {
				return fmt.Errorf("--cert-validity: %w", err)
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			var p *policy.Profile
			builtin := false
			switch rec, err := st.GetProfile(ctx, args[0]); {
			case errors.Is(err, store.ErrNotFound) && args[0] == policy.DefaultName:
				// As profile list and GET /api/v1/profiles/default.
				def := ra.DefaultProfile(v, 0, clientAuth, v == config.DefaultCertValidity)
				if err := def.Validate(); err != nil {
					return fmt.Errorf("--cert-validity: %w", err)
				}
				p, builtin = &def, true
			case errors.Is(err, store.ErrNotFound):
				return noStoredProfile(args[0], "see 'certgate profile list'", "")
			case err != nil:
				return err
			default:
				if p, err = policy.Parse(rec.Spec); err != nil {
					return fmt.Errorf("stored profile %s: %w", args[0], err)
				}
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), p)
			}
			if builtin {
				// A comment: the output still reads back with profile
				// create --file.
				fmt.Fprintln(cmd.OutOrStdout(), "# built-in default: no profile \"default\" is stored (the server's --cert-validity and --client-auth; 'certgate profile create default' stores one in its place)")
			}
			enc := yaml.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent(2)
			return enc.Encode(p)
		},
	}
	storeFlags(cmd, &so)
	formatFlag(cmd, &format, "table", "json")
	cmd.Flags().StringVar(&validity, "cert-validity", "90d", "validity of the built-in default profile (the server's --cert-validity)")
	cmd.Flags().BoolVar(&clientAuth, "client-auth", false, "the built-in default profile adds clientAuth (the server's --client-auth)")
	return cmd
}

func newProfileDelete() *cobra.Command {
	var so storeOpts
	var force bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a stored profile (its directory disappears; existing orders fail at finalize)",
		Long: `Delete a stored profile: its ACME directory disappears and its pending orders
fail at finalize. Refused while EAB keys that are not revoked, orders or
certificates refer to the profile, unless --force.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			ev, err := prepareAuditReplaced(ctx, st, audit.ActionProfileDelete, audit.ObjectProfile, args[0],
				audit.ReplacedRow(func(old *store.Profile) (any, any) { return json.RawMessage(old.Spec), nil }))
			if err != nil {
				return err
			}
			// Without --force, nothing may refer to the profile: counted
			// in the deleting transaction.
			if err := st.DeleteProfileWhen(ctx, args[0], store.ProfileDeletion{Unused: !force}, ev); err != nil {
				var inUse *store.ProfileInUseError
				if errors.As(err, &inUse) {
					return fmt.Errorf("profile %s is still used by %s: pass --force to delete it anyway (its pending orders then fail at finalize)", args[0], inUse.Use)
				}
				if errors.Is(err, store.ErrNotFound) {
					return noStoredProfile(args[0], "see 'certgate profile list'", "it cannot be deleted")
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted profile %s\n", args[0])
			return nil
		},
	}
	storeFlags(cmd, &so)
	cmd.Flags().BoolVar(&force, "force", false, "delete even while EAB keys, orders or certificates refer to the profile")
	return cmd
}
