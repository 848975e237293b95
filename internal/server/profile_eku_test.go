package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testca"
)

// importedCA imports (`certgate ca import`) a CA whose intermediate has the
// EKUs ekus (none: no EKU extension) and loads it, linting before it signs.
func importedCA(t *testing.T, ekus []x509.ExtKeyUsage) *local.CA {
	t.Helper()
	rootKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ca")
	if _, err := local.Import(dir, testca.BundleEKUs(t, time.Now(), rootKey, interKey, ekus)); err != nil {
		t.Fatalf("import: %v", err)
	}
	ca, err := local.LoadOrCreate(dir, local.Options{LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestLintProfileEKUs: a profile whose EKUs the chain of the CA that signs
// does not allow is refused (CLI, admin API: both use LintProfile) in one
// line naming the profile, the intermediate's EKUs, the refused ones and
// what to do, as a *policy.FieldError at ekus: the CA certgate makes
// (and every intermediate `ca rotate` makes) allows serverAuth and
// clientAuth only; an imported CA allows what its intermediate's EKU
// extension says.
func TestLintProfileEKUs(t *testing.T) {
	builtin, err := local.LoadOrCreate(t.TempDir(), local.Options{LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatal(err)
	}
	smimeCA := importedCA(t, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection})
	now := time.Now()
	for _, tc := range []struct {
		name string
		ca   *local.CA
		ekus []string
		want string // "": accepted
	}{
		{"smime", builtin, []string{"emailProtection"}, "profile smime: the built-in CA's intermediate allows only serverAuth, clientAuth (EKU); " +
			"leaf certificates with emailProtection would not verify for that purpose; use an issuer whose CA allows emailProtection " +
			"(an imported CA or an upstream issuer, docs/issuers.md)"},
		{"signing", builtin, []string{"codeSigning"}, "leaf certificates with codeSigning would not verify for that purpose"},
		// Every EKU refused (a profile stored before the check, which then
		// refuses every update): how to change or remove it is named.
		{"legacy", builtin, []string{"emailProtection"}, "or give the profile EKUs the CA allows (certgate profile update legacy --eku ...) or remove it (certgate profile delete legacy)"},
		{"mixed", builtin, []string{"serverAuth", "emailProtection"}, "profile mixed: the built-in CA's intermediate allows only serverAuth, clientAuth (EKU); " +
			"leaf certificates with emailProtection would not verify for that purpose; use an issuer whose CA allows emailProtection " +
			"(an imported CA or an upstream issuer, docs/issuers.md), or leave emailProtection out of ekus"},
		{"mtls", builtin, []string{"serverAuth", "clientAuth"}, ""},
		{"smime", smimeCA, []string{"emailProtection"}, ""},
		{"web", smimeCA, []string{"serverAuth"}, "profile web: the built-in CA's intermediate allows only emailProtection (EKU); " +
			"leaf certificates with serverAuth would not verify for that purpose"},
	} {
		p := policy.Profile{Name: tc.name, Validity: policy.Duration(30 * 24 * time.Hour), EKUs: tc.ekus}
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		err := LintProfile(tc.ca, &p, now)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s %v: %v, want it accepted", tc.name, tc.ekus, err)
			}
			continue
		}
		var fe *policy.FieldError
		var ee *local.EKUError
		if !errors.As(err, &fe) || fe.Field != "ekus" || !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %v: %v\nwant one line at ekus containing %q", tc.name, tc.ekus, err, tc.want)
		}
	}
}

// TestPreflightProfilesEKUs: at start, a stored profile whose EKUs the CA's
// chain does not allow (stored before certgate checked them) is logged as
// an error naming it and the cause, and the start goes on, even when it
// is the stored default: refusing it would stop an upgraded server from
// serving every other profile.
func TestPreflightProfilesEKUs(t *testing.T) {
	ca, err := local.LoadOrCreate(t.TempDir(), local.Options{LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	now := time.Now()
	for _, p := range []policy.Profile{
		{Name: policy.DefaultName, Validity: policy.Duration(30 * 24 * time.Hour), EKUs: []string{"emailProtection"}},
		{Name: "smime", Validity: policy.Duration(30 * 24 * time.Hour), EKUs: []string{"emailProtection"}},
		{Name: "web", Validity: policy.Duration(30 * 24 * time.Hour)},
	} {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		spec, _ := json.Marshal(p)
		if err := st.PutProfile(ctx, &store.Profile{Name: p.Name, Spec: spec, CreatedAt: now, UpdatedAt: now}, false); err != nil {
			t.Fatal(err)
		}
	}
	reg, err := policy.NewRegistry(st, ra.DefaultProfile(90*24*time.Hour, 0, false, false), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := preflightProfiles(ctx, ca, reg, []string{issuer.LocalName}, now, "", slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatalf("preflightProfiles = %v, want the start to go on", err)
	}
	for _, want := range []string{
		`level=ERROR msg="profile's EKUs are not allowed by the built-in CA's chain; its certificates would not verify for them" profile=default ` +
			`err="profile default: the built-in CA's intermediate allows only serverAuth, clientAuth (EKU); leaf certificates with emailProtection`,
		`profile=smime err="profile smime: the built-in CA's intermediate allows only serverAuth, clientAuth (EKU)`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "profile=web") {
		t.Errorf("logs name profile web, which the CA allows:\n%s", logs.String())
	}
}
