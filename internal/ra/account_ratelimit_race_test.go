package ra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// barrierLookupStore holds its first account lookup by key, once made,
// until every store sharing the barrier has made its own: each of the
// concurrent newAccount requests then finds no account for the key and
// goes on to create one.
type barrierLookupStore struct {
	*store.Store
	barrier *sync.WaitGroup
	once    sync.Once
}

func (s *barrierLookupStore) GetAccountByThumbprint(ctx context.Context, tp string) (*store.Account, error) {
	a, err := s.Store.GetAccountByThumbprint(ctx, tp)
	s.once.Do(func() {
		s.barrier.Done()
		s.barrier.Wait()
	})
	return a, err
}

// TestNewAccountRaceSpendsOnce: on PostgreSQL, two nodes (RAs over stores
// of one database) answering newAccount for the same new key at once, from
// one client address, create one account and spend new-accounts-per-ip
// once, without and with an external account binding (docs/rate-limits.md:
// spent "only when it creates an account"). The request that loses the
// race gets the account back; it spent the bucket before it tried to
// create the account, so that with a limit of 2 a second account from the
// address was refused.
func TestNewAccountRaceSpendsOnce(t *testing.T) {
	storetest.RequirePostgres(t)
	for _, withEAB := range []bool{false, true} {
		name := "without EAB"
		if withEAB {
			name = "with EAB"
		}
		t.Run(name, func(t *testing.T) {
			ctx := WithClientAddr(context.Background(), "192.0.2.7:4711")
			dsn := storetest.PostgresDSN(t)
			cfg := Config{RateLimits: ratelimit.Config{NewAccountsPerIP: ratelimit.Rate{Count: 2, Period: time.Hour}}}
			hmacKey := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
			const url = "https://ca.test/acme/new-account"
			var barrier sync.WaitGroup
			barrier.Add(2)
			var nodes []*RA
			for range 2 {
				st := storetest.OpenDSN(t, dsn)
				r := New(cfg, &barrierLookupStore{Store: st, barrier: &barrier}, failVA{}, nil, nil, slog.New(slog.DiscardHandler))
				t.Cleanup(func() { r.Shutdown(context.Background()) })
				nodes = append(nodes, r)
			}
			if withEAB {
				if err := storetest.OpenDSN(t, dsn).CreateEABKey(ctx, &store.EABKey{KID: "kid-1", HMACKey: hmacKey, Profile: "default",
					Status: store.EABActive, CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			newAccount := func(r *RA, key *ecdsa.PrivateKey) (*store.Account, bool, error) {
				pub, tp, eab := eabBinding(t, key, "kid-1", hmacKey, url)
				req := acme.NewAccountRequest{TermsOfServiceAgreed: true}
				if withEAB {
					req.ExternalAccountBinding = eab
				}
				return r.NewAccountIn(ctx, "", url, tp, pub, req)
			}
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			type result struct {
				a       *store.Account
				created bool
				err     error
			}
			results := make([]result, len(nodes))
			var wg sync.WaitGroup
			for i, r := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a, created, err := newAccount(r, key)
					results[i] = result{a, created, err}
				}()
			}
			wg.Wait()
			created := 0
			for i, res := range results {
				if res.err != nil {
					t.Fatalf("node %d: %v", i, res.err)
				}
				if res.created {
					created++
				}
				if res.a.ID != results[0].a.ID {
					t.Fatalf("node %d: account %s, node 0: %s; want one account", i, res.a.ID, results[0].a.ID)
				}
			}
			if created != 1 {
				t.Fatalf("%d of the racing requests created the account, want 1", created)
			}
			// One of the two accounts an hour is spent: another key
			// gets the second, a third key is refused.
			other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if _, created, err := newAccount(nodes[1], other); err != nil || !created {
				t.Fatalf("second account from the address: created %v, %v; want created (the race spent the limit once)", created, err)
			}
			third, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if _, _, err := newAccount(nodes[0], third); !ratelimit.IsRateLimited(err) {
				t.Fatalf("third account from the address: %v, want rateLimited", err)
			}
		})
	}
}
