package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/discovery"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/spf13/cobra"
)

// newCert is `certgate cert`: the certificate inventory (docs/inventory.md).
func newCert() *cobra.Command {
	c := &cobra.Command{Use: "cert", Short: "List, show, export, revoke and import certificates of the inventory"}
	c.AddCommand(newCertList(), newCertShow(), newCertExport(), newCertRevoke(), newCertImport(), newCertSuggestRenewal())
	return c
}

// withInventory opens the server's database (see openStore) and runs fn
// with an inventory service over it.
func withInventory(cmd *cobra.Command, o *storeOpts, fn func(ctx context.Context, svc *inventory.Service) error) error {
	return withInventoryStore(cmd, o, func(ctx context.Context, _ *store.Store, svc *inventory.Service) error { return fn(ctx, svc) })
}

// withInventoryStore is withInventory for a command that also reads the
// store itself.
func withInventoryStore(cmd *cobra.Command, o *storeOpts, fn func(ctx context.Context, st *store.Store, svc *inventory.Service) error) error {
	ctx := cmd.Context()
	st, err := openStore(ctx, cmd, o)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(ctx, st, inventory.New(st, nil).WithAudit(audit.New(st, nil), cliActor()))
}

// listFlags are the filters shared by `cert list` and the reports.
type listFlags struct {
	name, suffix, serial, fingerprint, status, profile, issuer, source, sort, cursor string
	attrs                                                                            []string
	expiring                                                                         string
	limit                                                                            int
}

func (f *listFlags) add(cmd *cobra.Command, filters bool) {
	fl := cmd.Flags()
	if filters {
		fl.StringVar(&f.name, "name", "", "a subject alternative name, exactly (case-insensitive)")
		fl.StringVar(&f.suffix, "suffix", "", "a domain: example.com selects it and the names under it, .example.com or *.example.com only the names under it")
		fl.StringVar(&f.serial, "serial", "", "serial number (hex)")
		fl.StringVar(&f.fingerprint, "fingerprint", "", "SHA-256 fingerprint (hex, colons allowed), as the admin API's fingerprint filter")
		fl.StringVar(&f.status, "status", "", "valid, revoked or expired")
		fl.StringVar(&f.expiring, "expiring-within", "", "valid certificates expiring within this duration (e.g. 30d, 12h)")
		fl.StringVar(&f.source, "source", "", "issued, imported, discovered or listener (the server's own HTTPS certificate)")
	}
	fl.StringVar(&f.profile, "profile", "", "profile name (defined, or carried by some certificate)")
	fl.StringVar(&f.issuer, "issuer", "", `issuer name ("local") or issuer DN of imported certificates`)
	fl.StringArrayVar(&f.attrs, "attr", nil, "custom attribute key=value (repeatable; all must match)")
	fl.StringVar(&f.sort, "sort", "not_after", "not_after (soonest expiry first), -not_after or serial")
	fl.IntVar(&f.limit, "limit", 100, "page size, 1 to 1000")
	fl.StringVar(&f.cursor, "cursor", "", "continue after the page that printed this cursor")
}

// query returns the inventory query of f. Its error is checkLimit's, or
// the inventory.ErrInvalid error of a bad --attr or --expiring-within
// (both joined when both are bad); the caller joins the latter with the
// inventory's verdict on the other filters (checkQuery), so that one line
// names every bad filter.
func (f *listFlags) query() (inventory.Query, error) {
	if err := checkLimit(f.limit); err != nil {
		return inventory.Query{}, err
	}
	attrs, err := inventory.ParseAttributes(f.attrs)
	q := inventory.Query{Name: f.name, Suffix: f.suffix, Serial: f.serial, Fingerprint: f.fingerprint, Status: f.status, Profile: f.profile,
		Issuer: f.issuer, Source: f.source, Attributes: attrs, Sort: f.sort, Limit: f.limit, Cursor: f.cursor}
	if f.expiring != "" {
		d, derr := parseDurationFlag("expiring_within", f.expiring)
		q.ExpiringWithin, err = d, errors.Join(err, derr)
	}
	return q, err
}

