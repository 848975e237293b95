package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/cputime"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestGetAuthorizationShapes checks GetAuthorization, which reads an
// authorization and its challenges in one query, on every engine: all
// challenges ordered by type with their errors, an authorization without
// challenges, and a missing one.
func TestGetAuthorizationShapes(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a := createAccount(t, s, "acct1")
		three := newAuthz(a.ID, "az3", "three.example.test", false, acme.ChallengeTLSALPN01, acme.ChallengeHTTP01, acme.ChallengeDNS01)
		none := newAuthz(a.ID, "az0", "none.example.test", false)
		createOrder(t, s, a.ID, "ord1", three, none)
		prob := acme.NewProblem(acme.Connection, "refused")
		must(t, s.StartChallenge(ctx, "az3-"+acme.ChallengeHTTP01, now))
		must(t, s.RecordAttempt(ctx, "az3-"+acme.ChallengeHTTP01, prob, now))

		got, err := s.GetAuthorization(ctx, "az3")
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, c := range got.Challenges {
			types = append(types, c.Type)
			if c.AuthzID != "az3" {
				t.Errorf("challenge %s: AuthzID = %q", c.ID, c.AuthzID)
			}
			if c.Type == acme.ChallengeHTTP01 && (c.Error == nil || c.Error.Detail != "refused" || c.Attempts != 1 || c.Status != acme.StatusProcessing) {
				t.Errorf("http-01 challenge = %+v, want processing with 1 attempt and the recorded error", c)
			}
		}
		if want := []string{acme.ChallengeDNS01, acme.ChallengeHTTP01, acme.ChallengeTLSALPN01}; !reflect.DeepEqual(types, want) {
			t.Errorf("challenge types = %v, want %v", types, want)
		}
		if got.Identifier.Value != "three.example.test" || got.AccountID != a.ID || !got.Expires.Equal(three.Expires) {
			t.Errorf("authorization = %+v", got)
		}

		got, err = s.GetAuthorization(ctx, "az0")
		if err != nil || got.ID != "az0" || len(got.Challenges) != 0 || got.Identifier.Value != "none.example.test" {
			t.Errorf("authorization without challenges = %+v, %v", got, err)
		}
		_, err = s.GetAuthorization(ctx, "missing")
		wantErr(t, "missing authorization", err, store.ErrNotFound)
	})
}

// BenchmarkGetAuthorization reads an authorization with three challenges
// from SQLite (the WFE reads one on every authorization and challenge
// request).
func BenchmarkGetAuthorization(b *testing.B) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, b.TempDir()+"/certgate.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a := &store.Account{ID: "acct1", KeyThumbprint: "tp", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: now}
	if err := s.CreateAccount(ctx, a); err != nil {
		b.Fatal(err)
	}
	az := newAuthz(a.ID, "az1", "a.example.test", false, acme.ChallengeHTTP01, acme.ChallengeDNS01, acme.ChallengeTLSALPN01)
	o := &store.Order{ID: "ord1", AccountID: a.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now,
		Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}}
	if err := s.CreateOrder(ctx, o, []*store.Authorization{az}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for b.Loop() {
		if _, err := s.GetAuthorization(ctx, "az1"); err != nil {
			b.Fatal(err)
		}
	}
	cputime.ReportPerOp(b, cpu0)
}
