package ra

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

type nopVA struct{}

func (nopVA) Validate(context.Context, acme.Identifier, string, string, string) error { return nil }
func (nopVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error { return nil }

// TestExclusiveStartTakesOverAtOnce: a process that alone uses the storage
// resumes a validation still leased by its dead predecessor and fails an
// order that predecessor left processing, without waiting for the lease or
// StuckAfter to run out; a shared-storage node waits for both.
func TestExclusiveStartTakesOverAtOnce(t *testing.T) {
	for _, exclusive := range []bool{true, false} {
		ctx := context.Background()
		st := storetest.OpenSQLite(t)
		now := time.Now().UTC()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(st.CreateAccount(ctx, &store.Account{ID: "a", KeyThumbprint: "tp", JWK: []byte("{}"), Status: "valid", CreatedAt: now}))
		az := &store.Authorization{ID: "z", AccountID: "a", Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Status: "pending",
			Expires: now.Add(time.Hour), CreatedAt: now, Challenges: []store.Challenge{{ID: "c", Type: "http-01", Token: "t", Status: "pending", UpdatedAt: now}}}
		must(st.CreateOrder(ctx, &store.Order{ID: "o", AccountID: "a", Status: "pending", Expires: now.Add(time.Hour),
			Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{"z"}, CreatedAt: now, UpdatedAt: now}, []*store.Authorization{az}))
		must(st.StartChallenge(ctx, "c", now))
		must(st.LeaseChallenge(ctx, "c", "dead-process", now, now.Add(time.Minute)))
		must(st.SetOrderStatus(ctx, "o", "pending", "processing", nil, now))

		r := New(Config{Exclusive: exclusive, SweepInterval: time.Hour}, st, nopVA{}, nil, nil, slog.New(slog.DiscardHandler))
		must(r.Start(ctx))
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r.Shutdown(sctx)
		cancel()
		c, err := st.GetChallenge(ctx, "c")
		must(err)
		o, err := st.GetOrder(ctx, "o")
		must(err)
		if exclusive && (c.Status != acme.StatusValid || o.Status != acme.StatusInvalid) {
			t.Errorf("exclusive start: challenge %s, order %s; want valid and invalid at once", c.Status, o.Status)
		}
		if !exclusive && (c.Status != acme.StatusProcessing || o.Status != acme.StatusProcessing) {
			t.Errorf("shared start: challenge %s, order %s; both must wait for the lease and StuckAfter", c.Status, o.Status)
		}
		st.Close()
	}
}