// parseDurationFlag is inventory.ParseDuration of the value of the filter
// param (inventory.InvalidError's name for it); its error is an
// *inventory.InvalidError.
func parseDurationFlag(param, s string) (time.Duration, error) {
	d, err := inventory.ParseDuration(s)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), inventory.ErrInvalid.Error()+": ")
		return 0, &inventory.InvalidError{Param: param, Value: s, Msg: msg}
	}
	return d, nil
}

// checkQuery is the error of a query whose filters the command refused
// itself (bad, nil when none): bad joined with the inventory's refusal of the others
// (inventory.Service.Check), or the latter's storage error.
func checkQuery(ctx context.Context, svc *inventory.Service, q inventory.Query, bad error) error {
	if bad != nil && !errors.Is(bad, inventory.ErrInvalid) {
		return bad
	}
	return inventory.JoinInvalid(bad, svc.Check(ctx, q))
}

// checkLimit refuses a --limit (page size) outside 1..1000, the range of
// the store's and the admin API's pages, rather than letting a zero or
// negative one fall back to the default.
func checkLimit(limit int) error {
	if limit < 1 || limit > 1000 {
		return fmt.Errorf("--limit %d: must be 1 to 1000", limit)
	}
	return nil
}

// pageCommand completes cmd as a listing of inventory certificates: the
// filters of listFlags (all of them when filters, else those reports take),
// --format table|csv|json and the store flags; it runs list with the query
// and prints the page (printPage).
// Extra columns, if any, follow the certificate columns in tables and CSV.
func pageCommand(cmd *cobra.Command, filters bool, list func(context.Context, *inventory.Service, inventory.Query) (*inventory.Page, error), extra ...pageColumn) *cobra.Command {
	return pageCommandChecked(cmd, filters, nil, list, extra...)
}

// pageCommandChecked is pageCommand for a command with flags of its own:
// check, when not nil, validates them before the inventory opens, and
// its *inventory.InvalidError is named with those of the filters.
func pageCommandChecked(cmd *cobra.Command, filters bool, check func() error, list func(context.Context, *inventory.Service, inventory.Query) (*inventory.Page, error), extra ...pageColumn) *cobra.Command {
	var o storeOpts
	var f listFlags
	var format outputFormat
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		q, bad := f.query()
		if check != nil {
			bad = errors.Join(bad, check())
		}
		if static := inventory.ValidateQuery(q); bad != nil || static != nil {
			// Every bad filter is named where the inventory opens (the
			// profile's existence needs it); where it does not (no
			// database here), those that need no database still are.
			err := withInventory(cmd, &o, func(ctx context.Context, svc *inventory.Service) error {
				return checkQuery(ctx, svc, q, bad)
			})
			if errors.Is(err, inventory.ErrInvalid) {
				return err
			}
			if bad != nil && !errors.Is(bad, inventory.ErrInvalid) {
				return bad
			}
			return errors.Join(bad, static)
		}
		return withInventory(cmd, &o, func(ctx context.Context, svc *inventory.Service) error {
			p, err := list(ctx, svc, q)
			if err != nil {
				return err
			}
			return printPage(cmd, format, p, extra...)
		})
	}
	storeFlags(cmd, &o)
	f.add(cmd, filters)
	formatFlag(cmd, &format, "table", "csv", "json")
	return cmd
}

func newCertList() *cobra.Command {
	return pageCommand(&cobra.Command{
		Use:   "list",
		Short: "List certificates, filtered, sorted and paginated",
		Long: `List the certificates of the inventory, soonest expiry first, one page at a
time (--limit, default 100). When more remain, the next page's --cursor is
printed to stderr (table, csv) or as next_cursor (json).`,
		Example: `  certgate cert list --suffix example.com --status valid
  certgate cert list --expiring-within 30d --attr env=prod --format json`,
	}, true, func(ctx context.Context, svc *inventory.Service, q inventory.Query) (*inventory.Page, error) {
		return svc.List(ctx, q)
	})
}

