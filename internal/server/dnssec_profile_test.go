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

// TestDNSSECProfileNeedsResolver: on a server using the system resolver
// (no va-dns-resolver), the admin API refuses a profile that turns DNSSEC
// on without resolvers of its own (422 at body.validation.dnssec): it was
// stored, and every validation of the profile failed with serverInternal
// ("va: DNSSEC checking needs a validating DNS resolver"). With its own
// resolvers it is stored.
func TestDNSSECProfileNeedsResolver(t *testing.T) {
	env := testenv.NewWithOptions(t, testenv.Options{SystemResolver: true})
	st := env.Server.Store()
	admin, _, err := auth.NewTokens(st, audit.New(st, nil), nil).Create(context.Background(),
		auth.CreateRequest{Name: "admin", Role: auth.RoleAdmin, Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, env.HTTPClient, "POST", env.BaseURL+"/api/v1/profiles", admin, `{"name":"sec","validity":"30d","validation":{"dnssec":true}}`)
	if r.status != http.StatusUnprocessableEntity || !strings.Contains(string(r.body), `"location":"body.validation.dnssec"`) ||
		!strings.Contains(string(r.body), "validation.dnssec needs a validating DNS resolver") {
		t.Errorf("POST profile with dnssec and no resolver = %d %s, want 422 at body.validation.dnssec", r.status, r.body)
	}
	r = do(t, env.HTTPClient, "POST", env.BaseURL+"/api/v1/profiles", admin, `{"name":"sec","validity":"30d","validation":{"dnssec":true,"dnsResolvers":["127.0.0.1:53"]}}`)
	if r.status != http.StatusCreated {
		t.Errorf("POST profile with dnssec and its resolver = %d %s, want 201", r.status, r.body)
	}
}
