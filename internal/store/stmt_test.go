package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestRebindDollar(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE id = ?`, `SELECT a FROM t WHERE id = $1`},
		{`INSERT INTO t (a, b, c) VALUES (?, ?,?)`, `INSERT INTO t (a, b, c) VALUES ($1, $2,$3)`},
		{`UPDATE t SET s = 'what?' WHERE id = ? AND s IN (?,?)`, `UPDATE t SET s = 'what?' WHERE id = $1 AND s IN ($2,$3)`},
		{`SELECT "odd?col" FROM t WHERE x = 'it''s ?' AND y = ?`, `SELECT "odd?col" FROM t WHERE x = 'it''s ?' AND y = $1`},
		{`SELECT ? ? ? ? ? ? ? ? ? ? ?`, `SELECT $1 $2 $3 $4 $5 $6 $7 $8 $9 $10 $11`},
	} {
		if got := rebindDollar(c.in); got != c.want {
			t.Errorf("rebindDollar(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	p := &pool{dollar: false}
	if got := p.bind(`a = ?`); got != `a = ?` {
		t.Errorf("SQLite pool rewrote %q", got)
	}
}

func TestIsUniqueViolation(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("UNIQUE constraint failed: serials.serial"), true},
		{fmt.Errorf("insert: %w", &pgconn.PgError{Code: "23505"}), true},
		{&pgconn.PgError{Code: "23503"}, false}, // foreign key
		{errors.New("something else"), false},
	} {
		if got := isUniqueViolation(c.err); got != c.want {
			t.Errorf("isUniqueViolation(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestTxQueryRowPrepared checks that a single-row query inside a SQLite
// transaction is prepared on the writer connection and then runs through
// the prepared statement with the same result.
func TestTxQueryRowPrepared(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, t.TempDir()+"/certgate.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const q = `SELECT seq, hash FROM audit_head WHERE id = 1`
	for i := range 2 {
		var seq int64
		var hash string
		if err := s.tx(ctx, func(tx txConn) error { return tx.QueryRowContext(ctx, q).Scan(&seq, &hash) }); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if seq != 0 || hash != AuditGenesisHash {
			t.Errorf("transaction %d: seq %d, hash %q; want 0, the genesis hash", i, seq, hash)
		}
		if s.wr.stmts[q] == nil { // written before the job was answered
			t.Fatalf("after transaction %d the query is not prepared", i)
		}
	}
}