// certRow is a certificate's line in tables and CSV. A table abbreviates
// more than two names ("a b (+3)"); CSV, which scripts read, has them all.
func certRow(c inventory.Certificate, format outputFormat) []string {
	names := strings.Join(c.Names, " ")
	if len(c.Names) > 2 && format != "csv" {
		names = fmt.Sprintf("%s %s (+%d)", c.Names[0], c.Names[1], len(c.Names)-2)
	}
	return []string{c.Serial, c.Status, c.NotAfter.UTC().Format(time.RFC3339), c.Profile, c.KeyType, c.Source, c.Issuer, names}
}

var certHeader = []string{"SERIAL", "STATUS", "NOT AFTER", "PROFILE", "KEY", "SOURCE", "ISSUER", "NAMES"}

// pageColumn is a column a report adds after certHeader's in tables and
// CSV (JSON has the certificate's fields only).
type pageColumn struct {
	header string
	value  func(inventory.Certificate) string
}

// printPage prints a page of certificates in format, with the extra
// columns after the certificate's; the next cursor goes to stderr for
// table and csv output.
func printPage(cmd *cobra.Command, format outputFormat, p *inventory.Page, extra ...pageColumn) error {
	out := cmd.OutOrStdout()
	if format == "json" {
		return printJSON(out, p)
	}
	header := certHeader
	for _, x := range extra {
		header = append(header[:len(header):len(header)], x.header)
	}
	rows := make([][]string, len(p.Items))
	for i, c := range p.Items {
		rows[i] = certRow(c, format)
		for _, x := range extra {
			rows[i] = append(rows[i], x.value(c))
		}
	}
	if err := writeRows(out, format, header, rows); err != nil {
		return err
	}
	if p.NextCursor != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "more certificates: add --cursor %s\n", p.NextCursor)
	}
	return nil
}

func newCertShow() *cobra.Command {
	var o storeOpts
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "show SERIAL|FINGERPRINT",
		Short: "Show one certificate's inventory record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInventoryStore(cmd, &o, func(ctx context.Context, st *store.Store, svc *inventory.Service) error {
				c, err := svc.Get(ctx, args[0])
				if err != nil {
					return err
				}
				if c.RenewalWindow, err = showRenewalWindow(ctx, st, o.data, c.Serial); err != nil {
					return err
				}
				eps, err := discovery.New(st, svc, nil).Endpoints(ctx, c.FingerprintSHA256)
				if err != nil {
					return err
				}
				if format == "json" {
					return printJSON(cmd.OutOrStdout(), certShow{Certificate: c, Endpoints: eps})
				}
				return writeTable(cmd.OutOrStdout(), []string{"FIELD", "VALUE"}, append(certFields(c), endpointFields(eps)...))
			})
		},
	}
	storeFlags(cmd, &o)
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

// certShow is `cert show --format json`: the inventory record with the
// endpoints where scans last saw the certificate served.
type certShow struct {
	*inventory.Certificate
	Endpoints []discovery.EndpointView `json:"endpoints"` // [] when no scan saw it
}

// endpointFields are `cert show`'s rows of the endpoints last seen serving
// the certificate: "seen at" ADDRESS:PORT, the SNI name sent, last seen
// and the error of a later scan there.
func endpointFields(eps []discovery.EndpointView) [][]string {
	var rows [][]string
	for _, e := range eps {
		v := net.JoinHostPort(e.Address, strconv.Itoa(e.Port))
		if e.SNI != "" {
			v += " (SNI " + e.SNI + ")"
		}
		v += ", last seen " + e.LastSeen.UTC().Format(time.RFC3339)
		if e.LastError != "" {
			v += "; latest scan: " + e.LastError
		}
		rows = append(rows, []string{"seen at", v})
	}
	return rows
}

