package wfe_test

// lego v5 as a library and the ACME profiles extension
// (draft-ietf-acme-profiles): lego reads meta.profiles, sends "profile" in
// newOrder (certificate.ObtainRequest.Profile, the library form of
// `lego --profile`), and receives invalidProfile for an unknown one. Debian's
// lego 4.9.1 binary predates profiles, so test/e2e cannot cover this.

import (
	"crypto/x509"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"

	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/testenv"
)

// legoObtainLeaf obtains a certificate for names in profile and returns its leaf.
// dirURL is the directory lego starts from.
func legoObtainLeaf(t *testing.T, env *testenv.Env, dirURL, profile string, names ...string) (*x509.Certificate, error) {
	t.Helper()
	client := newLegoClientAt(t, env, dirURL)
	res, err := client.Certificate.Obtain(t.Context(), certificate.ObtainRequest{Domains: names, KeyType: certcrypto.EC256, Bundle: true, Profile: profile})
	if err != nil {
		return nil, err
	}
	certs, err := certcrypto.ParsePEMBundle(res.Certificate)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0], nil
}

func TestLegoLibraryProfiles(t *testing.T) {
	env := newProfileEnv(t)
	putProfile(t, env, policy.Profile{Name: "mtls-clients", Description: "internal mTLS clients",
		Validity: policy.Duration(160 * time.Hour), EKUs: []string{"clientAuth"}})
	putProfile(t, env, policy.Profile{Name: "short-web", Description: "short-lived web servers",
		Validity: policy.Duration(48 * time.Hour), EKUs: []string{"serverAuth"}})

	client := newLegoClient(t, env)
	meta := client.GetServerMetadata()
	if meta.Profiles["mtls-clients"] != "internal mTLS clients" || meta.Profiles["short-web"] != "short-lived web servers" {
		t.Fatalf("lego sees meta.profiles %v", meta.Profiles)
	}

	check := func(t *testing.T, leaf *x509.Certificate, eku x509.ExtKeyUsage, validity time.Duration) {
		t.Helper()
		if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{eku}) {
			t.Errorf("EKUs %v, want [%v]", leaf.ExtKeyUsage, eku)
		}
		// notAfter is inclusive (RFC 5280 §4.1.2.5): the lifetime is validity+1s at most.
		if got := leaf.NotAfter.Sub(leaf.NotBefore); got > validity+time.Second || got < validity-2*time.Minute {
			t.Errorf("validity %s, want %s", got, validity)
		}
	}

	// The default directory with "profile" in newOrder.
	t.Run("default directory", func(t *testing.T) {
		leaf, err := legoObtainLeaf(t, env, env.DirectoryURL, "mtls-clients", "client1.example.test")
		if err != nil {
			t.Fatalf("obtain mtls-clients: %v", err)
		}
		check(t, leaf, x509.ExtKeyUsageClientAuth, 160*time.Hour)
		leaf, err = legoObtainLeaf(t, env, env.DirectoryURL, "short-web", "www.example.test")
		if err != nil {
			t.Fatalf("obtain short-web: %v", err)
		}
		check(t, leaf, x509.ExtKeyUsageServerAuth, 48*time.Hour)
	})

	t.Run("unknown profile", func(t *testing.T) {
		_, err := legoObtainLeaf(t, env, env.DirectoryURL, "no-such-profile", "x.example.test")
		var p *acme.ProblemDetails
		if !errors.As(err, &p) || p.Type != acme.InvalidProfileErrorType {
			t.Fatalf("obtain with an unknown profile: %v, want %s", err, acme.InvalidProfileErrorType)
		}
	})

	// lego pointed at the profile's own directory, no "profile" sent.
	t.Run("profile directory", func(t *testing.T) {
		dir := env.BaseURL + "/acme/short-web/directory"
		leaf, err := legoObtainLeaf(t, env, dir, "", "api.example.test")
		if err != nil {
			t.Fatalf("obtain via /acme/short-web/directory: %v", err)
		}
		check(t, leaf, x509.ExtKeyUsageServerAuth, 48*time.Hour)
		// The same profile named in newOrder too is accepted.
		leaf, err = legoObtainLeaf(t, env, dir, "short-web", "api2.example.test")
		if err != nil {
			t.Fatalf("obtain via the profile directory naming its profile: %v", err)
		}
		check(t, leaf, x509.ExtKeyUsageServerAuth, 48*time.Hour)
		// Another profile named in the short-web directory is refused.
		_, err = legoObtainLeaf(t, env, dir, "mtls-clients", "c2.example.test")
		var p *acme.ProblemDetails
		if !errors.As(err, &p) || p.Type != acme.InvalidProfileErrorType {
			t.Fatalf("other profile via the short-web directory: %v, want %s", err, acme.InvalidProfileErrorType)
		}
	})
}
