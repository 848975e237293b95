package server

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"go.yaml.in/yaml/v3"
)

// TestProfilesLint: zlint passes for the built-in default profile (with
// and without clientAuth, at 90 and 180 days)
// and for every example profile of docs/examples/profiles, which
// docs/profiles.md presents: with the CA certgate makes those with
// serverAuth or clientAuth only; those with emailProtection or
// codeSigning, which its intermediate does not allow (docs/profiles.md
// says so and names the alternatives), are refused at ekus by it and pass
// with an imported CA whose intermediate has no EKU extension.
func TestProfilesLint(t *testing.T) {
	ca, err := local.LoadOrCreate(t.TempDir(), local.Options{LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatal(err)
	}
	anyEKU := importedCA(t, nil)
	now := time.Now()
	for _, tc := range []struct {
		v          time.Duration
		clientAuth bool
	}{{90 * 24 * time.Hour, false}, {90 * 24 * time.Hour, true}, {180 * 24 * time.Hour, false}} {
		p := ra.DefaultProfile(tc.v, 0, tc.clientAuth, false)
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := LintProfile(ca, &p, now); err != nil {
			t.Errorf("default profile (%s, clientAuth %v): %v", tc.v, tc.clientAuth, err)
		}
	}
	files, err := filepath.Glob("../../docs/examples/profiles/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("example profiles: %v, %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var p policy.Profile
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		tlsOnly := !slices.ContainsFunc(p.EKUs, func(e string) bool { return e != "serverAuth" && e != "clientAuth" })
		err = LintProfile(ca, &p, now)
		var fe *policy.FieldError
		var ee *local.EKUError
		switch {
		case tlsOnly && err != nil:
			t.Errorf("%s: %v", f, err)
		case !tlsOnly && (!errors.As(err, &fe) || fe.Field != "ekus" || !errors.As(err, &ee)):
			t.Errorf("%s (ekus %v) with the CA certgate makes: %v, want a *policy.FieldError at ekus wrapping a *local.EKUError", f, p.EKUs, err)
		}
		if err := LintProfile(anyEKU, &p, now); err != nil {
			t.Errorf("%s with an imported CA without EKUs: %v", f, err)
		}
	}
	// Subject fields: fine for client certificates, refused by the lint
	// in domain-validated TLS server certificates.
	client := policy.Profile{Name: "org-clients", Validity: policy.Duration(30 * 24 * time.Hour), EKUs: []string{"clientAuth"},
		SubjectFields: []string{"O", "OU", "C", "ST", "L"}}
	if err := client.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := LintProfile(ca, &client, now); err != nil {
		t.Errorf("clientAuth profile with subject fields: %v", err)
	}
	server := policy.Profile{Name: "org-servers", Validity: policy.Duration(30 * 24 * time.Hour), SubjectFields: []string{"O"}}
	if err := server.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := LintProfile(ca, &server, now); err == nil {
		t.Errorf("a serverAuth profile with an organization passed the lint")
	}
	// A TLS profile over the CA/B maximum is refused.
	long := policy.Profile{Name: "long", Validity: policy.Duration(400 * 24 * time.Hour)}
	if err := long.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := LintProfile(ca, &long, now); err == nil {
		t.Errorf("a 400-day serverAuth profile passed the lint")
	}
}

// TestLintProfileNamesField: a profile failing the lint is a
// *policy.FieldError at the field whose sample certificate failed
// (validity; maxValidity when only the longest lifetime does), so that
// the admin API's 422 names it, and still a *LintSettingError.
func TestLintProfileNamesField(t *testing.T) {
	ca, err := local.LoadOrCreate(t.TempDir(), local.Options{LintBeforeSign: true,
		IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl"})
	if err != nil {
		t.Fatal(err)
	}
	for field, p := range map[string]policy.Profile{
		"validity":    {Name: "long", Validity: policy.Duration(400 * 24 * time.Hour)},
		"maxValidity": {Name: "max", Validity: policy.Duration(90 * 24 * time.Hour), MaxValidity: policy.Duration(400 * 24 * time.Hour)},
	} {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		err := LintProfile(ca, &p, time.Now())
		var fe *policy.FieldError
		var se *LintSettingError
		if !errors.As(err, &fe) || fe.Field != field || !errors.As(err, &se) {
			t.Errorf("%s: %#v, want a *policy.FieldError at %s wrapping a *LintSettingError", p.Name, err, field)
		}
	}
}
