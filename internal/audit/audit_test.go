package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// rawDB opens the database at dsn directly, bypassing the store, to tamper
// with it as someone with database access would.
func rawDB(t *testing.T, engine, dsn string) *sql.DB {
	t.Helper()
	driver, name := "sqlite", dsn
	if engine == store.EnginePostgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, engine, q string, args ...any) {
	t.Helper()
	if engine == store.EnginePostgres {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	res, err := db.ExecContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%s: %d rows affected, want 1", q, n)
	}
}

// fill records n events and returns them oldest first.
func fill(t *testing.T, l *audit.Log, st *store.Store, n int) []*store.AuditRecord {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		err := l.Record(ctx, audit.Event{Actor: audit.CLIActor("alice"), Action: audit.ActionCertificateRevoke,
			ObjectType: audit.ObjectCertificate, ObjectID: fmt.Sprintf("%x", 1000+i), Source: "127.0.0.1:5000",
			Before: map[string]any{"status": "valid"}, After: map[string]any{"status": "revoked", "reason": 1}})
		if err != nil {
			t.Fatal(err)
		}
	}
	evs, err := st.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Fatalf("%d events stored, want %d", len(evs), n)
	}
	return evs
}

func verify(t *testing.T, l *audit.Log) *audit.VerifyResult {
	t.Helper()
	res, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestVerifyDetectsTampering: on both engines, an untouched log verifies;
// editing any field of a stored row, deleting a row in the middle or the
// newest row, or adding a row outside the chain (after the event the head
// records, or before seq 1) each make Verify fail naming the event.
func TestVerifyDetectsTampering(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			cases := []struct {
				name    string
				tamper  func(db *sql.DB, evs []*store.AuditRecord)
				seq     int64
				withID  bool
				problem string
			}{
				{"edit actor", func(db *sql.DB, evs []*store.AuditRecord) {
					exec(t, db, eng.Name, `UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 3`)
				}, 3, true, "content does not match"},
				{"edit after JSON", func(db *sql.DB, evs []*store.AuditRecord) {
					exec(t, db, eng.Name, `UPDATE audit_events SET after = '{"status":"valid"}' WHERE seq = 2`)
				}, 2, true, "content does not match"},
				{"edit and rehash", func(db *sql.DB, evs []*store.AuditRecord) {
					r := *evs[1]
					r.ObjectID = "ffff"
					exec(t, db, eng.Name, `UPDATE audit_events SET object_id = ?, hash = ? WHERE seq = 2`, r.ObjectID, audit.Hash(&r))
				}, 3, true, "prev_hash does not match"},
				{"delete middle", func(db *sql.DB, evs []*store.AuditRecord) {
					exec(t, db, eng.Name, `DELETE FROM audit_events WHERE seq = 3`)
				}, 3, false, "missing"},
				{"delete newest", func(db *sql.DB, evs []*store.AuditRecord) {
					exec(t, db, eng.Name, `DELETE FROM audit_events WHERE seq = 5`)
				}, 5, false, "missing"},
				{"delete first", func(db *sql.DB, evs []*store.AuditRecord) {
					exec(t, db, eng.Name, `DELETE FROM audit_events WHERE seq = 1`)
				}, 1, false, "missing"},
				// A row added after the newest event without moving the head
				// (the next append would fail on its seq) or before the first.
				{"insert beyond head", func(db *sql.DB, evs []*store.AuditRecord) {
					exec(t, db, eng.Name, `INSERT INTO audit_events (seq, id, at, actor, action, object_type, object_id, source, before, after, prev_hash, hash)
						SELECT 6, 'forged', at, 'cli:mallory', action, object_type, object_id, source, before, after, hash, 'x' FROM audit_events WHERE seq = 5`)
				}, 6, true, "not part of the chain"},
				{"insert before first", func(db *sql.DB, evs []*store.AuditRecord) {
					exec(t, db, eng.Name, `INSERT INTO audit_events (seq, id, at, actor, action, object_type, object_id, source, before, after, prev_hash, hash)
						SELECT 0, 'forged', at, 'cli:mallory', action, object_type, object_id, source, before, after, prev_hash, 'x' FROM audit_events WHERE seq = 1`)
				}, 0, true, "not part of the chain"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					dsn := eng.NewDSN(t)
					st := storetest.OpenDSN(t, dsn)
					l := audit.New(st, nil)
					evs := fill(t, l, st, 5)
					if res := verify(t, l); !res.OK || res.Events != 5 || res.HeadSeq != 5 || res.HeadHash != evs[4].Hash {
						t.Fatalf("untouched log: %+v", res)
					}
					tc.tamper(rawDB(t, eng.Name, dsn), evs)
					res := verify(t, l)
					if res.OK {
						t.Fatalf("tampered log verified: %+v", res)
					}
					if res.BrokenSeq != tc.seq || !strings.Contains(res.Problem, tc.problem) {
						t.Fatalf("broken at seq %d (%s), want seq %d (%s)", res.BrokenSeq, res.Problem, tc.seq, tc.problem)
					}
					msg := res.Error()
					if !strings.Contains(msg, fmt.Sprintf("seq %d", tc.seq)) {
						t.Fatalf("message %q does not name seq %d", msg, tc.seq)
					}
					if tc.withID && (tc.seq < 1 || tc.seq > 5) && !strings.Contains(msg, "forged") {
						t.Fatalf("message %q does not name the added event", msg)
					}
					if tc.withID && tc.seq >= 1 && tc.seq <= 5 && !strings.Contains(msg, evs[tc.seq-1].ID) {
						t.Fatalf("message %q does not name event id %s", msg, evs[tc.seq-1].ID)
					}
				})
			}
		})
	}
}

