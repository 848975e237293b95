package inventory_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestExpiringSkipsReplaced: the expiring report leaves out a certificate
// whose ARI replacement (RFC 9773) has been issued (replaced_at set), as
// it needs no attention, but keeps one whose replacement order is still
// pending (replaced_by only) and an unrelated one; cert list's
// expiring-within filter still lists all of them.
func TestExpiringSkipsReplaced(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	st := storetest.OpenDSN(t, dsn)
	fill(t, st, 8) // 102..107 expire within 3 days
	db, err := sql.Open("sqlite", "file:"+dsn)
	must(t, err)
	defer db.Close()
	// 102: renewed (replacement issued); 104: replacement order pending.
	if _, err := db.Exec(`UPDATE certificates SET replaced_by = 'order-a', replaced_at = ? WHERE serial = '102'`, now.Add(-time.Minute).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE certificates SET replaced_by = 'order-b', replaced_at = 0 WHERE serial = '104'`); err != nil {
		t.Fatal(err)
	}
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()
	serials := func(p *inventory.Page) string {
		var s []string
		for _, c := range p.Items {
			s = append(s, c.Serial)
		}
		return strings.Join(s, " ")
	}
	p, err := svc.Expiring(ctx, 72*time.Hour, inventory.Query{})
	must(t, err)
	if got, want := serials(p), "103 104 105 106 107"; got != want {
		t.Fatalf("expiring report = %q, want %q (102's replacement was issued)", got, want)
	}
	p, err = svc.List(ctx, inventory.Query{ExpiringWithin: 72 * time.Hour})
	must(t, err)
	if got, want := serials(p), "102 103 104 105 106 107"; got != want {
		t.Fatalf("list --expiring-within = %q, want %q", got, want)
	}
}
