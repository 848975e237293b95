package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

func newApproval() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approval",
		Short: "List, show and decide certificate requests waiting for approval",
		Long: `Orders of profiles with an approval rule stay "processing" after finalize
until an approver decides here. Approving lets the next poll of the ACME
client (or the server's sweep) issue the certificate; rejecting makes the
order invalid with the comment in its error. Works beside a running server.`,
	}
	cmd.AddCommand(newApprovalList(), newApprovalShow(), newApprovalDecide(true), newApprovalDecide(false))
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
			// The JSON is the admin API's (GET /api/v1/approvals items),
			// each page's attributes and EAB keys read in one statement.
			out := []adminapi.ApprovalItem{}
			var after *store.ApprovalKey
			for {
				page, err := st.ListApprovalsPage(ctx, status, after, 1000)
				if err != nil {
					return err
				}
				items, err := adminapi.ApprovalItems(ctx, st, page)
				if err != nil {
					return err
				}
				out = append(out, items...)
				if len(page) < 1000 {
					break
				}
				last := page[len(page)-1]
				after = &store.ApprovalKey{RequestedAt: last.RequestedAt, ID: last.ID}
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), out)
			}
			var rows [][]string
			for _, a := range out {
				esc := "-"
				if !a.EscalatedAt.IsZero() {
					esc = a.EscalatedAt.Format(time.RFC3339)
				}
				rows = append(rows, []string{a.ID, a.Status, a.Profile, identifierValues(a.Identifiers), a.KeyType,
					a.RequestedAt.Format(time.RFC3339), esc, dash(a.DecidedBy), a.Reason, dash(attributePairs(a.Attributes)), dash(a.EABOwner)})
			}
			// New columns go last: scripts that cut the first ones keep working.
			return writeTable(cmd.OutOrStdout(), []string{"ID", "STATUS", "PROFILE", "IDENTIFIERS", "KEY", "REQUESTED", "ESCALATED", "DECIDED-BY", "REASON",
				"ATTRIBUTES", "EAB-OWNER"}, rows)
		},
	}
	storeFlags(cmd, &so)
	formatFlag(cmd, &format, "table", "json")
	cmd.Flags().StringVar(&status, "status", store.ApprovalPending, "pending, approved, rejected or all")
	return cmd
}

// identifierValues is identifiers' values, comma-separated.
func identifierValues(ids []acme.Identifier) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id.Value
	}
	return strings.Join(names, ",")
}

// attributePairs is attrs as key=value pairs sorted by key,
// comma-separated ("" for none), as `eab list` shows a key's.
func attributePairs(attrs map[string]string) string {
	var av []string
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		av = append(av, k+"="+attrs[k])
	}
	return strings.Join(av, ",")
}

func newApprovalShow() *cobra.Command {
	var so storeOpts
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show what an approval asks for: identifiers, attributes, account and EAB key, validity, key type, history",
		Long: `Show one approval with what its approver decides on: the order's identifiers,
custom attributes, requested validity and expiry, the CSR's key type, the
account (its status and the EAB key and owner it was bound with), the
profile and the rule that asked for approval, and the approval's history
(requested, escalated, decided and by whom). --format json prints the admin
API's answer (GET /api/v1/approvals/{id}).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			d, err := adminapi.ApprovalDetailOf(ctx, st, args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("there is no approval %q (see 'certgate approval list')", args[0])
			}
			if err != nil {
				return err
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), d)
			}
			var idents []string
			for _, id := range d.Identifiers {
				idents = append(idents, id.Type+":"+id.Value)
			}
			eab := "-"
			if d.EABKid != "" {
				eab = d.EABKid
				if d.EABOwner != "" {
					eab += " (owner " + d.EABOwner + ")"
				}
			}
			order := d.Order + " (no longer stored: the server deletes an invalid order once it has expired)"
			if d.OrderExpires != nil {
				order = d.Order + " (expires " + d.OrderExpires.Format(time.RFC3339) + ")"
			}
			validity := "not requested (the profile's validity applies)"
			if d.OrderExpires == nil {
				validity = "- (the order is no longer stored)"
			} else if d.NotBefore != nil || d.NotAfter != nil {
				validity = "notBefore " + timeOrDash(d.NotBefore) + ", notAfter " + timeOrDash(d.NotAfter)
			}
			rows := [][]string{
				{"id", d.ID}, {"status", d.Status}, {"profile", d.Profile}, {"reason", d.Reason},
				{"identifiers", strings.Join(idents, ", ")}, {"attributes", dash(attributePairs(d.Attributes))},
				{"key type", d.KeyType}, {"requested validity", validity},
				{"order", order},
				{"account", d.Account + " (" + d.AccountStatus + ")"}, {"eab key", eab},
			}
			for _, h := range d.History {
				v := h.At.Format(time.RFC3339) + " " + h.Event + " by " + h.Actor
				if h.Comment != "" {
					v += ": " + h.Comment
				}
				rows = append(rows, []string{"history", v})
			}
			return writeTable(cmd.OutOrStdout(), []string{"FIELD", "VALUE"}, rows)
		},
	}
	storeFlags(cmd, &so)
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

// timeOrDash is t in RFC 3339, "-" for nil.
func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
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
			if strings.ContainsFunc(by, unicode.IsControl) || !utf8.ValidString(by) {
				return fmt.Errorf("--by %q: a name without control characters, in UTF-8", by)
			}
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			who := approver(by)
			switch _, err := ra.Decide(ctx, st, audit.New(st, nil), args[0], approve, who, comment, time.Now().UTC()); {
			case errors.Is(err, ra.ErrInvalidComment):
				return fmt.Errorf("--comment: %s", strings.TrimPrefix(err.Error(), ra.ErrInvalidComment.Error()+": "))
			case errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("there is no approval %q (see 'certgate approval list')", args[0])
			case errors.Is(err, store.ErrStale):
				return fmt.Errorf("approval %s was already decided", args[0])
			case errors.Is(err, store.ErrAccountNotValid):
				return fmt.Errorf("approval %s: its account is no longer valid, so it can no longer be approved (the server rejects it)", args[0])
			case errors.Is(err, store.ErrOrderExpired):
				return fmt.Errorf("approval %s: its order expired, so it can no longer be approved (the server rejects it; the client orders again)", args[0])
			case errors.Is(err, store.ErrKeyBlocked):
				return fmt.Errorf("approval %s: its CSR's key was blocked since (a certificate with it was revoked for keyCompromise), so it can no longer be approved (the server rejects it)", args[0])
			case errors.Is(err, store.ErrProfileDeleted):
				return fmt.Errorf("approval %s: its profile was deleted, so it can no longer be approved (the server rejects it)", args[0])
			case errors.Is(err, store.ErrAuthzNotValid):
				return fmt.Errorf("approval %s: an authorization of its order was deactivated, revoked or expired since it was finalized, so it can no longer be approved and no certificate is issued (the server rejects it; the client orders again)", args[0])
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
