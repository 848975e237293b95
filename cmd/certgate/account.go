package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// newAccount is `certgate account`: the ACME accounts of the server.
func newAccount() *cobra.Command {
	c := &cobra.Command{Use: "account", Short: "List, show and deactivate ACME accounts"}
	c.AddCommand(newAccountList(), newAccountShow(), newAccountDeactivate())
	c.AddCommand(newAccountSetAttributes())
	return c
}

// accountView is an account as `account list|show --format json` prints
// it: the admin API's view (GET /api/v1/accounts/{id}) and, for show, the
// number of certificates.
type accountView struct {
	adminapi.Account
	Certificates *int `json:"certificates,omitempty"`
}

// eabCell is the EAB key that bound an account, with its owner: "kid
// (owner)", "kid", or "" for none.
func eabCell(a adminapi.Account) string {
	if a.EABOwner == "" {
		return a.EABKid
	}
	return a.EABKid + " (" + a.EABOwner + ")"
}

// attributesCell is a sorted "k=v k=v" list of custom attributes.
func attributesCell(attrs map[string]string) string {
	parts := make([]string, 0, len(attrs))
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		parts = append(parts, k+"="+attrs[k])
	}
	return strings.Join(parts, " ")
}

func newAccountList() *cobra.Command {
	var o storeOpts
	var format outputFormat
	var limit int
	var cursor string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List accounts by ID, a page at a time",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLimit(limit); err != nil {
				return err
			}
			if !isIDCursor(cursor) {
				return fmt.Errorf("--cursor %q: not an account ID (give the ID that the previous page named)", cursor)
			}
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &o)
			if err != nil {
				return err
			}
			defer st.Close()
			accts, err := st.ListAccounts(ctx, cursor, limit+1)
			if err != nil {
				return err
			}
			next := ""
			if len(accts) > limit {
				accts = accts[:limit]
				next = accts[limit-1].ID
			}
			views, err := adminapi.AccountViews(ctx, st, accts)
			if err != nil {
				return err
			}
			if format == "json" {
				// GET /api/v1/accounts's page: next_cursor "" on the last.
				return printJSON(cmd.OutOrStdout(), struct {
					Items []adminapi.Account `json:"items"`
					adminapi.NextPage
				}{views, adminapi.NextPage{NextCursor: next}})
			}
			rows := make([][]string, len(views))
			for i, a := range views {
				rows[i] = []string{a.ID, a.Status, a.CreatedAt.Format(time.RFC3339), eabCell(a), attributesCell(a.Attributes), strings.Join(a.Contact, " ")}
			}
			if err := writeRows(cmd.OutOrStdout(), format, []string{"ID", "STATUS", "CREATED", "EAB KEY", "ATTRIBUTES", "CONTACT"}, rows); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more accounts: add --cursor %s\n", next)
			}
			return nil
		},
	}
	storeFlags(cmd, &o)
	formatFlag(cmd, &format, "table", "csv", "json")
	cmd.Flags().IntVar(&limit, "limit", 100, "page size, 1 to 1000")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue after this account ID")
	return cmd
}

// getAccount looks up account id, with a one-line error when it is missing.
func getAccount(ctx context.Context, st *store.Store, id string) (*store.Account, error) {
	a, err := st.GetAccount(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("there is no account %q (see 'certgate account list')", id)
	}
	return a, err
}

func newAccountShow() *cobra.Command {
	var o storeOpts
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one account and how many certificates it holds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &o)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := getAccount(ctx, st, args[0])
			if err != nil {
				return err
			}
			n, err := st.CountAccountCertificates(ctx, a.ID)
			if err != nil {
				return err
			}
			views, err := adminapi.AccountViews(ctx, st, []*store.Account{a})
			if err != nil {
				return err
			}
			v := accountView{Account: views[0], Certificates: &n}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), v)
			}
			rows := [][]string{
				{"id", v.ID}, {"status", v.Status}, {"contact", strings.Join(v.Contact, ", ")},
				{"terms agreed", strconv.FormatBool(v.TOSAgreed)}, {"created", v.CreatedAt.Format(time.RFC3339)},
				{"key thumbprint", v.KeyThumbprint}, {"eab key", v.EABKid}, {"eab owner", v.EABOwner}, {"certificates", strconv.Itoa(n)},
			}
			for _, k := range slices.Sorted(maps.Keys(v.Attributes)) {
				rows = append(rows, []string{"attribute " + k, v.Attributes[k]})
			}
			return writeTable(cmd.OutOrStdout(), []string{"FIELD", "VALUE"}, rows)
		},
	}
	storeFlags(cmd, &o)
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

func newAccountDeactivate() *cobra.Command {
	var o storeOpts
	cmd := &cobra.Command{
		Use:   "deactivate ID",
		Short: "Deactivate an account (RFC 8555 §7.3.6): it can no longer order or revoke",
		Long: `Deactivate an ACME account, as the account holder can (RFC 8555 §7.3.6). The
server then refuses the account's requests with an unauthorized problem
(within 5 seconds: a running server trusts an account it looked up for that
long). Its pending operations are cancelled with it: its pending
authorizations become deactivated and its pending and ready orders invalid.
Its certificates stay valid; revoke them with "certgate cert revoke" if
needed. Deactivation is final.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &o)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := getAccount(ctx, st, args[0])
			if err != nil {
				return err
			}
			if a.Status != acme.StatusValid {
				return fmt.Errorf("account %s is %s already", a.ID, a.Status)
			}
			// Only the status changes (DeactivateAccount): a contact
			// updated meanwhile over ACME is kept, and recorded. The
			// event records the account as the admin API's deactivation
			// does (adminapi.AccountView), with its EAB key's owner.
			views, err := adminapi.AccountViews(ctx, st, []*store.Account{a})
			if err != nil {
				return err
			}
			owner := views[0].EABOwner
			ev, err := prepareAuditReplaced(ctx, st, audit.ActionAccountDeactivate, audit.ObjectAccount, a.ID,
				audit.ReplacedRow(func(old *store.Account) (any, any) {
					after := *old
					after.Status = acme.StatusDeactivated
					return adminapi.AccountView(old, owner), adminapi.AccountView(&after, owner)
				}))
			if err != nil {
				return err
			}
			if err := st.DeactivateAccount(ctx, a.ID, ev); err != nil {
				if errors.Is(err, store.ErrStale) {
					return fmt.Errorf("account %s changed meanwhile; it is no longer valid", a.ID)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deactivated account %s\n", a.ID)
			return nil
		},
	}
	storeFlags(cmd, &o)
	return cmd
}

// isIDCursor reports whether c can be an account ID, as the admin API's
// account cursor: at most 64 base64url characters ("" is the start).
func isIDCursor(c string) bool {
	if len(c) > 64 {
		return false
	}
	for _, r := range c {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
