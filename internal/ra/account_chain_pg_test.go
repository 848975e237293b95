package ra

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestConcurrentAccountCreationKeepsChain: on PostgreSQL, accounts created
// at once on three nodes (RAs over stores of one database), each newAccount
// appending account.create in its own transaction under the audit head's
// row lock (read FOR UPDATE, then one statement inserting the event and
// writing the head), leave one chain: every event's seq follows the one
// before it without a gap, its prev_hash is the hash of the event before,
// the head names the newest, and `certgate audit verify` finds it intact.
func TestConcurrentAccountCreationKeepsChain(t *testing.T) {
	storetest.RequirePostgres(t)
	dsn := storetest.PostgresDSN(t)
	const nodes, each = 3, 15
	var ras []*RA
	for range nodes {
		st := storetest.OpenDSN(t, dsn)
		r := New(Config{Audit: audit.New(st, nil)}, st, failVA{}, nil, nil, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { r.Shutdown(context.Background()) })
		ras = append(ras, r)
	}
	req := acme.NewAccountRequest{Contact: []string{"mailto:chain@example.com"}, TermsOfServiceAgreed: true}
	var wg sync.WaitGroup
	errs := make(chan error, nodes*each)
	for n, r := range ras {
		for i := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pub, tp := accountKey(t)
				if _, created, err := r.NewAccountIn(context.Background(), "", "https://ca.test/acme/new-account", tp, pub, req); err != nil || !created {
					errs <- fmt.Errorf("node %d account %d: created %v, %v", n, i, created, err)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := storetest.OpenDSN(t, dsn)
	evs := auditEvents(t, st, audit.ActionAccountCreate)
	if len(evs) != nodes*each {
		t.Fatalf("%d account.create events, want %d", len(evs), nodes*each)
	}
	all, err := st.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[int64]*store.AuditRecord{}
	for _, ev := range all {
		bySeq[ev.Seq] = ev
	}
	prev := store.AuditGenesisHash
	for seq := int64(1); seq <= int64(len(all)); seq++ {
		ev, ok := bySeq[seq]
		if !ok {
			t.Fatalf("no event with seq %d of %d: the chain has a gap", seq, len(all))
		}
		if ev.PrevHash != prev {
			t.Fatalf("event %d: prev_hash %s, want the hash of event %d, %s", seq, ev.PrevHash, seq-1, prev)
		}
		prev = ev.Hash
	}
	res := verifyChain(t, st)
	if res.Events != int64(len(all)) || res.HeadSeq != int64(len(all)) || res.HeadHash != prev {
		t.Fatalf("verify: %+v; want %d events, head %d %s", res, len(all), len(all), prev)
	}
}
