package config

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/certgate/certgate/internal/va/mpic"
)

// Roles a `certgate serve` process can run.
const (
	RoleAll = "all" // ACME server with every role (the default)
	RoleVA  = "va"  // a remote validation perspective only (needs --perspective)
)

// Perspectives are the multi-perspective validation settings
// (internal/va/mpic, docs/validation.md#multi-perspective-validation).
type Perspectives struct {
	Roles string // RoleAll or RoleVA
	// Name is this process's perspective name (with Roles = RoleVA).
	Name string
	// RemoteNames and RemoteURLs are the primary's remote perspectives
	// (--perspectives name=https://host:port,...), in order.
	RemoteNames, RemoteURLs []string
	// SecretFile holds the HMAC secret shared by the primary and its
	// perspectives; required when either side is configured.
	SecretFile  string
	Unreachable string        // mpic.UnreachableFail or mpic.UnreachableIgnore
	MaxDisagree int           // -1: the CA/B BR table
	Timeout     time.Duration // one request to a remote perspective
}

func perspectiveFlags(fs *pflag.FlagSet, p *Perspectives) func() error {
	var remotes string
	fs.StringVar(&p.Roles, "roles", RoleAll, "what this process runs: all (the ACME server) or va (a remote validation perspective; needs --perspective and --perspective-secret-file)")
	fs.StringVar(&p.Name, "perspective", "", "with --roles va: this perspective's name, as the primary's --perspectives calls it")
	fs.StringVar(&remotes, "perspectives", "", "remote validation perspectives that corroborate every validation, as NAME=https://HOST:PORT,... (CA/B BR 3.2.2.9); empty validates from this node only")
	fs.StringVar(&p.SecretFile, "perspective-secret-file", "", "file holding the secret (at least 32 bytes, e.g. openssl rand -hex 32) shared by the primary and its perspectives to authenticate requests and answers (HMAC-SHA256)")
	fs.StringVar(&p.Unreachable, "perspective-unreachable", mpic.UnreachableFail, "a remote perspective that does not answer: fail (counts as disagreeing) or ignore (left out of the quorum; at least one must answer)")
	fs.IntVar(&p.MaxDisagree, "perspective-max-disagree", -1, "remote perspectives that may disagree with the primary; -1 uses the CA/B BR 3.2.2.9 table (1 of 2-5, 2 of 6 or more, 0 of 1)")
	fs.Var(newDuration(&p.Timeout, 20*time.Second), "perspective-timeout", "how long the primary waits for a remote perspective's answer")
	return func() error {
		var err error
		if p.RemoteNames, p.RemoteURLs, err = mpic.ParseRemotes(remotes); err != nil {
			return fmt.Errorf("perspectives: %w", err)
		}
		switch p.Roles {
		case RoleAll:
			if p.Name != "" {
				return fmt.Errorf("perspective: only with --roles va")
			}
		case RoleVA:
			if !mpic.ValidName(p.Name) {
				return fmt.Errorf("perspective: --roles va needs --perspective NAME (letters, digits, - and _; not %q)", mpic.PrimaryName)
			}
			if len(p.RemoteNames) > 0 {
				return fmt.Errorf("perspectives: a perspective (--roles va) has no perspectives of its own")
			}
		default:
			return fmt.Errorf("roles: %q is not all or va", p.Roles)
		}
		if (p.Roles == RoleVA || len(p.RemoteNames) > 0) && p.SecretFile == "" {
			return fmt.Errorf("perspective-secret-file: required with --roles va and with --perspectives")
		}
		if p.Roles == RoleAll && len(p.RemoteNames) == 0 && p.SecretFile != "" {
			// Read by nothing: a mistake the day perspectives are set
			// would surface then (as sso-* without sso-issuer).
			return fmt.Errorf("perspective-secret-file: given, but neither perspectives nor --roles va is set: set perspectives to use remote perspectives, or remove it")
		}
		if p.Unreachable != mpic.UnreachableFail && p.Unreachable != mpic.UnreachableIgnore {
			return fmt.Errorf("perspective-unreachable: %q is not fail or ignore", p.Unreachable)
		}
		if p.MaxDisagree < -1 {
			return fmt.Errorf("perspective-max-disagree: must be -1 (CA/B table) or at least 0")
		}
		if p.Timeout <= 0 {
			return fmt.Errorf("perspective-timeout: must be positive")
		}
		return nil
	}
}