// certFields lists a certificate's fields for `cert show`.
func certFields(c *inventory.Certificate) [][]string {
	t := func(v time.Time) string { return v.UTC().Format(time.RFC3339) }
	rows := [][]string{
		{"serial", c.Serial}, {"status", c.Status}, {"names", strings.Join(c.Names, ", ")}, {"issuer", c.Issuer},
		{"profile", c.Profile}, {"source", c.Source}, {"not before", t(c.NotBefore)}, {"not after", t(c.NotAfter)},
		{"key", c.KeyType}, {"key bits", strconv.Itoa(c.KeyBits)}, {"signature", c.SignatureAlgorithm},
		{"sha-256", c.FingerprintSHA256}, {"account", c.AccountID}, {"order", c.OrderID},
		{"replaces", c.Replaces}, {"replaced by order", c.ReplacedBy}, {"recorded", t(c.CreatedAt)},
	}
	// An empty value (an imported certificate's account, a certificate
	// that replaces none) is "-", as in the list tables, not a blank cell.
	for _, r := range rows {
		if r[1] == "" {
			r[1] = "-"
		}
	}
	if c.RevokedAt != nil {
		rows = append(rows, []string{"revoked", t(*c.RevokedAt)}, []string{"revocation reason", c.RevocationReason})
	}
	if w := c.RenewalWindow; w != nil {
		rows = append(rows, []string{"renewal window", t(w.Start) + " .. " + t(w.End) + " (" + renewalSourceText(w.Source) + ")"})
	}
	for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
		rows = append(rows, []string{"attribute " + k, c.Attributes[k]})
	}
	return rows
}

// renewalSourceText says where a renewal window comes from (ra.Window*),
// in `cert show`'s table.
func renewalSourceText(source string) string {
	switch source {
	case ra.WindowSet:
		return "set by cert suggest-renewal"
	case ra.WindowProfile:
		return "the profile's renewalWindow"
	case ra.WindowRevoked:
		return "revoked: renew at once"
	case ra.WindowIntermediateRevoked:
		return "its intermediate is revoked: renew at once"
	}
	return source
}

// showRenewalWindow is the renewal window renewalInfo suggests now for the
// certificate with serial (ra.CertificateRenewal), nil for one this server
// did not issue; data is the server's data directory, whose CA and the
// database st name the revoked intermediates (revokedIntermediates).
func showRenewalWindow(ctx context.Context, st *store.Store, data, serial string) (*inventory.RenewalSuggestion, error) {
	revoked, err := revokedIntermediates(ctx, st, data)
	if err != nil {
		return nil, err
	}
	w, source, ok, err := ra.CertificateRenewal(ctx, st, serial, revoked, time.Now())
	if err != nil || !ok {
		return nil, err
	}
	return &inventory.RenewalSuggestion{Start: w.Start, End: w.End, Source: source}, nil
}

