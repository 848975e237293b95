package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// newAccountSetAttributes is `certgate account set-attributes ID
// key=value...`: the account's own custom attributes, the second source
// of a certificate's attributes (after the EAB key's, before the order's;
// docs/profiles.md). Each call replaces all of them. The pairs follow
// policy.ParseAttributeArgs (valid names, non-empty values, no repeats)
// and checkAccountAttributes.
func newAccountSetAttributes() *cobra.Command {
	var so storeOpts
	var clear bool
	cmd := &cobra.Command{
		Use:   "set-attributes ID [key=value]...",
		Short: "Set an account's custom attributes (replacing them; --clear removes all)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			attrs, err := policy.ParseAttributeArgs(args[1:])
			if err != nil {
				return err
			}
			if len(attrs) == 0 && !clear {
				return errors.New("give key=value pairs, or --clear to remove every attribute")
			}
			if len(attrs) > 0 && clear {
				// Which one was meant? The pairs replace every attribute
				// anyway; --clear is for none.
				return errors.New("give key=value pairs (they replace every attribute) or --clear (to remove them all), not both")
			}
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			a, err := st.GetAccount(ctx, args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("there is no account %q (see 'certgate account list')", args[0])
			} else if err != nil {
				return err
			}
			if err := checkAccountAttributes(ctx, st, a, attrs); err != nil {
				return err
			}
			ev, err := prepareAuditReplaced(ctx, st, audit.ActionAccountAttributes, audit.ObjectAccount, args[0],
				audit.ReplacedRow(func(old *store.Account) (any, any) {
					return map[string]any{"attributes": old.Attributes}, map[string]any{"attributes": attrs}
				}))
			if err != nil {
				return err
			}
			if err := st.SetAccountAttributes(ctx, args[0], attrs, ev); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("there is no account %q (see 'certgate account list')", args[0])
				}
				return err
			}
			var kvs []string
			for k, v := range attrs {
				kvs = append(kvs, k+"="+v)
			}
			sort.Strings(kvs)
			fmt.Fprintf(cmd.OutOrStdout(), "account %s attributes: %s\n", args[0], dash(strings.Join(kvs, ",")))
			return nil
		},
	}
	storeFlags(cmd, &so)
	cmd.Flags().BoolVar(&clear, "clear", false, "remove every attribute")
	return cmd
}

// checkAccountAttributes checks attributes about to be set on account a
// against the profiles they will meet, as eab create checks an EAB key's
// (policy.CheckPartialAttributes): for an account bound to an EAB key,
// the key's profile must declare each one with a valid value; for any
// other account, each must be declared, with a value it accepts, by at
// least one stored profile. The error is one line naming the attribute
// and the profile.
func checkAccountAttributes(ctx context.Context, st *store.Store, a *store.Account, attrs map[string]string) error {
	if len(attrs) == 0 {
		return nil
	}
	if a.EABKid != "" {
		k, err := st.GetEABKey(ctx, a.EABKid)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if k != nil && !profileExists(ctx, st, k.Profile) {
			k = nil // the key's profile is gone: check as for an unbound account
		}
		if k != nil {
			p, err := storedProfile(ctx, st, k.Profile)
			if err != nil {
				return fmt.Errorf("the profile of account %s's EAB key %s: %w", a.ID, k.KID, err)
			}
			if err := p.CheckPartialAttributes(attrs); err != nil {
				return fmt.Errorf("%w (account %s is bound to EAB key %s of this profile: declare them in the profile, or leave them out or give a valid value)", err, a.ID, k.KID)
			}
			return nil
		}
	}
	profiles, err := loadProfiles(ctx, st)
	if err != nil {
		return err
	}
	declared := map[string]bool{}
	for _, p := range profiles {
		for _, at := range p.Attributes {
			declared[at.Name] = true
		}
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !declared[k] {
			all := make([]string, 0, len(declared))
			for d := range declared {
				all = append(all, d)
			}
			sort.Strings(all)
			return fmt.Errorf("attribute %s: no profile declares it (declared: %s); declare it in a profile first", k, dash(strings.Join(all, ", ")))
		}
		// Accepted by one profile is enough; else the complaint of every
		// declaring profile, so that the user sees all the values that fit.
		var valueErrs []string
		for _, p := range profiles {
			err := p.CheckPartialAttributes(map[string]string{k: attrs[k]})
			if err == nil {
				valueErrs = nil
				break
			}
			if slices.ContainsFunc(p.Attributes, func(at policy.Attribute) bool { return at.Name == k }) {
				valueErrs = append(valueErrs, err.Error())
			}
		}
		switch len(valueErrs) {
		case 0:
		case 1:
			return errors.New(valueErrs[0])
		default:
			return fmt.Errorf("attribute %s: no profile that declares it accepts %q: %s", k, attrs[k], strings.Join(valueErrs, "; "))
		}
	}
	return nil
}

// profileExists reports whether profile name is stored or is the built-in
// default.
func profileExists(ctx context.Context, st *store.Store, name string) bool {
	_, err := st.GetProfile(ctx, name)
	return err == nil || name == policy.DefaultName
}
