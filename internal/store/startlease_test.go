package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// eachEngine runs f as a parallel subtest per engine (PostgreSQL only
// where it is reachable, else skipped by storetest.RequirePostgres).
func eachEngine(t *testing.T, f func(t *testing.T, e storetest.Engine)) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			if e.Name == store.EnginePostgres {
				storetest.RequirePostgres(t)
			}
			f(t, e)
		})
	}
}

// TestStartChallengeLeased checks on every engine that starting a
// challenge with a lease makes it processing and leased to the starter:
// not listed as abandoned before the lease runs out, renewable by the
// holder, refused to other nodes until then; and that it refuses what
// StartChallenge refuses.
func TestStartChallengeLeased(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
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

// TestRespondChallenge checks on every engine that RespondChallenge reads
// the challenge with its authorization, changes nothing when decide refuses
// or declines, starts a pending challenge with this node's lease when
// decide says so, and, when the conditional start finds the challenge
// already started (or its authorization no longer pending), answers it as
// it stands without starting it.
func TestRespondChallenge(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		s := e.Open(t)
		seed(t, s)
		const ch = "az1-http-01"
		until := now.Add(time.Minute)
		always := func(*store.Challenge, *store.Authorization) (bool, error) { return true, nil }
		if _, _, _, err := s.RespondChallenge(ctx, "nope", "node-a", now, until, always); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown challenge: %v, want ErrNotFound", err)
		}
		refuse := errors.New("refused")
		var seen *store.Authorization
		_, _, _, err := s.RespondChallenge(ctx, ch, "node-a", now, until, func(c *store.Challenge, a *store.Authorization) (bool, error) {
			seen = a
			if c.ID != ch || c.Status != acme.StatusPending {
				t.Errorf("decide got challenge %+v", c)
			}
			return true, refuse
		})
		if !errors.Is(err, refuse) {
			t.Fatalf("refusing decide: %v, want its error", err)
		}
		if seen == nil || seen.ID != "az1" || seen.AccountID != "acct1" {
			t.Fatalf("decide got authorization %+v", seen)
		}
		c, a, started, err := s.RespondChallenge(ctx, ch, "node-a", now, until, func(*store.Challenge, *store.Authorization) (bool, error) { return false, nil })
		must(t, err)
		if started || c.Status != acme.StatusPending || a.ID != "az1" {
			t.Fatalf("declining decide: %+v started=%v, want pending, not started", c, started)
		}
		if cur, err := s.GetChallenge(ctx, ch); err != nil || cur.Status != acme.StatusPending {
			t.Fatalf("after refusals the challenge is %+v, %v; want pending", cur, err)
		}

		c, _, started, err = s.RespondChallenge(ctx, ch, "node-a", now, until, always)
		must(t, err)
		if !started || c.Status != acme.StatusProcessing || !c.UpdatedAt.Equal(now) {
			t.Fatalf("start: %+v started=%v, want processing at now", c, started)
		}
		if cur, err := s.GetChallenge(ctx, ch); err != nil || cur.Status != acme.StatusProcessing {
			t.Fatalf("stored after start: %+v, %v; want processing", cur, err)
		}
		// The lease is this node's: another node cannot take it.
		wantErr(t, "lease by another node", s.LeaseChallenge(ctx, ch, "node-b", now.Add(time.Second), now.Add(2*time.Minute)), store.ErrStale)

		// A second start finds it processing: answered as it stands.
		c, _, started, err = s.RespondChallenge(ctx, ch, "node-b", now, until, always)
		must(t, err)
		if started || c.Status != acme.StatusProcessing {
			t.Fatalf("second start: %+v started=%v, want processing, not started", c, started)
		}

		// A pending challenge under a deactivated authorization is not
		// started either.
		s2 := e.Open(t)
		acct := createAccount(t, s2, "acct1")
		createOrder(t, s2, acct.ID, "ord1", newAuthz(acct.ID, "az1", "a.example.test", false, acme.ChallengeHTTP01, acme.ChallengeDNS01))
		must(t, s2.SetAuthorizationStatus(ctx, "az1", []string{acme.StatusPending}, acme.StatusDeactivated))
		c, _, started, err = s2.RespondChallenge(ctx, "az1-dns-01", "node-a", now, until, always)
		must(t, err)
		if started || c.Status != acme.StatusPending {
			t.Fatalf("under a deactivated authorization: %+v started=%v, want pending, not started", c, started)
		}
	})
}

// TestRespondChallengeConcurrent checks that of concurrent responses to
// one pending challenge, from two nodes (on PostgreSQL two stores on one
// database, as a cluster's nodes), exactly one starts it and holds its
// lease, and every other one answers it as processing without starting
// it.
func TestRespondChallengeConcurrent(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		nodes := []*store.Store{e.Open(t)}
		if e.Name == store.EnginePostgres {
			dsn := storetest.PostgresDSN(t)
			nodes = []*store.Store{storetest.OpenDSN(t, dsn), storetest.OpenDSN(t, dsn)}
		}
		seed(t, nodes[0])
		const ch, responses = "az1-http-01", 16
		until := now.Add(time.Minute)
		always := func(*store.Challenge, *store.Authorization) (bool, error) { return true, nil }
		type result struct {
			owner   string
			c       *store.Challenge
			started bool
			err     error
		}
		results := make(chan result, responses)
		start := make(chan struct{})
		for i := range responses {
			owner := []string{"node-a", "node-b"}[i%2]
			s := nodes[i%len(nodes)]
			go func() {
				<-start
				c, _, started, err := s.RespondChallenge(ctx, ch, owner, now, until, always)
				results <- result{owner, c, started, err}
			}()
		}
		close(start)
		var winners []string
		for range responses {
			r := <-results
			if r.err != nil {
				t.Errorf("%s: %v", r.owner, r.err)
				continue
			}
			if r.c.Status != acme.StatusProcessing {
				t.Errorf("%s: answered %s, want processing", r.owner, r.c.Status)
			}
			if r.started {
				winners = append(winners, r.owner)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("%d responses started the challenge (%v), want exactly 1", len(winners), winners)
		}
		loser := map[string]string{"node-a": "node-b", "node-b": "node-a"}[winners[0]]
		wantErr(t, "lease by the node that did not start it", nodes[len(nodes)-1].LeaseChallenge(ctx, ch, loser, now.Add(time.Second), now.Add(2*time.Minute)), store.ErrStale)
	})
}
