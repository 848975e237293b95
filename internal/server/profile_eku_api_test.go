package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/testenv"
)

// TestAdminAPIRefusesProfileEKUsOfCA: the admin API refuses a profile of
// the built-in CA with an EKU its intermediate does not allow
// (emailProtection; certgate's own allows serverAuth and clientAuth) with
// a 422 problem document at body.ekus saying why and what to do: it was
// stored, and its certificates failed verification for that purpose. On
// update too; a profile of serverAuth and clientAuth is stored.
func TestAdminAPIRefusesProfileEKUsOfCA(t *testing.T) {
	env := testenv.New(t)
	st := env.Server.Store()
	admin, _, err := auth.NewTokens(st, audit.New(st, nil), nil).Create(context.Background(),
		auth.CreateRequest{Name: "admin", Role: auth.RoleAdmin, Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	want := "profile smime: the built-in CA's intermediate allows only serverAuth, clientAuth (EKU); leaf certificates with emailProtection " +
		"would not verify for that purpose; use an issuer whose CA allows emailProtection (an imported CA or an upstream issuer, docs/issuers.md)"
	r := do(t, env.HTTPClient, "POST", env.BaseURL+"/api/v1/profiles", admin, `{"name":"smime","validity":"365d","ekus":["emailProtection"]}`)
	if _, status, _ := r.problem(t); r.status != http.StatusUnprocessableEntity || status != http.StatusUnprocessableEntity ||
		!strings.Contains(string(r.body), `"location":"body.ekus"`) || !strings.Contains(string(r.body), want) {
		t.Errorf("POST profile with emailProtection = %d %s, want 422 at body.ekus saying %q", r.status, r.body, want)
	}
	r = do(t, env.HTTPClient, "POST", env.BaseURL+"/api/v1/profiles", admin, `{"name":"smime","validity":"90d","ekus":["serverAuth","clientAuth"]}`)
	if r.status != http.StatusCreated {
		t.Fatalf("POST profile with serverAuth, clientAuth = %d %s, want 201", r.status, r.body)
	}
	r = do(t, env.HTTPClient, "PUT", env.BaseURL+"/api/v1/profiles/smime", admin, `{"name":"smime","validity":"365d","ekus":["codeSigning"]}`)
	if _, status, _ := r.problem(t); status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"location":"body.ekus"`) ||
		!strings.Contains(string(r.body), "leaf certificates with codeSigning would not verify for that purpose") {
		t.Errorf("PUT profile with codeSigning = %d %s, want 422 at body.ekus", r.status, r.body)
	}
}
