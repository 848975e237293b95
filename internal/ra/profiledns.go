package ra

import (
	"context"
	"errors"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/va"
	"github.com/certgate/certgate/internal/va/mpic"
)

// validatorFor returns the Validator for the authorizations of profile
// name (store.Authorization.Profile): the RA's own, or, when the profile
// has its own DNS settings (policy.Validation), one whose lookups use
// them. A profile that no longer exists gets a problem rather than the
// server's resolver: its authorizations cannot be validated any more.
// Profile "" (authorizations older than profiles) uses the RA's own.
func (r *RA) validatorFor(ctx context.Context, name string) (Validator, error) {
	if name == "" {
		return r.va, nil
	}
	p, err := r.profiles.Get(ctx, name)
	if errors.Is(err, policy.ErrUnknown) {
		return nil, acme.NewProblem(acme.Unauthorized, "the authorization's profile %q no longer exists", name)
	}
	if err != nil {
		return nil, r.internal(ctx, "profile lookup", err)
	}
	if p.Validation == nil {
		return r.va, nil
	}
	s := va.DNSSettings{Servers: p.Validation.DNSResolvers, QueryTimeout: time.Duration(p.Validation.DNSTimeout), DNSSEC: p.Validation.DNSSEC}
	switch v := r.va.(type) {
	case *va.VA:
		scoped, err := v.WithDNS(s)
		if err != nil {
			return nil, r.internal(ctx, "profile "+name+" DNS settings", err)
		}
		return scoped, nil
	case *mpic.PrimaryValidator:
		local, ok := v.Validator.(*va.VA)
		if !ok {
			break
		}
		scoped, err := local.WithDNS(s)
		if err != nil {
			return nil, r.internal(ctx, "profile "+name+" DNS settings", err)
		}
		return v.WithValidator(scoped), nil
	}
	// A validator that cannot take other DNS settings (tests' fakes)
	// must not validate with the wrong resolver.
	return nil, r.internal(ctx, "profile "+name+" DNS settings", errors.New("the validator does not support per-profile DNS settings"))
}
