package adminapi

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
	"go.yaml.in/yaml/v3"
)

// TestCreateExampleProfiles: the JSON form of every example profile file
// (docs/api.md: "profiles are the JSON form of the YAML profile files"),
// with only the fields the file sets, is accepted by POST /profiles.
func TestCreateExampleProfiles(t *testing.T) {
	f := newFixture(t, storetest.Engines()[0].Open(t))
	files, err := filepath.Glob("../../docs/examples/profiles/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("example profiles: %v %v", files, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := yaml.Unmarshal(b, &body); err != nil {
			t.Fatal(err)
		}
		if r := f.do(http.MethodPost, "/api/v1/profiles", f.tokens[auth.RoleAdmin], body); r.status != http.StatusCreated {
			t.Errorf("%s: %d %s", filepath.Base(file), r.status, r.body)
		}
	}
}
