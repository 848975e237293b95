package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

func newApproval() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approval",
		Short: "List and decide certificate requests waiting for approval",
		Long: `Orders of profiles with an approval rule stay "processing" after finalize
until an approver decides here. Approving lets the next poll of the ACME
client (or the server's sweep) issue the certificate; rejecting makes the
order invalid with the comment in its error. Works beside a running server.`,
	}
	cmd.AddCommand(newApprovalList(), newApprovalDecide(true), newApprovalDecide(false))
	return cmd
}

func newApprovalList() *cobra.Command {
	var so storeOpts
	var format outputFormat
	var status string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List approvals (pending by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if status == "" { // as GET /api/v1/approvals?status=: the default
				status = store.ApprovalPending
			}
			if status == "all" {
				status = ""
			} else if status != store.ApprovalPending && status != store.ApprovalApproved && status != store.ApprovalRejected {
				return fmt.Errorf("--status %q: use pending, approved, rejected or all", status)
			}
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			// Every page, following the keyset position: the output is
			// the whole list, as before the API paged it; each page is a
			// bounded query (GET /api/v1/approvals, every page).
			var aps []*store.Approval
			var after *store.ApprovalKey
			for {
				page, err := st.ListApprovalsPage(ctx, status, after, 1000)
				if err != nil {
					return err
				}
				aps = append(aps, page...)
				if len(page) < 1000 {
					break
				}
				last := page[len(page)-1]
				after = &store.ApprovalKey{RequestedAt: last.RequestedAt, ID: last.ID}
			}
			// The JSON is the admin API's (GET /api/v1/approvals items).
			out := []ra.ApprovalView{}
			var rows [][]string
			for _, a := range aps {
				out = append(out, ra.ApprovalSnapshot(a))
				var names []string
				for _, id := range a.Identifiers {
					names = append(names, id.Value)
				}
				esc := "-"
				if !a.EscalatedAt.IsZero() {
					esc = a.EscalatedAt.Format(time.RFC3339)
				}
				rows = append(rows, []string{a.ID, a.Status, a.Profile, strings.Join(names, ","), a.KeyType,
					a.RequestedAt.Format(time.RFC3339), esc, dash(a.DecidedBy), a.Reason})
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), out)
			}
			return writeTable(cmd.OutOrStdout(), []string{"ID", "STATUS", "PROFILE", "IDENTIFIERS", "KEY", "REQUESTED", "ESCALATED", "DECIDED-BY", "REASON"}, rows)
		},
	}
	storeFlags(cmd, &so)
	formatFlag(cmd, &format, "table", "json")
	cmd.Flags().StringVar(&status, "status", store.ApprovalPending, "pending, approved, rejected or all")
	return cmd
}

// approver is who decides, as the approval's decided_by and its audit
// event's actor record it: audit.CLIActor of --by, else cliActor (the
// operating-system user, "cli:alice"), as a decision through the admin API
// records its token's actor in both ("token:NAME#ID").
func approver(by string) string {
	if by == "" {
		return cliActor()
	}
	return audit.CLIActor(by)
}

func newApprovalDecide(approve bool) *cobra.Command {
	var so storeOpts
	var comment, by string
	use, short := "approve ID", "Approve a pending request: the certificate is issued at the client's next poll"
	if !approve {
		use, short = "reject ID --comment TEXT", "Reject a pending request: its order becomes invalid with the comment"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if !approve && strings.TrimSpace(comment) == "" {
				return errors.New("a rejection needs --comment saying why (the ACME client sees it)")
			}
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			who := approver(by)
			perr := ra.RejectionProblem(comment)
			now := time.Now().UTC()
			ap, err := st.GetApproval(ctx, args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("there is no approval %q (see 'certgate approval list')", args[0])
			}
			if err != nil {
				return err
			}
			action := audit.ActionApprovalReject
			if approve {
				action = audit.ActionApprovalApprove
			}
			ev, err := audit.New(st, nil).Prepare(ctx, audit.Event{Actor: who, Action: action, ObjectType: audit.ObjectApproval,
				ObjectID: ap.ID, Replaced: ra.DecisionSnapshots(approve, who, comment, now)})
			if err != nil {
				return err
			}
			switch _, err := st.DecideApproval(ctx, args[0], approve, who, comment, perr, now, ev); {
			case errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("there is no approval %q (see 'certgate approval list')", args[0])
			case errors.Is(err, store.ErrStale):
				return fmt.Errorf("approval %s was already decided", args[0])
			case errors.Is(err, store.ErrAccountNotValid):
				return fmt.Errorf("approval %s: its account is no longer valid, so it can no longer be approved (the server rejects it)", args[0])
			case errors.Is(err, store.ErrOrderExpired):
				return fmt.Errorf("approval %s: its order expired, so it can no longer be approved (the server rejects it; the client orders again)", args[0])
			case err != nil:
				return err
			}
			verb := "approved"
			if !approve {
				verb = "rejected"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (by %s)\n", verb, args[0], who)
			return nil
		},
	}
	storeFlags(cmd, &so)
	cmd.Flags().StringVar(&comment, "comment", "", "reason recorded with the decision (shown to the client on rejection)")
	cmd.Flags().StringVar(&by, "by", "", "approver name recorded with the decision, as cli:NAME (default: the OS user)")
	return cmd
}
