package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/discovery"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// newScan is `certgate scan`: certificate discovery on the network
// (docs/discovery.md).
func newScan() *cobra.Command {
	c := &cobra.Command{Use: "scan", Short: "Discover the certificates TLS servers present on the network (shadow certificates)"}
	c.AddCommand(newScanRun(), newScanList(), newScanShow())
	return c
}

func newScanRun() *cobra.Command {
	var o storeOpts
	var format outputFormat
	var sni []string
	var ports string
	var concurrency, maxEndpoints int
	var timeout time.Duration
	var withErrors bool
	var starttls []string
	cmd := &cobra.Command{
		Use:   "run TARGET...",
		Short: "Scan hosts, ports and address ranges for TLS certificates and record them",
		Long: `Complete a TLS handshake with every endpoint of the targets, record the
certificate each one serves, and add every certificate not yet in the
inventory with source "discovered": a shadow certificate, neither issued by
certgate nor imported. A TARGET is

  HOST[:PORTS][@SNI[,SNI...]]

HOST is a DNS name, an IPv4 address, an IPv4 CIDR range (10.0.0.0/28, its
network and broadcast addresses left out), or an IPv6 address or range in
brackets when ports follow ([2001:db8::1]:443). PORTS is a list of ports and
ranges (443,8443 or 8000-8010; default --ports). The SNI names after @ are
sent in turn to every address (default --sni; a DNS name is sent as itself).
Each served chain is checked against the system's roots and certgate's CA
(DATA/ca): trusted or not, incomplete, expired, name mismatch. Servers that begin
in plain text are asked to start TLS first: SMTP's STARTTLS on ports 25 and
587, PostgreSQL's SSLRequest on 5432, and on the ports --starttls names
(PORT=smtp, PORT=postgres; PORT=none for implicit TLS). A scan of more
than --max-endpoints endpoints (addresses × ports × SNI names) is refused.
The exit status is non-zero for an invalid target (nothing is scanned), not
for endpoints that fail: those are findings.`,
		Example: `  certgate scan run www.example.com 10.0.0.0/28:443,8443
  certgate scan run 10.1.2.3:443@app.example.com,api.example.com --timeout 3s`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt := discovery.Options{Targets: args, SNI: sni, MaxEndpoints: maxEndpoints, Actor: cliActor()}
			if cmd.Flags().Changed("ports") && strings.TrimSpace(ports) == "" {
				// Not the default 443 in silence.
				return errors.New("--ports: empty; give ports or ranges, e.g. 443,8443 or 8000-8010 (leave --ports out for 443)")
			}
			if ports != "" {
				p, err := discovery.ParsePorts(ports)
				if err != nil {
					return fmt.Errorf("--ports: %w", err)
				}
				opt.Ports = p
			}
			for i, n := range opt.SNI {
				if _, err := discovery.ParseTarget("x@" + n); err != nil {
					return fmt.Errorf("--sni %q: not a DNS name", n)
				}
				opt.SNI[i] = strings.TrimSuffix(strings.ToLower(n), ".")
			}
			if concurrency < 1 || concurrency > 1024 {
				return fmt.Errorf("--concurrency %d: must be from 1 to 1024", concurrency)
			}
			if maxEndpoints < 1 {
				return fmt.Errorf("--max-endpoints %d: must be at least 1", maxEndpoints)
			}
			if timeout <= 0 {
				return fmt.Errorf("--timeout %s: must be positive", timeout)
			}
			var startTLS map[int]string
			for _, w := range starttls {
				var err error
				if startTLS, err = discovery.ParseStartTLS(startTLS, w); err != nil {
					return fmt.Errorf("--starttls: %w", err)
				}
			}
			// Bad targets are refused before the database is opened.
			eps, err := discovery.Plan(opt)
			if tooMany := (*discovery.TooManyEndpointsError)(nil); errors.As(err, &tooMany) {
				return fmt.Errorf("%w, or raise --max-endpoints", err)
			}
			if err != nil {
				return err
			}
			sc := &discovery.Scanner{Concurrency: concurrency, Timeout: timeout, StartTLS: startTLS}
			sc.Roots, sc.Intermediates = caCertificates(o.data)
			errw := cmd.ErrOrStderr()
			if isTerminal(errw) {
				opt.Progress = func(done, total int) {
					fmt.Fprintf(errw, "\rscanned %d/%d endpoints", done, total)
					if done == total {
						fmt.Fprint(errw, "\r\033[K")
					}
				}
			}
			return withInventoryStore(cmd, &o, func(ctx context.Context, st *store.Store, inv *inventory.Service) error {
				if len(eps) > 0 && opt.Progress != nil {
					fmt.Fprintf(errw, "scanning %d endpoints, %d at a time\n", len(eps), min(concurrency, len(eps)))
				}
				svc, err := sweptDiscovery(ctx, st, inv)
				if err != nil {
					return err
				}
				v, err := svc.Run(ctx, sc, opt)
				if err != nil {
					return err
				}
				if !withErrors {
					v.Findings = served(v.Findings)
				}
				if err := printScan(cmd.OutOrStdout(), format, v); err != nil {
					return err
				}
				if v.Status == store.ScanCancelled {
					// Stopped (Ctrl-C): what it found is recorded and
					// printed, but a script must not take it for a whole
					// scan.
					return fmt.Errorf("scan %s was stopped before it ended: the findings above are those made before", v.ID)
				}
				return nil
			})
		},
	}
	storeFlags(cmd, &o)
	fl := cmd.Flags()
	fl.StringArrayVar(&sni, "sni", nil, "SNI name to send to targets that name none (repeatable)")
	fl.StringVar(&ports, "ports", "443", "ports of targets that name none, e.g. 443,8443 or 8000-8010")
	fl.IntVar(&concurrency, "concurrency", discovery.DefaultConcurrency, "handshakes at once")
	fl.DurationVar(&timeout, "timeout", discovery.DefaultTimeout, "connection and handshake timeout per endpoint")
	fl.IntVar(&maxEndpoints, "max-endpoints", discovery.DefaultMaxEndpoints, "refuse targets that expand to more endpoints")
	fl.BoolVar(&withErrors, "errors", false, "list the endpoints that served no certificate too")
	fl.StringArrayVar(&starttls, "starttls", nil, "PORT=PROTOCOL: speak smtp or postgres before the TLS handshake on PORT (none: implicit TLS); 25, 587 and 5432 need none (repeatable)")
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

