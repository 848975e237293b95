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
// whose ARI replacement (RFC 9773) has been issued (replaced_at set) and
// is still valid, as it needs no attention, but keeps one whose
// replacement was revoked since, one whose replacement order is still
// pending (replaced_by only) and an unrelated one; cert list's
// expiring-within filter still lists all of them.
func TestExpiringSkipsReplaced(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	st := storetest.OpenDSN(t, dsn)
	fill(t, st, 8) // 102..107 expire within 3 days
	db, err := sql.Open("sqlite", "file:"+dsn)
	must(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	// 102: renewed by order-a, whose certificate 106 is valid; 103: renewed
	// by order-c, whose certificate 107 was revoked since; 104: its
	// replacement order is still pending.
	for _, q := range []string{
		`PRAGMA foreign_keys = OFF`,
		`INSERT INTO orders (id, account_id, status, expires_at, identifiers, authz_ids, cert_serial, created_at, updated_at)
			VALUES ('order-a', 'acct', 'valid', 0, '[]', '[]', '106', 0, 0), ('order-c', 'acct', 'valid', 0, '[]', '[]', '107', 0, 0)`,
		`UPDATE certificates SET replaced_by = 'order-a', replaced_at = 1 WHERE serial = '102'`,
		`UPDATE certificates SET replaced_by = 'order-c', replaced_at = 1 WHERE serial = '103'`,
		`UPDATE certificates SET status = 'revoked', revoked_at = 1 WHERE serial = '107'`,
		`UPDATE certificates SET replaced_by = 'order-b', replaced_at = 0 WHERE serial = '104'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
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
	if got, want := serials(p), "103 104 105 106"; got != want {
		t.Fatalf("expiring report = %q, want %q (102's replacement was issued and is valid)", got, want)
	}
	p, err = svc.List(ctx, inventory.Query{ExpiringWithin: 72 * time.Hour})
	must(t, err)
	if got, want := serials(p), "102 103 104 105 106"; got != want {
		t.Fatalf("list --expiring-within = %q, want %q", got, want)
	}
}
