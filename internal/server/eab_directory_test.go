package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/testenv"
)

// TestCreateEABKeyAnswersAbsoluteDirectory: POST /api/v1/eab-keys answers
// the key's profile directory as the absolute URL a client needs,
// https://HOSTNAME:PORT/acme/PROFILE/directory from the server's hostname
// and listen port (as `certgate eab create` prints it), and that URL
// serves the profile's ACME directory.
func TestCreateEABKeyAnswersAbsoluteDirectory(t *testing.T) {
	env := testenv.New(t)
	st := env.Server.Store()
	admin, _, err := auth.NewTokens(st, audit.New(st, nil), nil).Create(context.Background(),
		auth.CreateRequest{Name: "admin", Role: auth.RoleAdmin, Actor: "cli:test"})
	if err != nil {
		t.Fatal(err)
	}
	a := do(t, env.HTTPClient, "POST", env.BaseURL+"/api/v1/eab-keys", admin, `{"profile":"default"}`)
	var got struct {
		KID       string `json:"kid"`
		Directory string `json:"directory"`
	}
	if a.status != http.StatusCreated || json.Unmarshal(a.body, &got) != nil || got.KID == "" {
		t.Fatalf("POST /api/v1/eab-keys = %d %s", a.status, a.body)
	}
	if want := env.BaseURL + "/acme/default/directory"; got.Directory != want {
		t.Fatalf("directory = %q, want %q", got.Directory, want)
	}
	if d := do(t, env.HTTPClient, "GET", got.Directory, "", ""); d.status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", got.Directory, d.status, d.body)
	}
}