func newCertExport() *cobra.Command {
	var o storeOpts
	var chain, leaf bool
	cmd := &cobra.Command{
		Use:   "export SERIAL|FINGERPRINT",
		Short: "Print a certificate as PEM, followed by its intermediates (--leaf: the certificate alone)",
		Long: `Print a certificate as PEM followed by the intermediates stored with it (leaf
first, as a server's certificate file and RFC 8555 §9.1 have it), as the admin
API's GET /api/v1/certificates/{ref}/pem does. --leaf (or --chain=false, the
API's chain=false) prints the certificate alone. A certificate stored without
intermediates (imported alone) is printed alone either way.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if leaf && chain && cmd.Flags().Changed("chain") {
				return errors.New("--leaf prints the certificate without its chain: give --leaf or --chain, not both")
			}
			return withInventory(cmd, &o, func(ctx context.Context, svc *inventory.Service) error {
				pem, err := svc.PEM(ctx, args[0], chain && !leaf)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(pem)
				return err
			})
		},
	}
	storeFlags(cmd, &o)
	cmd.Flags().BoolVar(&chain, "chain", true, "follow the certificate with the intermediates stored with it (--chain=false: as --leaf)")
	cmd.Flags().BoolVar(&leaf, "leaf", false, "print the certificate alone, without its intermediates")
	return cmd
}

func newCertRevoke() *cobra.Command {
	var o storeOpts
	var reason, issuersFile string
	cmd := &cobra.Command{
		Use:   "revoke SERIAL|FINGERPRINT",
		Short: "Revoke a certificate (the server's CRL lists it within a minute)",
		Long: `Mark a certificate revoked in the database, as ACME revocation does. A running
server re-signs its CRL at least every minute (sooner for revocations made
through it), so the CRL lists the certificate within a minute.
Reasons (RFC 5280 §5.3.1, by name or code, as the admin API takes them;
ACME revokeCert takes the same reasons by code but privilegeWithdrawn, which
is the CA's to give): ` + acme.AllowedRevocationReasons + `.
keyCompromise also blocks the certificate's public key: certgate refuses to
certify it again, or to accept it as an ACME account key, and revokes the
other unexpired certificates of its CA with that key (not those of upstream
CAs, which it names with other CAs' ones), including those of
this CA imported into the inventory, which it tells by the CA's certificates
in --data (DATA/ca/root.crt and intermediate.crt, no key): keyCompromise is
refused when the database has a CA and --data does not hold it. Other
reasons need no CA (docs/inventory.md, docs/pki.md).
A certificate issued by an upstream CA (a profile's issuer from the server's
--issuers-file) is revoked there first, with the server's upstream account
in --data, and recorded only when the upstream accepted (docs/issuers.md);
so is keyCompromise of one revoked before for another reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := acme.ParseRevocationReason(reason)
			if err != nil {
				return err
			}
			// Read up front, as profile create reads it: a file that is
			// missing or wrong is refused whatever certificate is revoked,
			// not only one of an upstream CA.
			if _, err := issuer.Names(issuersFile); err != nil {
				return fmt.Errorf("--issuers-file: %w", err)
			}
			return withInventoryStore(cmd, &o, func(ctx context.Context, st *store.Store, svc *inventory.Service) error {
				if code == acme.ReasonKeyCompromise {
					// The built-in CA's intermediate names the imported
					// certificates of this CA that keyCompromise revokes
					// with the key's issued ones, as the server does
					// (docs/pki.md). Other reasons need no CA: the
					// servers sign CRL and OCSP from the database.
					inters, err := revocationCA(ctx, st, o.data)
					if err != nil {
						return err
					}
					if inters != nil {
						svc = svc.WithCA(inters...)
					}
				}
				if err := revokeUpstream(ctx, st, svc, args[0], code, issuersFile, o.data, cmd.ErrOrStderr()); err != nil {
					return err
				}
				r, err := svc.Revoke(ctx, args[0], code)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "revoked %s (%s)\n", r.Serial, r.RevocationReason)
				if code == acme.ReasonKeyCompromise {
					// The same transaction blocked the key and revoked its
					// other certificates (docs/pki.md): say which.
					if len(r.RevokedWith) == 0 {
						fmt.Fprintln(out, "blocked its key; no other valid certificate issued here has it")
					} else {
						fmt.Fprintf(out, "blocked its key and revoked %d other certificate(s) with it for keyCompromise: %s\n",
							len(r.RevokedWith), strings.Join(r.RevokedWith, ", "))
					}
					if len(r.OtherCAs) > 0 {
						fmt.Fprintf(out, "%d certificate(s) of other CAs in the inventory have the key and stay valid (revoke them with their CA): %s\n",
							len(r.OtherCAs), strings.Join(r.OtherCAs, ", "))
					}
				}
				if note := foreignRevocationNote(ctx, st, svc, &r.Certificate, o.data); note != "" {
					fmt.Fprintln(out, note)
				}
				return nil
			})
		},
	}
	storeFlags(cmd, &o)
	cmd.Flags().StringVar(&reason, "reason", "unspecified", "RFC 5280 revocation reason")
	cmd.Flags().StringVar(&issuersFile, "issuers-file", "", "the server's --issuers-file (read from its configuration like serve): a certificate of an upstream CA is revoked there first")
	return cmd
}

