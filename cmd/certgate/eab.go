package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/adminapi"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

func newEAB() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eab",
		Short: "Manage External Account Binding keys (RFC 8555 §7.3.4)",
		Long: `An EAB key (key id + HMAC key) is handed to an ACME client out of band
(lego --eab --kid --hmac, certbot --eab-kid --eab-hmac-key). The account the
client creates with it is bound to the key's profile, owner, default custom
attributes and optional allowlist. Profiles with requireEAB only serve such
accounts.`,
	}
	cmd.AddCommand(newEABCreate(), newEABList(), newEABRevoke())
	return cmd
}

func newEABCreate() *cobra.Command {
	var so storeOpts
	var format outputFormat
	var profile, owner, expires, hostname, listen string
	var attrs, allow []string
	var singleUse bool
	cmd := &cobra.Command{
		Use:   "create --profile NAME",
		Short: "Create an EAB key and print its key id and base64url HMAC key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			base, err := serverURL(hostname, listen)
			if err != nil {
				return err
			}
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			p, err := storedProfile(ctx, st, profile)
			if err != nil {
				return err
			}
			am, err := policy.ParseAttributeArgs(attrs)
			if err != nil {
				return fmt.Errorf("--attr %w", err)
			}
			var ttl time.Duration
			if expires != "" {
				if ttl, err = parseExpires(expires); err != nil {
					return err
				}
			}
			k, err := ra.NewEABKey(p, ra.EABKeyRequest{Owner: owner, Attributes: am, Allow: allow, Expires: ttl, SingleUse: singleUse}, time.Now().UTC())
			if err != nil {
				return err
			}
			ev, err := prepareAudit(ctx, st, audit.ActionEABKeyCreate, audit.ObjectEABKey, k.KID, nil, eabViewOf(k))
			if err != nil {
				return err
			}
			if err := st.CreateEABKey(ctx, k, ev); err != nil {
				return err
			}
			hmacKey := base64.RawURLEncoding.EncodeToString(k.HMACKey)
			dir := adminapi.EABDirectory(base, k.Profile)
			v := adminapi.EABKeyOf(k, time.Now())
			if format == "json" {
				// The admin API's answer (POST /api/v1/eab-keys).
				return printJSON(cmd.OutOrStdout(), adminapi.CreatedEABKey{HMAC: hmacKey, EABKeyView: v, Directory: dir})
			}
			// What was created, as `eab list` shows it ("-": unset, with
			// what that means).
			exp := "- (never)"
			if v.Expires != nil {
				exp = v.Expires.Format(time.RFC3339)
			}
			allowed := "- (the profile's rules)"
			if len(v.Allow) > 0 {
				allowed = strings.Join(v.Allow, ",")
			}
			// kid and hmac stay the first lines and the profile's
			// directory the last, as before these were added.
			fmt.Fprintf(cmd.OutOrStdout(), "kid: %s\nhmac: %s\nowner: %s\nattributes: %s\nallow: %s\nsingle-use: %t\nexpires: %s\nprofile: %s (directory %s)\n",
				v.KID, hmacKey, dash(v.Owner), dash(attributePairs(v.Attributes)), allowed, v.SingleUse, exp, v.Profile, dir)
			return nil
		},
	}
	storeFlags(cmd, &so)
	formatFlag(cmd, &format, "table", "json")
	fl := cmd.Flags()
	fl.StringVar(&profile, "profile", policy.DefaultName, "profile the key is for")
	fl.StringVar(&owner, "owner", "", "team or person the bound accounts belong to")
	fl.StringArrayVar(&attrs, "attr", nil, "default custom attribute key=value of the bound accounts' certificates (repeatable)")
	fl.StringArrayVar(&allow, "allow", nil, "names the bound accounts may order: exact, *.suffix, /regexp/, IP or CIDR (repeatable; default: the profile's)")
	fl.StringVar(&expires, "expires", "", "the key can bind accounts for this long, e.g. 30d (default: forever); refused when it would end after 2262-04-11T23:47:16Z, the latest expiry certgate stores")
	fl.BoolVar(&singleUse, "single-use", false, "the key binds one account only")
	fl.StringVar(&hostname, "hostname", "", "the server's --hostname, for the directory URL printed (default: localhost when --listen is set; neither set: the directory's path only)")
	fl.StringVar(&listen, "listen", "", "the server's --listen address, whose port the printed directory URL has (default: :8443 when --hostname is set)")
	return cmd
}

