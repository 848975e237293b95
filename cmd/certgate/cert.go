package main

import "github.com/spf13/cobra"

// newCert is the parent of the certificate commands.
func newCert() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Work with the certificates this server issued",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCertSuggestRenewal())
	return cmd
}
