package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestUpdateProfileIf: on both engines, UpdateProfileIf replaces the
// profile while its spec is still the one the caller read; after another
// change it is ErrStale, changes nothing and records no audit event (its
// Replaced hook not called); a change back to the read spec is no
// conflict; a missing profile is ErrNotFound.
func TestUpdateProfileIf(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		spec := func() string {
			t.Helper()
			p, err := s.GetProfile(ctx, "p")
			must(t, err)
			return string(p.Spec)
		}
		events := func() int {
			t.Helper()
			evs, err := s.ListAudit(ctx, store.AuditFilter{Limit: 100})
			must(t, err)
			return len(evs)
		}
		must(t, s.PutProfile(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":1}`), CreatedAt: now, UpdatedAt: now}, false))
		read := []byte(spec())
		must(t, s.PutProfile(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":2}`), UpdatedAt: now}, true)) // after the read

		var got *store.Profile
		wantErr(t, "changed since read", s.UpdateProfileIf(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":3}`), UpdatedAt: now}, read,
			replacedEvent(t, s, &got)), store.ErrStale)
		if spec() != `{"v":2}` || got != nil || events() != 0 {
			t.Errorf("after a refused update: spec %s, hook got %+v, %d audit events; want v2, none, 0", spec(), got, events())
		}

		must(t, s.UpdateProfileIf(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":3}`), UpdatedAt: now}, []byte(spec()), replacedEvent(t, s, &got)))
		if spec() != `{"v":3}` || got == nil || string(got.Spec) != `{"v":2}` || lastBefore(t, s) == "" {
			t.Errorf("update of the read spec: spec %s, hook got %+v; want v3 and v2", spec(), got)
		}

		read = []byte(spec())
		must(t, s.PutProfile(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":4}`), UpdatedAt: now}, true))
		must(t, s.PutProfile(ctx, &store.Profile{Name: "p", Spec: read, UpdatedAt: now}, true)) // back to what was read
		must(t, s.UpdateProfileIf(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":5}`), UpdatedAt: now}, read))
		if spec() != `{"v":5}` {
			t.Errorf("spec %s, want v5", spec())
		}

		wantErr(t, "missing", s.UpdateProfileIf(ctx, &store.Profile{Name: "nope", Spec: []byte(`{}`), UpdatedAt: now}, []byte(`{}`)), store.ErrNotFound)
	})
}

// TestDeleteProfileIf: on both engines, DeleteProfileIf deletes the
// profile while its spec is still the one the caller read; after another
// change it is ErrStale, deletes nothing and records no audit event (its
// Replaced hook not called); a missing profile is ErrNotFound.
func TestDeleteProfileIf(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		must(t, s.PutProfile(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":1}`), CreatedAt: now, UpdatedAt: now}, false))
		must(t, s.PutProfile(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":2}`), UpdatedAt: now}, true)) // after a read of v1

		var got *store.Profile
		wantErr(t, "changed since read", s.DeleteProfileIf(ctx, "p", []byte(`{"v":1}`), replacedEvent(t, s, &got)), store.ErrStale)
		evs, err := s.ListAudit(ctx, store.AuditFilter{Limit: 100})
		must(t, err)
		if _, err := s.GetProfile(ctx, "p"); err != nil || got != nil || len(evs) != 0 {
			t.Errorf("after a refused delete: %v, hook got %+v, %d audit events; want the profile kept, none, 0", err, got, len(evs))
		}

		must(t, s.DeleteProfileIf(ctx, "p", []byte(`{"v":2}`), replacedEvent(t, s, &got)))
		if _, err := s.GetProfile(ctx, "p"); err == nil || got == nil || string(got.Spec) != `{"v":2}` || lastBefore(t, s) == "" {
			t.Errorf("delete of the read spec: GetProfile %v, hook got %+v; want the profile gone and v2", err, got)
		}

		wantErr(t, "missing", s.DeleteProfileIf(ctx, "p", []byte(`{"v":2}`)), store.ErrNotFound)
	})
}

// TestProfileIfLocksRow: on PostgreSQL, the read of the spec by
// UpdateProfileIf and DeleteProfileIf waits for a concurrent uncommitted
// change of the row and then sees it (SELECT ... FOR UPDATE), so it is
// ErrStale and the concurrent change stays; a plain read would see the
// old spec, pass the check, and the update or delete would then undo the
// concurrent change (lost update).
func TestProfileIfLocksRow(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		what   string
		change func(s *store.Store) error
	}{
		{"update", func(s *store.Store) error {
			return s.UpdateProfileIf(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":3}`), UpdatedAt: now}, []byte(`{"v":1}`))
		}},
		{"delete", func(s *store.Store) error { return s.DeleteProfileIf(ctx, "p", []byte(`{"v":1}`)) }},
	} {
		t.Run(tc.what, func(t *testing.T) {
			s, tx, waitForLock := lockedProfileChange(t)
			done := make(chan error, 1)
			go func() { done <- tc.change(s) }()
			waitForLock(tc.what)
			must(t, tx.Commit(ctx))
			wantErr(t, "concurrent change", <-done, store.ErrStale)
			p, err := s.GetProfile(ctx, "p")
			must(t, err)
			if string(p.Spec) != `{"v":2}` {
				t.Errorf("spec %s, want v2, the concurrent change", p.Spec)
			}
		})
	}
}

// lockedProfileChange opens a store on PostgreSQL (the test is skipped
// without one) holding profile p with spec {"v":1}, and on a connection of
// its own a transaction that has changed that spec to {"v":2} and not
// committed. waitForLock(what) returns once a session of the database
// waits for a lock, failing the test ("the WHAT never waited for the row
// lock") after about 5 s.
func lockedProfileChange(t *testing.T) (s *store.Store, tx pgx.Tx, waitForLock func(what string)) {
	t.Helper()
	return lockedProfile(t, `UPDATE profiles SET spec = '{"v":2}' WHERE name = 'p'`)
}

// lockedProfile is lockedProfileChange whose transaction has run the
// statements stmts instead.
func lockedProfile(t *testing.T, stmts ...string) (s *store.Store, tx pgx.Tx, waitForLock func(what string)) {
	t.Helper()
	storetest.RequirePostgres(t)
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	s = storetest.OpenDSN(t, dsn)
	must(t, s.PutProfile(ctx, &store.Profile{Name: "p", Spec: []byte(`{"v":1}`), CreatedAt: now, UpdatedAt: now}, false))
	conn, err := pgx.Connect(ctx, dsn)
	must(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	tx, err = conn.Begin(ctx)
	must(t, err)
	for _, q := range stmts {
		_, err = tx.Exec(ctx, q)
		must(t, err)
	}
	waitForLock = func(what string) {
		t.Helper()
		for i := 0; ; i++ {
			var n int
			must(t, conn.QueryRow(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
			if n > 0 {
				return
			}
			if i == 500 {
				t.Fatalf("the %s never waited for the row lock", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return s, tx, waitForLock
}
