package adminapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestCertificateRenewalWindow: GET /api/v1/certificates/{ref} has the
// renewal window renewalInfo (RFC 9773) serves for a certificate issued
// here, the default one (2/3 to 5/6 of its lifetime) or the one `certgate
// cert suggest-renewal` stored, with its source; an imported certificate
// of another CA has none (renewalInfo answers only for certificates issued
// here), and the list leaves it out. The answer had no window at all.
func TestCertificateRenewalWindow(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t))
	tok := f.tokens[auth.RoleAuditor]
	c := f.certificate()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreign := f.importedWithKey(key)
	type window struct {
		Start, End time.Time
		Source     string
	}
	get := func(serial string) *window {
		t.Helper()
		r := f.do("GET", Prefix+"/certificates/"+serial, tok, nil)
		var got struct {
			RenewalWindow *window `json:"renewal_window"`
		}
		if err := json.Unmarshal(r.body, &got); r.status != 200 || err != nil {
			t.Fatalf("GET %s: %d %s", serial, r.status, r.body)
		}
		return got.RenewalWindow
	}
	life := c.NotAfter.Sub(c.NotBefore)
	want := window{c.NotBefore.Add(life / 3 * 2).UTC().Truncate(time.Second), c.NotBefore.Add(life / 6 * 5).UTC().Truncate(time.Second), "default"}
	if got := get(c.Serial); got == nil || !got.Start.Equal(want.Start) || !got.End.Equal(want.End) || got.Source != want.Source {
		t.Errorf("default window %+v, want %+v", got, want)
	}
	start, end := f.now.Add(-time.Hour), f.now.Add(24*time.Hour)
	if err := f.st.SetRenewalWindow(context.Background(), c.Serial, start, end); err != nil {
		t.Fatal(err)
	}
	if got := get(c.Serial); got == nil || !got.Start.Equal(start) || !got.End.Equal(end) || got.Source != "suggest-renewal" {
		t.Errorf("window set: %+v, want %v .. %v from suggest-renewal", got, start, end)
	}
	if got := get(foreign.Serial); got != nil {
		t.Errorf("imported certificate of another CA: renewal_window %+v, want none", got)
	}
	if r := f.do("GET", Prefix+"/certificates", tok, nil); r.status != 200 || json.Valid(r.body) && containsKey(r.body, "renewal_window") {
		t.Errorf("list: %d %s; want no renewal_window", r.status, r.body)
	}
}

// containsKey reports whether the JSON b has an object member named key
// at any depth.
func containsKey(b []byte, key string) bool {
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if k == key || walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range v {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	var v any
	_ = json.Unmarshal(b, &v)
	return walk(v)
}
