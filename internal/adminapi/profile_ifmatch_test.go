package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestProfilePutIfMatch: GET and PUT of a profile answer its ETag; a PUT
// with If-Match replaces the profile only while it is that version: a
// stale tag, a weak tag, and a change committed after the handler checked
// the tag and before its transaction (fixture.meanwhile) are 412 problems
// that change nothing and record nothing, so the concurrent change is
// kept; the current tag and * succeed; without If-Match the PUT replaces
// the profile as before. On both engines.
func TestProfilePutIfMatch(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			f := newFixture(t, e.Open(t))
			ctx := context.Background()
			admin := f.tokens[auth.RoleAdmin]
			name := f.storedProfile() // validity 30d
			path := "/api/v1/profiles/" + name
			body := func(validity, desc string) map[string]any {
				return map[string]any{"name": name, "validity": validity, "wildcard": true, "description": desc}
			}
			stored := func() *policy.Profile {
				t.Helper()
				rec, err := f.st.GetProfile(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				p, err := policy.Parse(rec.Spec)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			updates := func() int {
				t.Helper()
				evs, err := f.log.List(ctx, store.AuditFilter{ObjectType: "profile", ObjectID: name, Action: "profile.update"})
				if err != nil {
					t.Fatal(err)
				}
				return len(evs)
			}
			put := func(ifMatch string, b map[string]any) response {
				t.Helper()
				var h http.Header
				if ifMatch != "" {
					h = http.Header{"If-Match": {ifMatch}}
				}
				return f.doWith("PUT", path, admin, h, b)
			}
			want412 := func(what string, r response) {
				t.Helper()
				var pb map[string]any
				_ = json.Unmarshal(r.body, &pb)
				if r.status != 412 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") || pb["status"] != float64(412) {
					t.Errorf("%s: %d %s %s, want a 412 problem", what, r.status, r.header.Get("Content-Type"), r.body)
				}
			}

			g := f.do("GET", path, admin, nil)
			etag := g.header.Get("ETag")
			if g.status != 200 || len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
				t.Fatalf("GET: %d, ETag %q, want 200 and a strong entity tag", g.status, etag)
			}

			// Another admin changes the description after this PUT's
			// handler checked its tag, before its transaction.
			f.meanwhile = func() {
				if err := f.st.PutProfile(ctx, &store.Profile{Name: name, Spec: []byte(`{"name":"` + name + `","validity":"30d","wildcard":true,"description":"meanwhile"}`),
					UpdatedAt: f.now}, true); err != nil {
					t.Error(err)
				}
			}
			want412("change committed meanwhile", put(etag, body("10d", "mine")))
			if p := stored(); p.Description != "meanwhile" || updates() != 0 {
				t.Errorf("after the 412: description %q, %d profile.update events; want the concurrent change kept, none", p.Description, updates())
			}
			want412("stale tag", put(etag, body("10d", "mine")))

			g = f.do("GET", path, admin, nil)
			etag2 := g.header.Get("ETag")
			if etag2 == etag {
				t.Fatalf("ETag %s unchanged after the profile changed", etag2)
			}
			want412("weak tag", put("W/"+etag2, body("10d", "mine")))
			r := put(`"other", `+etag2, body("10d", "meanwhile, then mine"))
			if r.status != 200 || updates() != 1 || time.Duration(stored().Validity) != 10*24*time.Hour {
				t.Fatalf("PUT with the current tag: %d %s, %d events", r.status, r.body, updates())
			}
			etag3 := r.header.Get("ETag")
			if g := f.do("GET", path, admin, nil); g.header.Get("ETag") != etag3 || etag3 == etag2 {
				t.Errorf("PUT answered ETag %s, GET then %s, before %s: want the new version's, equal", etag3, g.header.Get("ETag"), etag2)
			}
			if r := put("*", body("20d", "any")); r.status != 200 {
				t.Errorf("If-Match *: %d %s", r.status, r.body)
			}
			if r := put("", body("30d", "unconditional")); r.status != 200 || stored().Description != "unconditional" {
				t.Errorf("PUT without If-Match: %d %s", r.status, r.body)
			}
			if r := f.doWith("PUT", "/api/v1/profiles/nope", admin, http.Header{"If-Match": {etag3}}, map[string]any{"name": "nope", "validity": "10d"}); r.status != 404 {
				t.Errorf("PUT of a missing profile with If-Match: %d %s, want 404", r.status, r.body)
			}
		})
	}
}
