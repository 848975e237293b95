package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"strings"
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
// A profile whose EKUs the CA's chain does not allow (CheckProfileEKUs:
// stored before certgate checked them, or the CA rotated or imported
// since) is logged as an error and never stops the start, the default
// profile's included: the server keeps issuing under its other profiles,
// and ra refuses newOrder only for a profile whose certificates would
// verify for none of their EKUs.
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
		if err := CheckProfileEKUs(ca, p); err != nil {
			// Never a reason to refuse the start, not even for the
			// default profile: a server upgraded with such a profile
			// stored keeps serving the others (and the profile's EKUs
			// the chain allows; ra refuses newOrder for a profile
			// whose certificates would verify for none).
			log.Error("profile's EKUs are not allowed by the built-in CA's chain; its certificates would not verify for them", "profile", p.Name, "err", err)
		}
		if err := LintProfileSample(ca, p, now); err != nil {
			if p.Name == policy.DefaultName {
				return err
			}
			log.Error("profile fails the issuance lint; its certificates cannot be issued", "profile", p.Name, "err", err)
		}
	}
	return nil
}

// EKUChecker tells whether a CA's chain allows leaves with some EKUs:
// *local.CA and local.Chain (an *local.EKUError when not).
type EKUChecker interface {
	// CheckExtKeyUsages returns an *local.EKUError when the chain does
	// not allow every one of ekus in a leaf it signs.
	CheckExtKeyUsages(ekus []x509.ExtKeyUsage) error
}

// CheckProfileEKUs checks that the built-in CA's chain, from its current
// intermediate up (local.CA.CheckExtKeyUsages), allows every EKU of
// profile p, so that its certificates verify for the purposes they name:
// certgate's own intermediates (made at the CA's creation and by `ca
// rotate`) allow serverAuth and clientAuth only (CA/B BR 7.1.2.2), an
// imported one whatever its EKU extension says (none: any). A refusal is
// a *policy.FieldError at "ekus" wrapping the *local.EKUError, one line
// naming the profile, why and what to do.
//
// ca is the *local.CA that signs, or the local.Chain of an intermediate
// not loaded yet (`ca rotate`'s new one).
func CheckProfileEKUs(ca EKUChecker, p *policy.Profile) error {
	ekus := p.ExtKeyUsages()
	if len(ekus) == 0 {
		ekus = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} // Validate's default
	}
	err := ca.CheckExtKeyUsages(ekus)
	var ee *local.EKUError
	if !errors.As(err, &ee) {
		return err
	}
	refused := make([]string, 0, len(ee.Refused()))
	for _, u := range ee.Refused() {
		refused = append(refused, local.EKUName(u))
	}
	fix := fmt.Sprintf("use an issuer whose CA allows %s (an imported CA or an upstream issuer, docs/issuers.md)", strings.Join(refused, ", "))
	if len(refused) < len(ekus) {
		fix += ", or leave " + strings.Join(refused, ", ") + " out of ekus"
	} else {
		// A profile stored before this check (an upgrade): every
		// change to it is refused until its EKUs are, so say how.
		fix += fmt.Sprintf(", or give the profile EKUs the CA allows (certgate profile update %s --eku ...) or remove it (certgate profile delete %s)", p.Name, p.Name)
	}
	return &policy.FieldError{Field: "ekus", Value: p.EKUs, Err: fmt.Errorf("profile %s: %w; %s", p.Name, err, fix)}
}

// sampleSubject fills every subject field a profile may allow, so that the
// lint sees the fullest subject the profile can issue.
func sampleSubject() pkix.Name {
	return pkix.Name{Organization: []string{"Example Corp"}, OrganizationalUnit: []string{"Platform"}, Country: []string{"DE"},
		Province: []string{"Berlin"}, Locality: []string{"Berlin"}}
}

// LintProfile checks the profile p of the built-in CA before it is
// stored: its EKUs against the CA's chain (CheckProfileEKUs), then the
// lint of its sample certificates (LintProfileSample).
func LintProfile(ca *local.CA, p *policy.Profile, now time.Time) error {
	if err := CheckProfileEKUs(ca, p); err != nil {
		return err
	}
	return LintProfileSample(ca, p, now)
}

// LintProfileSample lints the certificate the built-in CA would issue under p
// for a sample name, for both its default and its maximum validity. Lint
// failures are a *policy.FieldError at the field ("validity" or
// "maxValidity") wrapping a *LintSettingError naming the profile and the
// field.
func LintProfileSample(ca *local.CA, p *policy.Profile, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("preflight key: %w", err)
	}
	keys := []crypto.PublicKey{key.Public()}
	if p.AllowsRSA() {
		// An RSA certificate differs in its key usage (keyEncipherment
		// where the EKUs allow it), so it is linted too.
		rsaKey, err := samplePublicKey(sampleRSA2048)
		if err != nil {
			return fmt.Errorf("preflight RSA key: %w", err)
		}
		keys = append(keys, rsaKey)
	}
	nb := now.Add(-time.Minute)
	validity, maxValidity := p.ValidityAt(nb)
	for _, pub := range keys {
		for i, v := range []time.Duration{validity, maxValidity} {
			serial, err := local.RandomSerial()
			if err != nil {
				return fmt.Errorf("preflight serial: %w", err)
			}
			err = ca.CheckLeaf(local.LeafRequest{Serial: serial, PublicKey: pub, DNSNames: []string{"preflight.certgate.test"},
				NotBefore: nb, NotAfter: nb.Add(v - time.Second), ExtKeyUsages: p.ExtKeyUsages(), Subject: p.Subject(sampleSubject())})
			if err != nil {
				setting := []string{"validity", "maxValidity"}[i]
				return &policy.FieldError{Field: setting, Value: config.FormatDuration(v), Err: lintSettingError(p.Name, setting, v, err)}
			}
		}
	}
	return nil
}

// sampleRSA2048 is the public half of an RSA-2048 key made once for
// LintProfile's sample certificates: the lint needs a key of the type,
// never its private half, and making one at every profile check would
// cost ~0.1 s.
const sampleRSA2048 = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsYuZ2vvT29ZRcx4iddSi
SoWZg1LFwu+B3BDgQAbIplK/NIgmzuK6MueeG93RcYRn5v3Qy/nEHP3HoV5Q0JJH
vxBYk/uaXKJATsDPeIs7nCV4NMGL/ZTVmWerdZhJ0c/dEydLCf1TS6FfCrqc6aEn
aOrlT3dfNwVnT8Ry0n8CFzaRXliRij9OsDMzc8+lZpTz4xas9aR1ceb/nVKus6qP
u7jriEyhaKKY6oK/G09pVyCIXvEXX+Xea7kgFcT4NJ8t/JTf+/FoVcCz76eMq3bk
aEYCcvFgBIIvie4OSFbazEaD02yE6zz/qOlE7hzebvydx+ffQVOQKEDVDdzuUfYh
EwIDAQAB
-----END PUBLIC KEY-----
`

// samplePublicKey parses a PEM "PUBLIC KEY" block (PKIX, RFC 5280 §4.1.2.7).
func samplePublicKey(pemText string) (crypto.PublicKey, error) {
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParsePKIXPublicKey(b.Bytes)
}
