package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// pool is a *sql.DB whose queries run as prepared statements, prepared once
// per query text and reused (database/sql re-prepares them per connection
// as needed). Parsing SQL on every call cost about a tenth of a flow's CPU.
type pool struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func newPool(db *sql.DB) *pool { return &pool{db: db, stmts: map[string]*sql.Stmt{}} }

func (p *pool) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	p.mu.RLock()
	st, ok := p.stmts[q]
	p.mu.RUnlock()
	if ok {
		return st, nil
	}
	// Prepare without holding mu: preparing waits for a connection, which a
	// transaction may hold while it looks up its own statements.
	st, err := p.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.stmts[q]; ok {
		st.Close()
		return prev, nil
	}
	p.stmts[q] = st
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
// second connection, which the single-writer pool does not have.
type txConn struct {
	tx      *sql.Tx
	p       *pool
	missing *[]string
}

// ExecContext runs q within the transaction.
func (t txConn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.p.cached(q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	*t.missing = append(*t.missing, q)
	return t.tx.ExecContext(ctx, q, args...)
}