// appendFromNodes starts nodes goroutines, each with its own store on the
// database dsn, that record each events at once. done closes when all have
// finished; check then fails t on the first error an append returned.
func appendFromNodes(t *testing.T, dsn string, nodes, each int) (done <-chan struct{}, check func()) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, nodes*each)
	for n := range nodes {
		l := audit.New(storetest.OpenDSN(t, dsn), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- l.Record(context.Background(), audit.Event{Actor: fmt.Sprintf("node%d", n), Action: audit.ActionProfileUpdate,
					ObjectType: "test", ObjectID: fmt.Sprint(i)})
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(errs); close(finished) }()
	return finished, func() {
		t.Helper()
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestConcurrentAppendsKeepOneChain: several stores on one database (nodes
// on PostgreSQL; processes on SQLite) appending at once produce one
// gap-free chain that verifies.
func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			dsn := eng.NewDSN(t)
			const nodes, each = 3, 20
			done, check := appendFromNodes(t, dsn, nodes, each)
			<-done
			check()
			res := verify(t, audit.New(storetest.OpenDSN(t, dsn), nil))
			if !res.OK || res.Events != nodes*each {
				t.Fatalf("after concurrent appends: %+v", res)
			}
		})
	}
}

// TestVerifyWhileAppending: on both engines, Verify running while other
// stores append reports every run intact (an event appended after it read
// the head is not taken for a row added outside the chain).
func TestVerifyWhileAppending(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			dsn := eng.NewDSN(t)
			done, check := appendFromNodes(t, dsn, 2, 40)
			v := audit.New(storetest.OpenDSN(t, dsn), nil)
			runs := 0
			for finished := false; !finished; runs++ {
				select {
				case <-done:
					finished = true
				default:
				}
				if res := verify(t, v); !res.OK {
					t.Fatalf("verify while appending (run %d): %s", runs, res.Error())
				}
			}
			check()
			t.Logf("%d verify runs", runs)
		})
	}
}

// TestRecordFields: an event keeps what was recorded, with the source
// taken from the context when the event names none.
func TestRecordFields(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	now := time.Date(2026, 11, 29, 10, 0, 0, 123, time.UTC)
	l := audit.New(st, func() time.Time { return now })
	ctx := audit.WithSource(context.Background(), "192.0.2.7:4431")
	if err := l.Record(ctx, audit.Event{Actor: "token:ci", Action: audit.ActionTokenCreate, ObjectType: audit.ObjectToken,
		ObjectID: "abc", After: map[string]string{"name": "ci"}}); err != nil {
		t.Fatal(err)
	}
	evs, err := l.List(ctx, store.AuditFilter{Newest: true})
	if err != nil {
		t.Fatal(err)
	}
	e := evs[0]
	if e.Seq != 1 || e.Source != "192.0.2.7:4431" || !e.Time.Equal(now) || e.Before != "" || e.After != `{"name":"ci"}` ||
		e.PrevHash != store.AuditGenesisHash || e.Hash != audit.Hash(e) {
		t.Fatalf("stored event: %+v", e)
	}
}

// TestVerifyMissingHead: on both engines, a log whose head row was deleted
// (every later append then fails) is reported broken in one line naming
// the head, not as a storage error.
func TestVerifyMissingHead(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			dsn := eng.NewDSN(t)
			st := storetest.OpenDSN(t, dsn)
			l := audit.New(st, nil)
			fill(t, l, st, 2)
			exec(t, rawDB(t, eng.Name, dsn), eng.Name, `DELETE FROM audit_head WHERE id = 1`)
			res, err := l.Verify(context.Background())
			if err != nil {
				t.Fatalf("Verify: %v, want a broken result", err)
			}
			if res.OK || !strings.Contains(res.Problem, "head") {
				t.Fatalf("result %+v, want broken naming the head", res)
			}
			if msg := res.Error(); !strings.HasPrefix(msg, "audit log broken: ") || strings.Contains(msg, "seq 0") {
				t.Fatalf("message %q", msg)
			}
		})
	}
}
