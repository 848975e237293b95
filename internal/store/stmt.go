package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// pool is a *sql.DB whose queries run as prepared statements, prepared once
// per query text and reused (database/sql re-prepares them per connection
// as needed). Parsing SQL on every call cost about a tenth of a flow's CPU.
//
// Queries are written once, with "?" placeholders; a pool for an engine
// that numbers its parameters (PostgreSQL: $1, $2, ...) rewrites them when
// it prepares or runs a statement, so this is the only place that knows.
type pool struct {
	db     *sql.DB
	dollar bool // rewrite "?" placeholders to $1..$n
	mu     sync.RWMutex
	stmts  map[string]*sql.Stmt
}

func newPool(db *sql.DB, dollar bool) *pool {
	return &pool{db: db, dollar: dollar, stmts: map[string]*sql.Stmt{}}
}

// bind returns q in the engine's placeholder syntax.
func (p *pool) bind(q string) string {
	if !p.dollar {
		return q
	}
	return rebindDollar(q)
}

// rebindDollar replaces each "?" placeholder of q by $1, $2, ... in order,
// leaving question marks inside quoted literals and identifiers alone.
func rebindDollar(q string) string {
	if !strings.ContainsRune(q, '?') {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte // ' or " while inside a quoted literal or identifier
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote re-enters on the next byte
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (p *pool) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	p.mu.RLock()
	st, ok := p.stmts[q]
	p.mu.RUnlock()
	if ok {
		return st, nil
	}
	// Prepare without holding mu: preparing waits for a connection, which a
	// transaction may hold while it looks up its own statements.
	st, err := p.db.PrepareContext(ctx, p.bind(q))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	p.mu.Lock()
	prev, dup := p.stmts[q]
	if !dup {
		p.stmts[q] = st
	}
	p.mu.Unlock()
	if dup {
		// Another caller prepared q meanwhile. Close the duplicate without
		// holding mu: closing it may wait for the connection it was
		// prepared on, which a transaction may be using while it waits for
		// mu in cached (seen on PostgreSQL: that transaction held a
		// rate-bucket row lock the connection's statement waited for, and
		// every request stalled until its context expired).
		st.Close()
		return prev, nil
	}
	return st, nil
}

// ExecContext runs q as a prepared statement.
func (p *pool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := p.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs q as a prepared statement.
func (p *pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// row is a *sql.Row or the error of preparing it.
type row struct {
	r   *sql.Row
	err error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.r.Scan(dest...)
}

// QueryRowContext runs q as a prepared statement.
func (p *pool) QueryRowContext(ctx context.Context, q string, args ...any) row {
	st, err := p.stmt(ctx, q)
	if err != nil {
		return row{err: err}
	}
	return row{r: st.QueryRowContext(ctx, args...)}
}

// close closes the statements and the database.
func (p *pool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.stmts {
		st.Close()
	}
	return p.db.Close()
}

// cached returns the prepared statement for q if there is one.
func (p *pool) cached(q string) *sql.Stmt {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.stmts[q]
}

// txConn runs a transaction's statements through the pool's prepared ones.
// A statement not prepared yet runs unprepared and is noted in missing, to
// be prepared after the transaction: preparing inside it would wait for a
// second connection, which a busy PostgreSQL pool may not have free.
//
// On SQLite the transaction is one job of the group-committing writer (w
// set): statements are prepared on the writer connection itself and run
// with the job's context wctx, which is not cancelled, whatever context
// the caller passes (see writer).
type txConn struct {
	tx      *sql.Tx
	p       *pool
	missing *[]string

	w    *writer
	wctx context.Context
}

// postgres reports whether the transaction runs on PostgreSQL (not on the
// SQLite writer).
func (t txConn) postgres() bool { return t.w == nil && t.p != nil && t.p.dollar }

// ExecContext runs q within the transaction.
func (t txConn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if t.w != nil {
		return t.w.exec(t.wctx, q, args...)
	}
	if st := t.p.cached(q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	*t.missing = append(*t.missing, q)
	return t.tx.ExecContext(ctx, t.p.bind(q), args...)
}

// QueryRowContext runs the single-row query q within the transaction,
// through the pool's prepared statement like ExecContext.
func (t txConn) QueryRowContext(ctx context.Context, q string, args ...any) row {
	if t.w != nil {
		st, err := t.w.stmt(t.wctx, q)
		if err != nil {
			return row{err: err}
		}
		return row{r: st.QueryRowContext(t.wctx, args...)}
	}
	if st := t.p.cached(q); st != nil {
		return row{r: t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)}
	}
	*t.missing = append(*t.missing, q)
	return row{r: t.tx.QueryRowContext(ctx, t.p.bind(q), args...)}
}

// QueryContext runs the query q within the transaction (on SQLite on the
// writer connection), through a prepared statement like ExecContext.
func (t txConn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if t.w != nil {
		st, err := t.w.stmt(t.wctx, q)
		if err != nil {
			return nil, err
		}
		return st.QueryContext(t.wctx, args...)
	}
	if st := t.p.cached(q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	*t.missing = append(*t.missing, q)
	return t.tx.QueryContext(ctx, t.p.bind(q), args...)
}

// querier runs the queries of a read: the reader pool, or on SQLite the
// writer connection (Store.hot).
type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// maxInsertRows bounds the rows of one multi-row INSERT (insertRows), so
// that the prepared statements cached per query text stay few and the
// parameter count stays far below both engines' limits (SQLite 32,766,
// PostgreSQL 65,535).
const maxInsertRows = 32

// valueRows returns the VALUES list of a multi-row INSERT: rows groups of
// cols "?" placeholders, e.g. "(?, ?), (?, ?)" for 2 and 2.
func valueRows(rows, cols int) string {
	var b strings.Builder
	b.Grow(rows * (cols*3 + 2))
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('?')
		}
		b.WriteByte(')')
	}
	return b.String()
}

// insertRows runs prefix (an INSERT up to and including "VALUES ") with
// args as rows of cols values each, up to maxInsertRows rows per statement:
// one statement instead of one per row. Nothing is run for no args.
func insertRows(ctx context.Context, tx txConn, prefix string, cols int, args []any) error {
	for len(args) > 0 {
		n := min(len(args)/cols, maxInsertRows)
		if _, err := tx.ExecContext(ctx, prefix+valueRows(n, cols), args[:n*cols]...); err != nil {
			return err
		}
		args = args[n*cols:]
	}
	return nil
}
