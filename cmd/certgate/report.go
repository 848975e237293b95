package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// newReport is `certgate report`: built-in inventory reports
// (docs/inventory.md).
func newReport() *cobra.Command {
	c := &cobra.Command{Use: "report", Short: "Inventory reports: expiring certificates, issuance counts, weak keys, profile violations, shadow certificates"}
	c.AddCommand(newReportExpiring(), newReportIssued(), newReportWeakKeys(), newReportViolations(), newReportShadow())
	return c
}

func newReportExpiring() *cobra.Command {
	var within string
	var d time.Duration
	check := func() error {
		if within == "" { // as GET /api/v1/reports/expiring?within=: the default
			within = "30d"
		}
		var err error
		d, err = parseDurationFlag("within", within)
		return err
	}
	cmd := pageCommandChecked(&cobra.Command{
		Use:     "expiring",
		Short:   "Valid certificates expiring within a duration, soonest first",
		Example: `  certgate report expiring --within 30d --format csv`,
	}, false, check, func(ctx context.Context, svc *inventory.Service, q inventory.Query) (*inventory.Page, error) {
		return svc.Expiring(ctx, d, q)
	})
	cmd.Flags().StringVar(&within, "within", "30d", "expiry window (e.g. 30d, 2w, 12h)")
	return cmd
}

func newReportIssued() *cobra.Command {
	var o storeOpts
	var format outputFormat
	var by, since string
	cmd := &cobra.Command{
		Use:   "issued",
		Short: "Count certificates by day, profile or issuer over a recent window",
		Long: `Count the certificates whose validity began (notBefore) within --since,
grouped by UTC day, profile or issuer. Imported certificates count too.`,
		Example: `  certgate report issued --by day --since 7d`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// An empty value is the default, as an empty query parameter
			// of GET /api/v1/reports/issued.
			if by == "" {
				by = "day"
			}
			if since == "" {
				since = "30d"
			}
			d, err := parseDurationFlag("since", since)
			if err != nil {
				return err
			}
			return withInventory(cmd, &o, func(ctx context.Context, svc *inventory.Service) error {
				// Every page, following the cursor: the output is the
				// whole report, as before the API paged it; each page
				// is a bounded query.
				counts := []inventory.Count{}
				for cursor := ""; ; {
					p, err := svc.Issued(ctx, by, d, 1000, cursor)
					if err != nil {
						return err
					}
					counts = append(counts, p.Items...)
					if cursor = p.NextCursor; cursor == "" {
						break
					}
				}
				if format == "json" { // as GET /api/v1/reports/issued, all pages
					return printJSON(cmd.OutOrStdout(), inventory.CountPage{Items: counts})
				}
				rows := make([][]string, len(counts))
				for i, c := range counts {
					rows[i] = []string{c.Key, strconv.Itoa(c.Count)}
				}
				return writeRows(cmd.OutOrStdout(), format, []string{map[string]string{"day": "DAY", "profile": "PROFILE", "issuer": "ISSUER"}[by], "CERTIFICATES"}, rows)
			})
		},
	}
	storeFlags(cmd, &o)
	cmd.Flags().StringVar(&by, "by", "day", "group by day, profile or issuer")
	cmd.Flags().StringVar(&since, "since", "30d", "window ending now (e.g. 30d)")
	formatFlag(cmd, &format, "table", "csv", "json")
	return cmd
}

func newReportWeakKeys() *cobra.Command {
	return pageCommand(&cobra.Command{
		Use:   "weak-keys",
		Short: "Valid certificates with RSA keys under 2048 bits or with the ROCA fingerprint, or SHA-1 signatures",
		Long: `List the valid (unexpired, unrevoked) certificates with an RSA key under 2048
bits or with the ROCA fingerprint (CVE-2017-15361: made by Infineon's
vulnerable key generation, it can be factored), or a SHA-1 (or MD5/MD2)
signature; the WEAKNESS column (table, csv) says which. Certificates that violate their profile's current rules:
'certgate report violations'.`,
	}, false, func(ctx context.Context, svc *inventory.Service, q inventory.Query) (*inventory.Page, error) {
		return svc.WeakKeys(ctx, q)
	}, pageColumn{header: "WEAKNESS", value: weakness})
}

// weakness says why report weak-keys lists c: its RSA key is under 2048
// bits or has the ROCA fingerprint, its signature uses SHA-1 (or MD5/MD2),
// or several of these.
func weakness(c inventory.Certificate) string {
	var why []string
	if strings.HasPrefix(c.KeyType, "RSA") && c.KeyBits < 2048 {
		why = append(why, fmt.Sprintf("RSA key of %d bits (under 2048)", c.KeyBits))
	}
	if c.KeyROCA {
		why = append(why, "RSA key with the ROCA fingerprint (CVE-2017-15361)")
	}
	if s := c.SignatureAlgorithm; strings.Contains(s, "SHA1") || strings.Contains(s, "MD5") || strings.Contains(s, "MD2") {
		why = append(why, s+" signature")
	}
	return strings.Join(why, ", ")
}

func newReportShadow() *cobra.Command {
	return pageCommand(&cobra.Command{
		Use:   "shadow",
		Short: "Shadow certificates: found on the network by scans, neither issued by certgate nor imported",
		Long: `List the certificates that 'certgate scan run' found served on the network
and that entered the inventory by that scan (source discovered): neither
issued by certgate nor imported. Soonest expiry first, expired ones too
(STATUS). Where each is served: 'certgate scan show ID' of the
scan that found it, or GET /api/v1/certificates/{ref}/endpoints.`,
	}, false, func(ctx context.Context, svc *inventory.Service, q inventory.Query) (*inventory.Page, error) {
		q.Source = store.SourceDiscovered
		return svc.List(ctx, q)
	})
}
