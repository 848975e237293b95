package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// newAudit is `certgate audit`: the hash-chained audit log (docs/api.md).
func newAudit() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "List and verify the audit log"}
	c.AddCommand(newAuditList(), newAuditVerify())
	return c
}

func newAuditList() *cobra.Command {
	var so storeOpts
	var format outputFormat
	var f store.AuditFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(f.Limit); err != nil {
				return err
			}
			if f.BeforeSeq < 0 {
				return fmt.Errorf("--before %d: must be a seq of 1 or more (0, the default: from the newest event)", f.BeforeSeq)
			}
			if f.Action != "" {
				if err := audit.CheckAction(f.Action); err != nil {
					return fmt.Errorf("--action: %w", err)
				}
			}
			if f.ObjectType != "" {
				if err := audit.CheckObjectType(f.ObjectType); err != nil {
					return fmt.Errorf("--object-type: %w", err)
				}
			}
			if err := inventory.CheckAuditObjectID(f.ObjectType, f.ObjectID); err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			f.Newest = true
			// A serial as openssl prints it finds the certificate's events.
			f.ObjectID = inventory.AuditObjectID(f.ObjectType, f.ObjectID)
			evs, err := audit.New(st, nil).List(cmd.Context(), f)
			if err != nil {
				return err
			}
			// The --before of the next (older) page; 0 on the last.
			next := int64(0)
			if len(evs) == f.Limit && evs[len(evs)-1].Seq > 1 {
				next = evs[len(evs)-1].Seq
			}
			if format == "json" { // as GET /api/v1/audit/events
				return printJSON(cmd.OutOrStdout(), struct {
					Items      []auditView `json:"items"`
					NextBefore int64       `json:"next_before"`
				}{auditViews(evs), next})
			}
			header := []string{"SEQ", "TIME", "ACTOR", "ACTION", "OBJECT", "SOURCE"}
			rows := make([][]string, 0, len(evs))
			for _, e := range evs {
				rows = append(rows, []string{strconv.FormatInt(e.Seq, 10), e.Time.Format(time.RFC3339), e.Actor, e.Action,
					e.ObjectType + "/" + e.ObjectID, e.Source})
			}
			if err := writeRows(cmd.OutOrStdout(), format, header, rows); err != nil {
				return err
			}
			if next != 0 { // as the other lists name their next page
				fmt.Fprintf(cmd.ErrOrStderr(), "more events: add --before %d\n", next)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "how many events (1..1000)")
	cmd.Flags().Int64Var(&f.BeforeSeq, "before", 0, "list events with a seq below this one (paging: the next_before of --format json)")
	cmd.Flags().StringVar(&f.Action, "action", "", "only this action, e.g. certificate.revoke (one of: "+strings.Join(audit.Actions(), ", ")+")")
	cmd.Flags().StringVar(&f.ObjectType, "object-type", "", "only this object type, e.g. certificate")
	cmd.Flags().StringVar(&f.ObjectID, "object-id", "", "only this object ID, e.g. a serial (hex; colons, upper case and leading zeros as openssl prints it are accepted with --object-type certificate)")
	formatFlag(cmd, &format, "table", "json", "csv")
	storeFlags(cmd, &so)
	return cmd
}

// auditView is an audit event as printed by `audit list --format json`
// and served by the admin API.
type auditView = audit.View

func auditViews(evs []*store.AuditRecord) []auditView {
	out := make([]auditView, 0, len(evs))
	for _, e := range evs {
		out = append(out, audit.NewView(e))
	}
	return out
}

func newAuditVerify() *cobra.Command {
	var so storeOpts
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain; fails naming the first modified or missing event",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := audit.New(st, nil).Verify(cmd.Context())
			if err != nil {
				return err
			}
			if format == "json" {
				if err := printJSON(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			} else if res.OK {
				fmt.Fprintf(cmd.OutOrStdout(), "audit log intact: %d event(s), head seq %d hash %s\n", res.Events, res.HeadSeq, res.HeadHash)
			}
			if !res.OK {
				return errors.New(res.Error())
			}
			return nil
		},
	}
	formatFlag(cmd, &format, "table", "json")
	storeFlags(cmd, &so)
	return cmd
}
