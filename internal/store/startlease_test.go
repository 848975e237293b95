package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestStartChallengeLeased checks on every engine that starting a
// challenge with a lease makes it processing and leased to the starter:
// not listed as abandoned before the lease runs out, renewable by the
// holder, refused to other nodes until then; and that it refuses what
// StartChallenge refuses.
func TestStartChallengeLeased(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			ctx := context.Background()
			s := e.Open(t)
			seed(t, s)
			const ch = "az1-http-01"
			must(t, s.StartChallengeLeased(ctx, ch, "node-a", now, now.Add(time.Minute)))
			wantErr(t, "second start", s.StartChallengeLeased(ctx, ch, "node-a", now, now.Add(time.Minute)), store.ErrStale)
			if c, err := s.GetChallenge(ctx, ch); err != nil || c.Status != acme.StatusProcessing {
				t.Fatalf("challenge after start = %+v, %v; want processing", c, err)
			}
			ids, err := s.ExpiredLeases(ctx, now.Add(30*time.Second), 10)
			must(t, err)
			if len(ids) != 0 {
				t.Fatalf("a freshly started challenge is listed as abandoned: %v", ids)
			}
			wantErr(t, "lease by another node", s.LeaseChallenge(ctx, ch, "node-b", now.Add(30*time.Second), now.Add(2*time.Minute)), store.ErrStale)
			must(t, s.LeaseChallenge(ctx, ch, "node-a", now.Add(30*time.Second), now.Add(2*time.Minute))) // renewal by the holder
			later := now.Add(3 * time.Minute)
			ids, err = s.ExpiredLeases(ctx, later, 10)
			must(t, err)
			if len(ids) != 1 || ids[0] != ch {
				t.Fatalf("expired leases = %v, want [%s]", ids, ch)
			}

			s2 := e.Open(t)
			a := createAccount(t, s2, "acct1")
			createOrder(t, s2, a.ID, "ord1", newAuthz(a.ID, "az1", "a.example.test", false, acme.ChallengeHTTP01, acme.ChallengeDNS01))
			must(t, s2.SetAuthorizationStatus(ctx, "az1", []string{acme.StatusPending}, acme.StatusDeactivated))
			wantErr(t, "start under a deactivated authorization", s2.StartChallengeLeased(ctx, "az1-dns-01", "node-a", now, now.Add(time.Minute)), store.ErrStale)
		})
	}
}