// caCertificates returns the built-in CA's root and intermediate from
// data's CA directory, for the trust and completeness checks of a scan;
// none when the directory holds no CA (another CA issues, or --db names a
// server whose data directory is elsewhere).
func caCertificates(data string) (roots, inters []*x509.Certificate) {
	dir := server.CADir(data)
	if b, err := local.ReadRootPEM(dir); err == nil {
		if cs, err := inventory.ParseCertificates(b); err == nil {
			roots = cs
		}
	}
	if c, err := local.ReadIntermediate(dir); err == nil {
		inters = append(inters, c)
	}
	return roots, inters
}

// served returns the findings with a certificate.
func served(fs []discovery.FindingView) []discovery.FindingView {
	out := []discovery.FindingView{}
	for _, f := range fs {
		if f.Error == "" {
			out = append(out, f)
		}
	}
	return out
}

// printScan writes a scan: JSON, or a summary line and a table of its
// findings.
func printScan(w io.Writer, format outputFormat, v *discovery.ScanView) error {
	if format == "json" {
		return printJSON(w, v)
	}
	fmt.Fprintf(w, "scan %s %s: %d endpoints, %d served a certificate, %d failed; %d certificates, %d new in the inventory\n",
		v.ID, v.Status, v.Endpoints, v.Served, v.Failed, v.Certificates, v.NewCertificates)
	if v.Reason != "" {
		fmt.Fprintf(w, "%s\n", v.Reason)
	}
	if len(v.Findings) == 0 {
		return nil
	}
	rows := make([][]string, 0, len(v.Findings))
	for _, f := range v.Findings {
		if f.Error != "" {
			rows = append(rows, []string{endpoint(f.Address, f.Port), f.SNI, "", "", "", "", "error: " + f.Error})
			continue
		}
		notAfter, shadow := "", "no"
		if f.NotAfter != nil {
			notAfter = f.NotAfter.Format(time.DateOnly)
		}
		if f.Shadow {
			shadow = "yes"
		}
		rows = append(rows, []string{endpoint(f.Address, f.Port), f.SNI, strings.Join(f.Names, ","), notAfter, f.Source, shadow, issues(f)})
	}
	return writeTable(w, []string{"ENDPOINT", "SNI", "NAMES", "NOT AFTER", "SOURCE", "SHADOW", "CHECKS"}, rows)
}

