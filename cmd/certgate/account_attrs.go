package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/spf13/cobra"
)

// newAccountSetAttributes is `certgate account set-attributes ID
// key=value...`: the account's own custom attributes, the second source
// of a certificate's attributes (after the EAB key's, before the order's;
// docs/profiles.md).
func newAccountSetAttributes() *cobra.Command {
	var so storeOpts
	var clear bool
	cmd := &cobra.Command{
		Use:   "set-attributes ID [key=value]...",
		Short: "Set an account's custom attributes (replacing them; --clear removes all)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			attrs := map[string]string{}
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("%q: use key=value", kv)
				}
				attrs[k] = v
			}
			if len(attrs) == 0 && !clear {
				return errors.New("give key=value pairs, or --clear to remove every attribute")
			}
			st, err := openStore(ctx, cmd, &so)
			if err != nil {
				return err
			}
			defer st.Close()
			var before map[string]string
			if a, err := st.GetAccount(ctx, args[0]); err == nil {
				before = a.Attributes
			}
			if err := st.SetAccountAttributes(ctx, args[0], attrs); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("there is no account %q", args[0])
				}
				return err
			}
			if err := recordAudit(ctx, st, audit.ActionAccountAttributes, audit.ObjectAccount, args[0],
				map[string]any{"attributes": before}, map[string]any{"attributes": attrs}); err != nil {
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
