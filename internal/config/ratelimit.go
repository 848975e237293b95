package config

import (
	"fmt"
	"net/url"

	"github.com/spf13/pflag"

	"github.com/certgate/certgate/internal/ratelimit"
)

// rateValue is a pflag.Value for a ratelimit.Rate ("300/3h", "0").
type rateValue struct{ p *ratelimit.Rate }

func (v rateValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}
func (v rateValue) Type() string { return "rate" }
func (v rateValue) Set(s string) error {
	r, err := ratelimit.ParseRate(s)
	if err != nil {
		return err
	}
	*v.p = r
	return nil
}

// rateLimitFlags registers the rate limit settings (docs/rate-limits.md)
// on fs, filling rl with the defaults, and returns the check to run after
// parsing.
func rateLimitFlags(fs *pflag.FlagSet, rl *ratelimit.Config) func() error {
	*rl = ratelimit.Defaults()
	fs.Var(rateValue{&rl.NewAccountsPerIP}, "rate-limit-new-accounts-per-ip", "accounts created per client IPv4 address or IPv6 /64, as COUNT/PERIOD (0 = unlimited)")
	fs.Var(rateValue{&rl.NewOrdersPerAccount}, "rate-limit-new-orders-per-account", "orders created per account, as COUNT/PERIOD (0 = unlimited)")
	fs.Var(rateValue{&rl.CertificatesPerDomain}, "rate-limit-certificates-per-domain", "certificates per registered domain (public suffix + 1 label), as COUNT/PERIOD; renewals naming the replaced certificate (ARI) are exempt for the registered domains it names (0 = unlimited)")
	fs.Var(rateValue{&rl.FailedValidationsPerAccount}, "rate-limit-failed-validations-per-account", "challenges ending invalid per account before newOrder is refused, as COUNT/PERIOD (0 = unlimited)")
	fs.IntVar(&rl.PendingAuthorizationsPerAccount, "rate-limit-pending-authorizations-per-account", rl.PendingAuthorizationsPerAccount, "pending authorizations one account may hold (0 = unlimited)")
	fs.StringVar(&rl.PolicyURL, "rate-limit-policy-url", rl.PolicyURL, "rate limit policy document, linked (rel=\"help\") from every rateLimited problem")
	return func() error {
		if rl.PendingAuthorizationsPerAccount < 0 {
			return fmt.Errorf("rate-limit-pending-authorizations-per-account: must not be negative (0 = unlimited)")
		}
		if u, err := url.Parse(rl.PolicyURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("rate-limit-policy-url: %q is not an absolute http(s) URL", rl.PolicyURL)
		}
		return nil
	}
}