func endpoint(host string, port int) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// issues is a finding's CHECKS column: "ok" (trusted, complete, valid,
// matching) or what is wrong, with the TLS version.
func issues(f discovery.FindingView) string {
	var why []string
	if f.Expired {
		why = append(why, "expired")
	}
	if f.Incomplete {
		why = append(why, "incomplete chain")
	}
	if f.NameMismatch {
		why = append(why, "name mismatch")
	}
	if f.SelfSigned {
		why = append(why, "self-signed")
	}
	// A missing intermediate and a self-signed leaf each explain a chain
	// that does not verify, and so does expiry unless the chain reaches no
	// root even inside the leaf's validity (trust_error: unknown
	// authority); a name mismatch does not (trust is judged names apart),
	// so "untrusted" is shown beside it.
	if !f.Trusted && !f.Incomplete && !f.SelfSigned && (!f.Expired || discovery.UnknownAuthority(f.TrustError)) {
		why = append(why, "untrusted")
	}
	if len(why) == 0 {
		why = append(why, "ok")
	}
	return strings.Join(why, ", ") + " (" + f.TLSVersion + ")"
}

// sweptDiscovery is the discovery service over st, after marking
// interrupted the scans whose process died (Service.InterruptStale), as
// `certgate serve` does at its start: so that a user of the CLI alone sees
// a dead scan as interrupted, not running.
func sweptDiscovery(ctx context.Context, st *store.Store, inv *inventory.Service) (*discovery.Service, error) {
	svc := discovery.New(st, inv, nil)
	if _, err := svc.InterruptStale(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

func newScanList() *cobra.Command {
	var o storeOpts
	var format outputFormat
	var limit int
	var cursor string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List scans, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			return withInventoryStore(cmd, &o, func(ctx context.Context, st *store.Store, inv *inventory.Service) error {
				svc, err := sweptDiscovery(ctx, st, inv)
				if err != nil {
					return err
				}
				p, err := svc.List(ctx, cursor, limit)
				if errors.Is(err, discovery.ErrInvalid) {
					// The limit is checked above: the cursor is wrong (as
					// cert list and the admin API say).
					return errors.New("--cursor: malformed cursor")
				}
				if err != nil {
					return err
				}
				if format == "json" {
					return printJSON(cmd.OutOrStdout(), p)
				}
				rows := make([][]string, 0, len(p.Items))
				for _, s := range p.Items {
					rows = append(rows, []string{s.ID, s.StartedAt.Format(time.RFC3339), s.Status, strconv.Itoa(s.Endpoints),
						strconv.Itoa(s.Served), strconv.Itoa(s.Certificates), strconv.Itoa(s.NewCertificates), strings.Join(s.Targets, " ")})
				}
				if err := writeTable(cmd.OutOrStdout(), []string{"ID", "STARTED", "STATUS", "ENDPOINTS", "SERVED", "CERTIFICATES", "NEW", "TARGETS"}, rows); err != nil {
					return err
				}
				if p.NextCursor != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "more: --cursor %s\n", p.NextCursor)
				}
				return nil
			})
		},
	}
	storeFlags(cmd, &o)
	cmd.Flags().IntVar(&limit, "limit", 50, "scans per page (1..1000)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "the cursor the previous page printed")
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

func newScanShow() *cobra.Command {
	var o storeOpts
	var format outputFormat
	var withErrors bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a scan and the certificates it found",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withInventoryStore(cmd, &o, func(ctx context.Context, st *store.Store, inv *inventory.Service) error {
				svc, err := sweptDiscovery(ctx, st, inv)
				if err != nil {
					return err
				}
				v, err := svc.Show(ctx, args[0], withErrors)
				if errors.Is(err, discovery.ErrNotFound) {
					return fmt.Errorf("no scan %q (certgate scan list lists them)", args[0])
				}
				if err != nil {
					return err
				}
				return printScan(cmd.OutOrStdout(), format, v)
			})
		},
	}
	storeFlags(cmd, &o)
	cmd.Flags().BoolVar(&withErrors, "errors", false, "list the endpoints that served no certificate too")
	formatFlag(cmd, &format, "table", "json")
	return cmd
}
