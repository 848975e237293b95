package server

import (
	"context"
	"sync"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestAdoptedRotationAuditedOnce: nodes that start at once with the same
// copy of a DATA/ca whose rotation the database did not see (its write
// failed) move the setting once and record one intermediate.rotate event:
// the node whose compare-and-set lost recorded one too.
func TestAdoptedRotationAuditedOnce(t *testing.T) {
	dir := t.TempDir()
	before, err := local.LoadOrCreate(dir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	oldID := local.IntermediateID(before.Intermediate())
	if _, _, err := local.Rotate(dir, local.RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	ca, err := local.LoadOrCreate(dir, local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	if got, err := st.InitSetting(ctx, IntermediateSetting, oldID); err != nil || got != oldID {
		t.Fatalf("setting: %q, %v", got, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = checkIntermediate(ctx, st, ca, dir, dir)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	if got, _ := st.GetSetting(ctx, IntermediateSetting); got != local.IntermediateID(ca.Intermediate()) {
		t.Errorf("setting after the starts: %q, want the new intermediate", got)
	}
	evs, err := audit.New(st, nil).List(ctx, store.AuditFilter{Action: audit.ActionIntermediateRotate, Limit: 10})
	if err != nil || len(evs) != 1 {
		t.Fatalf("intermediate.rotate events: %d, %v; want one", len(evs), err)
	}
}