// revokeUpstream sends the revocation of the certificate ref names, when
// an upstream CA issued it (issued here under another issuer than local)
// and it is valid, or revoked for another reason and code is
// keyCompromise (its reason is raised upstream too), to that upstream,
// configured in the issuers file issuersFile with its account in the data
// directory data. Nothing is sent for another certificate; an upstream
// that the file lacks, or that refuses, is an error (and the caller
// records nothing). lego's own
// warnings go to stderr; its progress lines, which it would print on
// stdout, are dropped, so that stdout holds the command's answer alone.
func revokeUpstream(ctx context.Context, st *store.Store, svc *inventory.Service, ref string, code int, issuersFile, data string, stderr io.Writer) error {
	c, err := svc.Get(ctx, ref)
	if err != nil || c.Source != store.SourceIssued || c.Issuer == issuer.LocalName {
		return nil // svc.Revoke says what is wrong, if anything
	}
	rec, err := st.GetCertificate(ctx, c.Serial)
	if err != nil {
		return err
	}
	raised := rec.Status == acme.StatusRevoked && code == acme.ReasonKeyCompromise && rec.RevocationReason != acme.ReasonKeyCompromise
	if rec.Status != acme.StatusValid && !raised {
		return nil // already revoked: svc.Revoke says so
	}
	iss, err := issuer.Load(issuersFile, issuer.Env{Data: data, Log: slog.New(slog.DiscardHandler)}, issuerConnectors()...)
	if err != nil {
		return fmt.Errorf("--issuers-file: %w", err)
	}
	legolog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	i := slices.IndexFunc(iss, func(is issuer.Issuer) bool { return is.Name() == c.Issuer })
	rv, ok := issuer.Revoker(nil), false
	if i >= 0 {
		rv, ok = iss[i].(issuer.Revoker)
	}
	if !ok {
		return fmt.Errorf("certificate %s was issued by upstream CA %s, which --issuers-file does not configure: run this command with the server's --issuers-file (flag, CERTGATE_ISSUERS_FILE or the --config file) so that the revocation reaches the upstream", c.Serial, c.Issuer)
	}
	if err := rv.Revoke(ctx, rec.DER, code); err != nil {
		if p, ok := acme.AsProblem(err); ok {
			return errors.New(p.Detail) // one line, not the problem's type URN
		}
		return err
	}
	return nil
}

// foreignRevocationNote says, for an imported or discovered certificate
// that the built-in CA did not sign, that its revocation stays in the
// inventory: certgate cannot revoke at another CA, its CRL leaves the
// certificate out and its OCSP responder answers unauthorized for it
// (docs/inventory.md). Without the CA's certificate in data, for a database
// that has a CA, it cannot tell, and says so conditionally. "" for a
// certificate of this CA.
func foreignRevocationNote(ctx context.Context, st *store.Store, svc *inventory.Service, c *inventory.Certificate, data string) string {
	if c.Source == store.SourceIssued || c.Source == store.SourceListener {
		return ""
	}
	inters, err := local.ReadIntermediates(server.CADir(data))
	if err != nil {
		if recorded, serr := st.GetSetting(ctx, server.CARootSetting); errors.Is(serr, store.ErrNotFound) || serr == nil && recorded == "" {
			// The database has no CA: every imported certificate is another CA's.
			return fmt.Sprintf("recorded in the inventory only: another CA (issuer %s) issued it, and only that CA can revoke it", c.Issuer)
		}
		return fmt.Sprintf("if another CA issued it (issuer %s; %s has no CA certificate to tell), "+
			"the revocation is recorded in the inventory only: only that CA can revoke it", c.Issuer, server.CADir(data))
	}
	pemBytes, err := svc.PEM(ctx, c.Serial, false)
	if err != nil {
		return ""
	}
	if blk, _ := pem.Decode(pemBytes); blk != nil && store.ScopeOf(inters...).Signed(blk.Bytes) {
		return "" // this CA's (current or retired intermediate): on its CRL, revoked in OCSP
	}
	return fmt.Sprintf("recorded in the inventory only: another CA (issuer %s) issued it, and only that CA can revoke it", c.Issuer)
}

