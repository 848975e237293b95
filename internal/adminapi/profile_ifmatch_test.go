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
)

// ifMatchHeader is the header If-Match: v, or none for "".
func ifMatchHeader(v string) http.Header {
	if v == "" {
		return nil
	}
	return http.Header{"If-Match": {v}}
}

// want412 asserts that r is a 412 RFC 9457 problem.
func want412(t *testing.T, what string, r response) {
	t.Helper()
	var pb map[string]any
	_ = json.Unmarshal(r.body, &pb)
	if r.status != 412 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") || pb["status"] != float64(412) {
		t.Errorf("%s: %d %s %s, want a 412 problem", what, r.status, r.header.Get("Content-Type"), r.body)
	}
}

// profileEvents returns how many audit events of action profile name has.
func (f *fixture) profileEvents(t *testing.T, name, action string) int {
	t.Helper()
	evs, err := f.log.List(context.Background(), store.AuditFilter{ObjectType: "profile", ObjectID: name, Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// describeMeanwhile has another admin set profile name's description to
// desc after the next change's handler checked its tag, before its
// transaction (fixture.meanwhile).
func (f *fixture) describeMeanwhile(t *testing.T, name, desc string) {
	f.meanwhile = func() {
		if err := f.st.PutProfile(context.Background(), &store.Profile{Name: name, Spec: []byte(`{"name":"` + name + `","validity":"30d","wildcard":true,"description":"` + desc + `"}`),
			UpdatedAt: f.now}, true); err != nil {
			t.Error(err)
		}
	}
}

// profileETag GETs profile name and returns its ETag, failing the test
// unless the answer is a 200 with a strong entity tag.
func (f *fixture) profileETag(t *testing.T, name string) string {
	t.Helper()
	g := f.do("GET", "/api/v1/profiles/"+name, f.tokens[auth.RoleAdmin], nil)
	etag := g.header.Get("ETag")
	if g.status != 200 || len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("GET: %d, ETag %q, want 200 and a strong entity tag", g.status, etag)
	}
	return etag
}

// TestProfilePutIfMatch: GET and PUT of a profile answer its ETag; a PUT
// with If-Match replaces the profile only while it is that version: a
// stale tag, a weak tag, and a change committed after the handler checked
// the tag and before its transaction (fixture.meanwhile) are 412 problems
// that change nothing and record nothing, so the concurrent change is
// kept; the current tag and * succeed, * also after a change committed
// meanwhile (RFC 9110 §13.1.1: any stored version matches); without
// If-Match the PUT replaces the profile as before. On both engines.
func TestProfilePutIfMatch(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
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
			return f.profileEvents(t, name, "profile.update")
		}
		put := func(ifMatch string, b map[string]any) response {
			t.Helper()
			return f.doWith("PUT", path, admin, ifMatchHeader(ifMatch), b)
		}

		etag := f.profileETag(t, name)
		f.describeMeanwhile(t, name, "meanwhile")
		want412(t, "change committed meanwhile", put(etag, body("10d", "mine")))
		if p := stored(); p.Description != "meanwhile" || updates() != 0 {
			t.Errorf("after the 412: description %q, %d profile.update events; want the concurrent change kept, none", p.Description, updates())
		}
		want412(t, "stale tag", put(etag, body("10d", "mine")))

		etag2 := f.profileETag(t, name)
		if etag2 == etag {
			t.Fatalf("ETag %s unchanged after the profile changed", etag2)
		}
		want412(t, "weak tag", put("W/"+etag2, body("10d", "mine")))
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
		f.describeMeanwhile(t, name, "meanwhile again")
		if r := put("*", body("20d", "any, after meanwhile")); r.status != 200 || stored().Description != "any, after meanwhile" {
			t.Errorf("If-Match * after a change committed meanwhile: %d %s, description %q", r.status, r.body, stored().Description)
		}
		if r := put("", body("30d", "unconditional")); r.status != 200 || stored().Description != "unconditional" {
			t.Errorf("PUT without If-Match: %d %s", r.status, r.body)
		}
		if r := f.doWith("PUT", "/api/v1/profiles/nope", admin, http.Header{"If-Match": {etag3}}, map[string]any{"name": "nope", "validity": "10d"}); r.status != 404 {
			t.Errorf("PUT of a missing profile with If-Match: %d %s, want 404", r.status, r.body)
		}
	})
}

// TestProfileDeleteIfMatch: a DELETE of a profile with If-Match deletes it
// only while it is that version: a stale tag, a weak tag, and a change
// committed after the handler checked the tag and before its transaction
// (fixture.meanwhile) are 412 problems that delete nothing and record
// nothing; the current tag deletes it (audited once); * deletes any stored
// version, also one changed meanwhile; a missing profile is 404 with
// If-Match too. Without If-Match the DELETE is as before
// (TestDeleteProfileInUse, TestAuditBeforeUnderConcurrentChange). On both
// engines.
func TestProfileDeleteIfMatch(t *testing.T) {
	eachEngine(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		admin := f.tokens[auth.RoleAdmin]
		del := func(name, ifMatch string) response {
			t.Helper()
			return f.doWith("DELETE", "/api/v1/profiles/"+name, admin, ifMatchHeader(ifMatch), nil)
		}
		kept := func(what, name string) {
			t.Helper()
			if _, err := f.st.GetProfile(ctx, name); err != nil || f.profileEvents(t, name, "profile.delete") != 0 {
				t.Errorf("after %s: %v, %d profile.delete events; want the profile kept, none", what, err, f.profileEvents(t, name, "profile.delete"))
			}
		}
		deleted := func(what, name string, r response) {
			t.Helper()
			if _, err := f.st.GetProfile(ctx, name); r.status != 204 || err == nil || f.profileEvents(t, name, "profile.delete") != 1 {
				t.Errorf("%s: %d %s, GetProfile %v, %d profile.delete events; want 204, the profile gone, one event", what, r.status, r.body, err,
					f.profileEvents(t, name, "profile.delete"))
			}
		}

		name := f.storedProfile()
		etag := f.profileETag(t, name)
		f.describeMeanwhile(t, name, "meanwhile")
		want412(t, "change committed meanwhile", del(name, etag))
		kept("the 412", name)
		want412(t, "stale tag", del(name, etag))
		etag2 := f.profileETag(t, name)
		want412(t, "weak tag", del(name, "W/"+etag2))
		kept("the 412s", name)
		deleted("DELETE with the current tag", name, del(name, `"other", `+etag2))

		star := f.storedProfile()
		f.describeMeanwhile(t, star, "meanwhile")
		deleted("DELETE with If-Match * after a change committed meanwhile", star, del(star, "*"))

		if r := del("nope", etag2); r.status != 404 {
			t.Errorf("DELETE of a missing profile with If-Match: %d %s, want 404", r.status, r.body)
		}
	})
}