// serverURL is the URL clients reach the server at (adminapi.ACMEBaseURL)
// from serve's hostname and listen settings as an administrative command
// has them (flags, CERTGATE_HOSTNAME and CERTGATE_LISTEN, the --config
// file), the one unset taking serve's default (localhost, :8443); "" when
// neither is set: the command does not know the server's URL then.
func serverURL(hostname, listen string) (string, error) {
	if hostname == "" && listen == "" {
		return "", nil
	}
	if hostname == "" {
		hostname = "localhost"
	} else if err := config.CheckHostname(hostname); err != nil {
		return "", fmt.Errorf("--%w", err)
	}
	hostname = config.NormalizeHostname(hostname)
	if listen == "" {
		listen = ":8443"
	}
	_, port, err := net.SplitHostPort(listen)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("--listen %q: not the server's HOST:PORT (e.g. :8443)", listen)
	}
	return adminapi.ACMEBaseURL(hostname, port), nil
}

func newEABList() *cobra.Command {
	var so storeOpts
	var format outputFormat
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List EAB keys (without their HMAC keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			keys, err := st.ListEABKeys(ctx)
			if err != nil {
				return err
			}
			// The JSON is the admin API's (GET /api/v1/eab-keys items).
			out := []adminapi.EABKeyView{}
			var rows [][]string
			now := time.Now()
			for _, k := range keys {
				r := adminapi.EABKeyOf(k, now)
				exp := "-"
				if r.Expires != nil {
					exp = r.Expires.Format(time.RFC3339)
				}
				out = append(out, r)
				rows = append(rows, []string{k.KID, k.Profile, dash(k.Owner), r.Status, fmt.Sprint(k.SingleUse), exp, dash(k.AccountID),
					dash(attributePairs(k.Attributes)), dash(strings.Join(k.Allow, ","))})
			}
			if format == "json" {
				return printJSON(cmd.OutOrStdout(), out)
			}
			return writeTable(cmd.OutOrStdout(), []string{"KID", "PROFILE", "OWNER", "STATUS", "SINGLE-USE", "EXPIRES", "LAST-ACCOUNT", "ATTRIBUTES", "ALLOW"}, rows)
		},
	}
	storeFlags(cmd, &so)
	formatFlag(cmd, &format, "table", "json")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newEABRevoke() *cobra.Command {
	var so storeOpts
	cmd := &cobra.Command{
		Use:   "revoke KID",
		Short: "Stop an EAB key from binding new accounts (accounts already bound keep working)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			ev, err := prepareAuditReplaced(ctx, st, audit.ActionEABKeyRevoke, audit.ObjectEABKey, args[0],
				audit.ReplacedRow(func(old *store.EABKey) (any, any) {
					after := *old
					after.Status = store.EABRevoked
					return eabViewOf(old), eabViewOf(&after)
				}))
			if err != nil {
				return err
			}
			switch _, err := st.RevokeEABKey(ctx, args[0], ev); {
			case errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("there is no EAB key %q (see 'certgate eab list')", args[0])
			case errors.Is(err, store.ErrStale):
				return fmt.Errorf("EAB key %s is already revoked", args[0])
			case err != nil:
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked EAB key %s\n", args[0])
			return nil
		},
	}
	storeFlags(cmd, &so)
	return cmd
}

// storedProfile returns the stored profile name, or the built-in default
// profile when name is policy.DefaultName and not stored. Errors: no such
// profile (one line), a stored profile that does not parse, store errors.
func storedProfile(ctx context.Context, st *store.Store, name string) (*policy.Profile, error) {
	rec, err := st.GetProfile(ctx, name)
	switch {
	case err == nil:
		return policy.Parse(rec.Spec)
	case errors.Is(err, store.ErrNotFound) && name == policy.DefaultName:
		d := ra.DefaultProfile(config.DefaultCertValidity, 0, false, true)
		if err := d.Validate(); err != nil {
			return nil, err
		}
		return &d, nil
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("there is no profile %q (see 'certgate profile list')", name)
	default:
		return nil, err
	}
}