// revocationCA returns the intermediate certificates of the built-in CA in
// data's CA directory (the current one and the retired ones,
// local.ReadIntermediates), which a keyCompromise revocation needs to tell the
// imported certificates of this CA with the key (inventory.Service.WithCA),
// or nil when the database records no built-in CA (server.CARootSetting:
// then no certificate of one exists) and data holds none. It refuses, in
// one line, a data directory without the CA of a database that has one
// (the revocation would leave this CA's imported certificates with the key
// valid, and name them as other CAs'), and one whose CA is not the
// database's.
func revocationCA(ctx context.Context, st *store.Store, data string) ([]*x509.Certificate, error) {
	recorded, err := st.GetSetting(ctx, server.CARootSetting)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	dir := server.CADir(data)
	inters, err := local.ReadIntermediates(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && recorded == "":
		return nil, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("--reason keyCompromise also revokes the imported certificates of this server's CA that have the key, "+
			"which needs the CA's certificate, and %s does not exist: pass the server's --data (ca/root.crt and ca/intermediate.crt are read, no key)",
			filepath.Join(dir, local.IntermediateCertFile))
	case err != nil:
		return nil, err
	}
	if recorded == "" {
		return inters, nil
	}
	rootPEM, err := local.ReadRootPEM(dir)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(rootPEM)
	root, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, err
	}
	if fp := local.Fingerprint(root); fp != recorded {
		return nil, fmt.Errorf("%s holds another CA (root SHA-256 %s) than the database's (root SHA-256 %s): pass the server's --data", dir, fp, recorded)
	}
	return inters, nil
}

func newCertImport() *cobra.Command {
	var o storeOpts
	var format outputFormat
	cmd := &cobra.Command{
		Use:         "import FILE|DIR...",
		Annotations: map[string]string{argsArePaths: "yes"},
		Short:       "Import existing certificates (PEM, DER, PKCS#7) into the inventory",
		Long: `Import the certificates of each file, and of every file under each directory:
PEM (certificates and PKCS7 blocks), DER, or DER PKCS#7 bundles (.p7b). Each
file is stored in one transaction; certificates already present (same SHA-256
fingerprint) are reported and skipped. A bad file is reported on one line and
nothing of it is stored; the others are still imported. Files holding only
private keys or certificate requests (such as certbot's privkey.pem), and
text files without a PEM block found in a directory (certbot's README,
lego's NAME.json), are reported as skipped. The exit status is non-zero when any file was rejected. Each imported certificate is recorded in
the audit log (certificate.import) in the transaction that stores its file's certificates.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInventory(cmd, &o, func(ctx context.Context, svc *inventory.Service) error {
				res, err := svc.Import(ctx, args)
				bad, skipped, imported, present := 0, 0, 0, 0
				for _, r := range res {
					if r.Err != nil {
						bad++
					}
					if r.Skipped != "" {
						skipped++
					}
					imported += len(r.Imported)
					present += len(r.Present)
				}
				if format == "json" {
					if perr := printJSON(cmd.OutOrStdout(), res); perr != nil {
						return perr
					}
				} else {
					for _, r := range res {
						w := cmd.OutOrStdout()
						if r.Err != nil {
							w = cmd.ErrOrStderr()
						}
						fmt.Fprintln(w, r.Summary())
					}
					sum := plural(imported, "certificate", "certificates") + " imported, " + strconv.Itoa(present) + " already present, "
					if skipped > 0 {
						sum += plural(skipped, "file", "files") + " skipped (no certificate), "
					}
					fmt.Fprintln(cmd.OutOrStdout(), sum+plural(bad, "file", "files")+" rejected")
				}
				if err != nil {
					return err
				}
				if bad > 0 {
					return errors.New(plural(bad, "file was", "files were") + " rejected")
				}
				return nil
			})
		},
	}
	storeFlags(cmd, &o)
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// revokedIntermediates are the intermediates of the built-in CA in data
// (server.CADir) revoked with `certgate ca revoke-intermediate`, whose
// certificates renewalInfo asks to renew at once: those revoked in data,
// and those the root CRL of data or the one the cluster shares in st
// (server.ClusterRootCRL) lists, as a server on data counts them
// (local.CA.RevokedIntermediates); none when data holds no CA (a node run
// with --db only).
func revokedIntermediates(ctx context.Context, st *store.Store, data string) ([]*x509.Certificate, error) {
	revoked, err := local.RevokedIntermediateCerts(server.CADir(data), server.ClusterRootCRL(ctx, st))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the CA's revoked intermediates: %w", err)
	}
	return revoked, nil
}
