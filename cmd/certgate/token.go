package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// newToken is `certgate token`: admin API tokens (docs/api.md).
func newToken() *cobra.Command {
	c := &cobra.Command{Use: "token", Short: "Create, list and revoke admin API tokens"}
	c.AddCommand(newTokenCreate(), newTokenList(), newTokenRevoke())
	return c
}

// cliActor is the audit actor of an administrative command: "cli:" and
// the OS user running it ($USER when the user database does not name it,
// "cli:unknown" when neither does).
func cliActor() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	return audit.CLIActor(name)
}

func newTokenCreate() *cobra.Command {
	var so storeOpts
	var name, role, expires string
	cmd := &cobra.Command{
		Use:   "create --role ROLE --name NAME [--expires 90d]",
		Short: "Create an API token and print it (once: only its hash is stored)",
		Long: `Create an admin API token with a role (admin, approver, operator or auditor;
see docs/api.md for what each may do) and print it on stdout. The token is
shown this once: the database keeps only its SHA-256 hash. Send it as
"Authorization: Bearer TOKEN". The name must be unique among unrevoked tokens.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return err
			}
			var ttl time.Duration
			if expires != "" {
				if ttl, err = parseExpires(expires); err != nil {
					return err
				}
			}
			st, err := openStore(cmd.Context(), cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			toks := auth.NewTokens(st, audit.New(st, nil), nil)
			tok, rec, err := toks.Create(cmd.Context(), auth.CreateRequest{Name: name, Role: r, TTL: ttl, Actor: cliActor()})
			if errors.Is(err, auth.ErrNameTaken) {
				return fmt.Errorf("an unrevoked token is already named %q: choose another --name, or revoke it first", name)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			exp := "never expires"
			if !rec.ExpiresAt.IsZero() {
				exp = "expires " + rec.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s (id %s, role %s, %s): store it now, it cannot be shown again\n", rec.Name, rec.ID, rec.Role, exp)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "token name (letters, digits, - _ . @)")
	cmd.Flags().StringVar(&role, "role", "", "role: admin, approver, operator or auditor")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime, e.g. 90d (default: never expires); refused when it would end after 2262-04-11T23:47:16Z, the latest expiry certgate stores")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("role")
	storeFlags(cmd, &so)
	return cmd
}

func newTokenList() *cobra.Command {
	var so storeOpts
	var format outputFormat
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List API tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			recs, err := st.ListAPITokens(cmd.Context(), all)
			if err != nil {
				return err
			}
			return printTokens(cmd, format, recs)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include revoked tokens")
	formatFlag(cmd, &format, "table", "json", "csv")
	storeFlags(cmd, &so)
	return cmd
}

func printTokens(cmd *cobra.Command, format outputFormat, recs []*store.APIToken) error {
	now := time.Now()
	views := make([]auth.TokenView, 0, len(recs))
	for _, r := range recs {
		views = append(views, auth.View(r, now))
	}
	if format == "json" {
		return printJSON(cmd.OutOrStdout(), views)
	}
	header := []string{"ID", "NAME", "ROLE", "STATUS", "CREATED", "EXPIRES", "CREATED BY"}
	rows := make([][]string, 0, len(views))
	for _, v := range views {
		exp := "never"
		if v.ExpiresAt != nil {
			exp = v.ExpiresAt.Format(time.RFC3339)
		}
		rows = append(rows, []string{v.ID, v.Name, v.Role, v.Status, v.CreatedAt.Format(time.RFC3339), exp, v.CreatedBy})
	}
	return writeRows(cmd.OutOrStdout(), format, header, rows)
}

func newTokenRevoke() *cobra.Command {
	var so storeOpts
	cmd := &cobra.Command{
		Use:   "revoke NAME|ID|TOKEN",
		Short: "Revoke an API token; requests with it fail with 401 from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openStore(cmd.Context(), cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			toks := auth.NewTokens(st, audit.New(st, nil), nil)
			rec, err := toks.Revoke(cmd.Context(), args[0], cliActor())
			ref := auth.RedactToken(args[0]) // never the secret of a pasted token
			switch {
			case errors.Is(err, auth.ErrNoToken) && ref != args[0]:
				return fmt.Errorf("there is no token with the ID of %s (see 'certgate token list --all')", ref)
			case errors.Is(err, auth.ErrNoToken):
				return fmt.Errorf("there is no token with ID %q, nor an unrevoked one named so (see 'certgate token list --all')", ref)
			case errors.Is(err, auth.ErrRevoked):
				return fmt.Errorf("token %q is already revoked", ref)
			case err != nil:
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s (id %s)\n", rec.Name, rec.ID)
			return nil
		},
	}
	storeFlags(cmd, &so)
	return cmd
}

// parseExpires is the lifetime given by --expires of `token create` and
// `eab create`, with the same one-line refusals for both: a malformed
// duration (config.ParseDuration's message), one that is not positive,
// and one that would end after the latest expiry stored.
func parseExpires(s string) (time.Duration, error) {
	d, err := config.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("--expires: %w", err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("--expires: invalid duration %q (use a positive one, e.g. 90d, 2w, 36h, 1d12h)", s)
	}
	if err := store.CheckLifetime(time.Now(), d); err != nil {
		return 0, fmt.Errorf("--expires: %w", err)
	}
	return d, nil
}
