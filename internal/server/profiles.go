package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
)

// preflightProfiles lints, like preflight, a sample certificate of every
// profile (validity, maximum validity and EKUs) without using the CA key.
// The default profile failing stops the start; a stored profile failing
// is logged as an error (its orders will fail at finalize) so that one
// bad profile does not take every other one down.
//
// A stored profile whose DNS settings the server cannot apply (DNSSEC
// without any resolver: policy.Profile.CheckDNSSEC with vaResolver, the
// server's va-dns-resolver) is logged as an error too: its validations
// would all fail.
//
// A stored profile naming an issuer the server does not have (issuers,
// from its issuers-file) is logged as an error too: its orders fail at
// finalize. One naming another issuer than the built-in CA is not linted
// with it.
func preflightProfiles(ctx context.Context, ca *local.CA, reg *policy.Registry, issuers []string, now time.Time, vaResolver string, log *slog.Logger) error {
	ps, err := reg.List(ctx)
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	for _, p := range ps {
		if err := p.CheckDNSSEC(vaResolver); err != nil {
			log.Error("profile's DNS settings cannot be applied; its authorizations cannot be validated", "profile", p.Name, "err", err)
		}
		if err := p.CheckIssuer(issuers); err != nil {
			log.Error("profile names an issuer this server does not have; its certificates cannot be issued", "profile", p.Name, "err", err)
			continue
		}
		if p.Issuer != issuer.LocalName {
			continue
		}
		if err := LintProfile(ca, p, now); err != nil {
			if p.Name == policy.DefaultName {
				return err
			}
			log.Error("profile fails the issuance lint; its certificates cannot be issued", "profile", p.Name, "err", err)
		}
	}
	return nil
}

// sampleSubject fills every subject field a profile may allow, so that the
// lint sees the fullest subject the profile can issue.
func sampleSubject() pkix.Name {
	return pkix.Name{Organization: []string{"Example Corp"}, OrganizationalUnit: []string{"Platform"}, Country: []string{"DE"},
		Province: []string{"Berlin"}, Locality: []string{"Berlin"}}
}

// LintProfile lints the certificate the built-in CA would issue under p
// for a sample name, for both its default and its maximum validity. Lint
// failures are a *policy.FieldError at the field ("validity" or
// "maxValidity") wrapping a *LintSettingError naming the profile and the
// field.
func LintProfile(ca *local.CA, p *policy.Profile, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("preflight key: %w", err)
	}
	nb := now.Add(-time.Minute)
	validity, maxValidity := p.ValidityAt(nb)
	for i, v := range []time.Duration{validity, maxValidity} {
		serial, err := local.RandomSerial()
		if err != nil {
			return fmt.Errorf("preflight serial: %w", err)
		}
		err = ca.CheckLeaf(local.LeafRequest{Serial: serial, PublicKey: key.Public(), DNSNames: []string{"preflight.certgate.test"},
			NotBefore: nb, NotAfter: nb.Add(v - time.Second), ExtKeyUsages: p.ExtKeyUsages(), Subject: p.Subject(sampleSubject())})
		if err != nil {
			setting := []string{"validity", "maxValidity"}[i]
			return &policy.FieldError{Field: setting, Value: config.FormatDuration(v), Err: lintSettingError(p.Name, setting, v, err)}
		}
	}
	return nil
}
