package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestListAuditPlanUsesObjectIndex: on each engine, with many audit
// events, the page of one object's events (`audit list --object-type T
// --object-id ID`, newest first and oldest first, with and without an
// action) reads the index audit_events_object and no whole table. On
// PostgreSQL the plan is the generic one (plan_cache_mode =
// force_generic_plan), which a prepared statement runs with after five
// executions: a filter that also matches when its value is empty ("? =
// <empty> OR object_id = ?") cannot use the
// index there, as the generic plan must also serve an empty ID.
//
// The same page found by the object's ID alone (`audit list --object-id
// ID` without --object-type, GET /api/v1/audit/events?object_id=ID) reads
// the index audit_events_objid (object_id, seq, migration 00027) and no
// whole table. Before it, audit_events_object (object_type, object_id,
// seq) could not serve a filter without the type, and every such page
// scanned the log.
//
// PostgreSQL holds 300,000 events, as its planner weighs the table's
// statistics. SQLite holds 30,000 of the same shape (6 per object): it
// never runs ANALYZE here, and without sqlite_stat1 its planner assumes
// the same size for every table whatever its rows, so more rows would
// only make the test slower (minutes under -race).
func TestListAuditPlanUsesObjectIndex(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		s := e.Open(t)
		n, objects := 300000, 50000
		if e.Name == store.EngineSQLite {
			n, objects = 30000, 5000
		}
		must(t, store.InsertAuditRows(ctx, s, n, objects)) // o1234: type t2 (1234 % 7), 6 events
		for _, f := range []store.AuditFilter{
			{Newest: true, ObjectType: "t2", ObjectID: "o1234"},
			{Newest: true, BeforeSeq: int64(n * 2 / 3), ObjectType: "t2", ObjectID: "o1234", Action: "a1"},
			{AfterSeq: 10, ObjectType: "t2", ObjectID: "o1234"},
		} {
			checkAuditPlan(t, e, s, f, "audit_events_object")
		}
		for _, f := range []store.AuditFilter{
			{Newest: true, ObjectID: "o1234"},
			{Newest: true, BeforeSeq: int64(n * 2 / 3), ObjectID: "o1234", Action: "a1"},
			{AfterSeq: 10, ObjectID: "o1234"},
		} {
			checkAuditPlan(t, e, s, f, "audit_events_objid")
		}
	})
}

// checkAuditPlan asserts that ListAudit's plan for f reads index and scans
// no whole audit_events table, and that the statement answers what f asks:
// some events, each of f's object (and type and action where f gives them).
func checkAuditPlan(t *testing.T, e storetest.Engine, s *store.Store, f store.AuditFilter, index string) {
	t.Helper()
	ctx := context.Background()
	plan, err := store.ListAuditPlan(ctx, s, f)
	must(t, err)
	p := strings.Join(plan, "\n")
	if !strings.Contains(p, index) || strings.Contains(p, "Seq Scan on audit_events") ||
		(e.Name == store.EngineSQLite && strings.Contains(p, "SCAN audit_events")) {
		t.Errorf("%s, %+v: plan does not read %s:\n%s", e.Name, f, index, p)
	}
	t.Logf("%s, %+v:\n%s", e.Name, f, p)
	evs, err := s.ListAudit(ctx, f)
	must(t, err)
	if len(evs) == 0 {
		t.Errorf("%+v: no events", f)
	}
	for _, ev := range evs {
		if (f.ObjectType != "" && ev.ObjectType != f.ObjectType) || ev.ObjectID != f.ObjectID || (f.Action != "" && ev.Action != f.Action) {
			t.Errorf("%+v: event %d is %s %s %s", f, ev.Seq, ev.ObjectType, ev.ObjectID, ev.Action)
		}
	}
}
