package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/display"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/spf13/cobra"
)

// newReportViolations is `certgate report violations`: valid certificates
// that violate their profile's current rules (docs/inventory.md).
func newReportViolations() *cobra.Command {
	var o storeOpts
	var f listFlags
	var format outputFormat
	var validity string
	var clientAuth bool
	cmd := &cobra.Command{
		Use:   "violations",
		Short: "Valid certificates that violate their profile's current rules",
		Long: `List the valid (unexpired, unrevoked) certificates issued under a profile
that the profile, as it is now, would not allow: names outside its
identifier rules, a key type it no longer allows, a lifetime over its
maximum validity, other EKUs; and certificates whose profile was deleted.
Each line gives every reason. Imported and discovered certificates are not
checked (no profile governs them).

The whole inventory is walked page by page (keyset pagination), so memory
stays bounded however many certificates there are; csv and json are
written as they are found, the table is aligned one page at a time.
--cert-validity and --client-auth describe the built-in default profile
and are read from the server's configuration like its other settings.`,
		Example: `  certgate report violations --format csv > violations.csv
  certgate report violations --profile web --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q, bad := f.query()
			if bad != nil && !errors.Is(bad, inventory.ErrInvalid) {
				return bad
			}
			v, err := config.ParseDuration(validity)
			if err != nil {
				return fmt.Errorf("--cert-validity: %w", err)
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &o)
			if err != nil {
				if bad != nil { // refused even where the inventory does not open
					return bad
				}
				return err
			}
			defer st.Close()
			if bad != nil {
				return checkQuery(ctx, inventory.New(st, nil), q, bad)
			}
			// A server on the default validity follows the BR
			// (policy.Profile.FollowsBR); one set to the same 90d
			// differs from it only from 2029-03-15, when it refuses
			// to start.
			reg, err := policy.NewRegistry(st, ra.DefaultProfile(v, 0, clientAuth, v == config.DefaultCertValidity), time.Minute, nil)
			if err != nil {
				return err
			}
			svc := inventory.New(st, nil)
			return writeViolations(ctx, cmd.OutOrStdout(), format, func(cursor string) (*inventory.ViolationPage, error) {
				q.Cursor = cursor
				return svc.Violations(ctx, reg, q)
			}, f.cursor)
		},
	}
	storeFlags(cmd, &o)
	f.add(cmd, false)
	cmd.Flags().StringVar(&validity, "cert-validity", "90d", "validity of the built-in default profile (the server's --cert-validity)")
	cmd.Flags().BoolVar(&clientAuth, "client-auth", false, "the built-in default profile adds clientAuth (the server's --client-auth)")
	formatFlag(cmd, &format, "table", "csv", "json")
	return cmd
}

var violationHeader = []string{"SERIAL", "NOT AFTER", "PROFILE", "NAMES", "REASONS"}

func violationRow(v inventory.Violation) []string {
	c := v.Certificate
	return []string{c.Serial, c.NotAfter.UTC().Format(time.RFC3339), c.Profile, strings.Join(c.Names, " "), strings.Join(v.Reasons, "; ")}
}

// writeViolations fetches pages from cursor until the last one and writes
// each as it arrives: json as one object shaped like the admin API's page
// ({"items": [...], "scanned": N}, N summed over the pages; no
// next_cursor, as every page is read), csv rows, or a table aligned per
// page. Nothing is written before the first page is read: an error there
// leaves w empty.
func writeViolations(ctx context.Context, w io.Writer, format outputFormat, next func(cursor string) (*inventory.ViolationPage, error), cursor string) error {
	first := true
	scanned := 0
	for page := 0; ; page++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := next(cursor)
		if err != nil {
			return err
		}
		if page == 0 && format == "json" {
			// Opened once the first page is read, so that a refused
			// query (a bad --cursor or --profile) prints nothing.
			fmt.Fprint(w, "{\n  \"items\": [")
		}
		scanned += p.Scanned
		rows := make([][]string, 0, len(p.Items))
		for _, v := range p.Items {
			if format == "json" {
				b, err := json.Marshal(v)
				if err != nil {
					return err
				}
				if !first {
					fmt.Fprint(w, ",")
				}
				fmt.Fprintf(w, "\n    %s", b)
				first = false
				continue
			}
			rows = append(rows, violationRow(v))
		}
		switch format {
		case "csv":
			header := violationHeader
			if !first {
				header = nil
			}
			if err := writeCSV(w, header, rows); err != nil {
				return err
			}
			first = false
		case "table":
			header := violationHeader
			if !first {
				header = nil
			}
			if err := writeTable(w, header, rows); err != nil {
				return err
			}
			first = false
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	if format == "json" {
		if !first {
			fmt.Fprint(w, "\n  ")
		}
		fmt.Fprintf(w, "],\n  \"scanned\": %d\n}\n", scanned)
	}
	return nil
}

// writeCSV writes rows as CSV, after header (lower-case, underscores) when
// header is not nil: every CSV the CLI writes goes through it. Cells a
// spreadsheet would read as a formula get a leading apostrophe
// (display.CSVWriter).
func writeCSV(w io.Writer, header []string, rows [][]string) error {
	cw := display.NewCSVWriter(w)
	if header != nil {
		h := make([]string, len(header))
		for i, s := range header {
			h[i] = strings.ToLower(strings.ReplaceAll(s, " ", "_"))
		}
		_ = cw.Write(h)
	}
	_ = cw.WriteAll(rows)
	return cw.Error()
}
