package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// AuditRecord is one stored audit event (table audit_events). Events form a
// chain: Seq counts from 1 without gaps, PrevHash is the previous event's
// Hash (64 zeros for the first), and Hash covers PrevHash and the event's
// content; internal/audit defines the hash and verifies the chain.
type AuditRecord struct {
	Seq        int64     // position in the chain, from 1 without gaps
	ID         string    // random event ID
	Time       time.Time // UTC
	Actor      string    // e.g. "token:ops-ci", "acme-account:Ab12", "cli:alice"
	Action     string    // e.g. "certificate.issue"
	ObjectType string    // e.g. "certificate"
	ObjectID   string    // ID of the object changed
	Source     string    // client address, "" when unknown
	Before     string    // JSON of the object before the change, "" for none
	After      string    // JSON of the object after the change, "" for none
	PrevHash   string    // hex SHA-256
	Hash       string    // hex SHA-256
}

// AuditAppend is an audit event to append, in the same transaction as the
// change it records when a Store method takes one. Seal is called with
// Record's Seq and PrevHash set to the chain's next position and must set
// Record.Hash (internal/audit provides it). Seal runs inside the
// transaction (on SQLite on the writer goroutine), so it must not call the
// Store. An AuditAppend with HooksOnly appends nothing: it only carries its
// hooks (e.g. Cascade, to learn the rows a change extends to when no audit
// log is kept). One without Seal and without HooksOnly is refused, so that
// a caller that forgot Seal fails instead of losing the record.
type AuditAppend struct {
	Record AuditRecord              // the event; Seq, PrevHash and Hash are set on append
	Seal   func(*AuditRecord) error // sets Record.Hash (see above)
	// HooksOnly marks an append that records nothing (see above).
	HooksOnly bool
	// Replaced, when set, is called inside the transaction of a method
	// that changes or deletes an existing row (its doc names the row's
	// type, e.g. *Profile), with that row as the transaction read it just
	// before the change, and sets Record.Before and Record.After from it.
	// So they describe the row the change replaced, even when another
	// change committed after the caller last read it: the read locks the
	// row until the transaction ends (SELECT ... FOR UPDATE on
	// PostgreSQL; SQLite's write transaction is exclusive). When the row
	// shows that the change leaves it as it was, Replaced may set
	// HooksOnly instead, and nothing is appended (internal/audit does so
	// for audit.ErrUnchanged); it is called again, and must set or clear
	// HooksOnly again, when the transaction runs again. Like Seal, it
	// runs inside the transaction and must not call the Store.
	Replaced func(old any) error
	// Cascade, when set, gives the event of a further row that the
	// change it records changes with it, called inside the transaction
	// with that row as it was before (RevokeCertificate for keyCompromise:
	// each other certificate of the key it revokes, a *Certificate;
	// FinishOrder of a certificate whose key was blocked meanwhile: the
	// certificate, stored revoked). A nil event records nothing. Like
	// Seal, it must not call the Store.
	Cascade func(old any) (*AuditAppend, error)
}

// cascadeEvents returns the events the Cascade hooks of events give for
// the row old (nil ones dropped).
func cascadeEvents(events []*AuditAppend, old any) ([]*AuditAppend, error) {
	var out []*AuditAppend
	for _, ev := range events {
		if ev == nil || ev.Cascade == nil {
			continue
		}
		c, err := ev.Cascade(old)
		if err != nil {
			return nil, fmt.Errorf("audit event of a cascaded change: %w", err)
		}
		if c != nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// readReplaced reads, within tx and locked (see AuditAppend.Replaced), the
// row that q selects with scan and hands it to the Replaced hook of each
// event that has one; it reads nothing when none has. scan's error (such as
// ErrNotFound) is returned as it is.
func readReplaced[T any](ctx context.Context, s *Store, tx txConn, events []*AuditAppend, scan func(interface{ Scan(...any) error }) (*T, error), q string, args ...any) error {
	return readReplacedLock(ctx, s, tx, events, scan, `FOR UPDATE`, q, args...)
}

// readReplacedLock is readReplaced with lock as the locking clause on
// PostgreSQL, e.g. "FOR UPDATE OF c" for a query whose other tables are
// on the nullable side of an outer join.
func readReplacedLock[T any](ctx context.Context, s *Store, tx txConn, events []*AuditAppend, scan func(interface{ Scan(...any) error }) (*T, error), lock, q string, args ...any) error {
	if !wantsReplaced(events) {
		return nil
	}
	old, err := readLocked(ctx, s, tx, scan, lock, q, args...)
	if err != nil {
		return err
	}
	return callReplaced(events, old)
}

// wantsReplaced reports whether an event of events has a Replaced hook.
func wantsReplaced(events []*AuditAppend) bool {
	for _, ev := range events {
		if ev != nil && ev.Replaced != nil {
			return true
		}
	}
	return false
}

// readLocked reads, within tx, the row that q selects with scan, locked
// until the transaction ends: with lock (e.g. "FOR UPDATE") appended on
// PostgreSQL; SQLite's write transaction is exclusive anyway. scan's error
// (such as ErrNotFound) is returned as it is.
func readLocked[T any](ctx context.Context, s *Store, tx txConn, scan func(interface{ Scan(...any) error }) (*T, error), lock, q string, args ...any) (*T, error) {
	if s.engine == EnginePostgres {
		q += ` ` + lock
	}
	return scan(txQueryRow(ctx, tx, q, args...))
}

// callReplaced hands old to the Replaced hook of each event that has one.
func callReplaced(events []*AuditAppend, old any) error {
	for _, ev := range events {
		if ev != nil && ev.Replaced != nil {
			if err := ev.Replaced(old); err != nil {
				return fmt.Errorf("audit event of the replaced row: %w", err)
			}
		}
	}
	return nil
}

// AuditGenesisHash is the PrevHash of the first event.
const AuditGenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// appendAudit appends a to the chain within tx. Appends are serialized on
// both engines by the row lock of the single audit_head row, which the
// first statement takes: a concurrent appender (another node on
// PostgreSQL) waits for this transaction and then, at READ COMMITTED,
// reads the head as that transaction committed it (SELECT ... FOR UPDATE
// returns the newest version of the row it waited for). SQLite takes the
// write lock at BEGIN anyway. seq's primary key guards the chain should
// that ever fail.
//
// The lock is held until the commit, so the append comes last in its
// transaction and, on PostgreSQL, takes two statements (round trips)
// before the commit: the head's read and one statement that inserts the
// event and writes the head (a data-modifying WITH), which writes the head
// row once per append. SQLite advances seq first and writes the hash last.
func appendAudit(ctx context.Context, tx txConn, a *AuditAppend) error {
	if a == nil || a.HooksOnly { // nothing to append (AuditAppend)
		return nil
	}
	if a.Seal == nil {
		return errors.New("audit append without Seal (and not HooksOnly)")
	}
	r := &a.Record
	var seq int64
	if err := lockAuditHead(ctx, tx, 1, &seq, &r.PrevHash); err != nil {
		return err
	}
	r.Seq = seq + 1
	if err := a.Seal(r); err != nil {
		return fmt.Errorf("seal audit event: %w", err)
	}
	return writeAuditEvents(ctx, tx, []any{r.Seq, r.ID, ts(r.Time), r.Actor, r.Action, r.ObjectType, r.ObjectID, r.Source,
		r.Before, r.After, r.PrevHash, r.Hash}, r.Seq, r.Hash)
}

// lockAuditHead locks the audit head's row until tx ends for an append of
// n events and sets seq and hash to the head before them (the newest
// event's). On PostgreSQL it reads the row FOR UPDATE (see appendAudit);
// on SQLite, whose write transaction is exclusive, it advances seq by n
// with UPDATE ... RETURNING as before (a plain read measured no cheaper
// there: docs/performance.md, "Session 6: profile pass").
func lockAuditHead(ctx context.Context, tx txConn, n int64, seq *int64, hash *string) error {
	var err error
	if tx.postgres() {
		err = txQueryRow(ctx, tx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(seq, hash)
	} else {
		err = txQueryRow(ctx, tx, `UPDATE audit_head SET seq = seq + ? WHERE id = 1 RETURNING seq, hash`, n).Scan(seq, hash)
		*seq -= n
	}
	if err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	return nil
}

// auditEventCols is the number of columns writeAuditEvents inserts per event.
const auditEventCols = 12

// writeAuditEvents inserts the events of args (auditEventCols values each:
// seq, id, at, actor, action, object_type, object_id, source, before,
// after, prev_hash, hash) and sets the audit head to seq and hash, the
// last event's, within tx whose head lockAuditHead locked (on SQLite it
// advanced seq already: only the hash is written). On PostgreSQL a single
// event and the head are written in one statement.
func writeAuditEvents(ctx context.Context, tx txConn, args []any, seq int64, hash string) error {
	const insert = `INSERT INTO audit_events (seq, id, at, actor, action, object_type, object_id, source, before, after, prev_hash, hash) VALUES `
	const head = `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`
	if tx.postgres() && len(args) == auditEventCols {
		if _, err := tx.ExecContext(ctx, `WITH ev AS (`+insert+valueRows(1, auditEventCols)+`) `+head, append(slices.Clip(args), seq, hash)...); err != nil {
			return fmt.Errorf("insert audit event: %w", err)
		}
		return nil
	}
	if err := insertRows(ctx, tx, insert, auditEventCols, args); err != nil {
		return fmt.Errorf("insert audit events: %w", err)
	}
	var err error
	if tx.postgres() {
		_, err = tx.ExecContext(ctx, head, seq, hash)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE audit_head SET hash = ? WHERE id = 1`, hash)
	}
	if err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	return nil
}

// txQueryRow runs a single-row query within tx (prepared once, see
// txConn.QueryRowContext).
func txQueryRow(ctx context.Context, tx txConn, q string, args ...any) row {
	return tx.QueryRowContext(ctx, q, args...)
}

// AppendAudit appends one audit event in its own transaction and fills in
// a.Record's Seq, PrevHash and Hash.
func (s *Store) AppendAudit(ctx context.Context, a *AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error { return appendAudit(ctx, tx, a) })
}

// AuditHead returns the seq and hash of the newest audit event as the
// audit_head row records them (0 and AuditGenesisHash for an empty log).
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("audit head: %w", ErrNotFound)
	}
	if err != nil {
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	return seq, hash, nil
}

// AuditFilter selects audit events for ListAudit.
type AuditFilter struct {
	// Newest lists newest first, starting below BeforeSeq (0: from the
	// newest); otherwise oldest first, starting above AfterSeq.
	Newest     bool
	BeforeSeq  int64  // see Newest
	AfterSeq   int64  // see Newest
	ObjectType string // "" for any
	ObjectID   string // "" for any
	Action     string // "" for any
	Limit      int    // 1..1000; default 100
}

const auditCols = `seq, id, at, actor, action, object_type, object_id, source, before, after, prev_hash, hash`

func scanAudit(row interface{ Scan(...any) error }) (*AuditRecord, error) {
	var r AuditRecord
	var at int64
	if err := row.Scan(&r.Seq, &r.ID, &at, &r.Actor, &r.Action, &r.ObjectType, &r.ObjectID, &r.Source, &r.Before, &r.After, &r.PrevHash, &r.Hash); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan audit event: %w", err)
	}
	r.Time = fromTS(at)
	return &r, nil
}

// ListAudit returns one page of audit events selected by f (keyset
// pagination on seq).
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]*AuditRecord, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q, args := listAuditQuery(f)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	defer rows.Close()
	var out []*AuditRecord
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// listAuditQuery is ListAudit's statement and arguments for f (whose
// Limit is set). It names only the filters f sets (one of eight statement
// texts per direction), so that the page of one object's events reads the
// range of audit_events_object (object_type, object_id, seq) in seq order,
// or, without a type, of audit_events_objid (object_id, seq; 00027):
// a filter that also matches when its value is empty ("? = <empty> OR
// object_id = ?") has PostgreSQL's generic
// plan (and SQLite's, which never sees the values) walk the primary key
// and filter every event, as it must also serve an empty ID.
func listAuditQuery(f AuditFilter) (string, []any) {
	q := `SELECT ` + auditCols + ` FROM audit_events WHERE`
	var args []any
	for _, c := range []struct{ col, val string }{{"object_type", f.ObjectType}, {"object_id", f.ObjectID}, {"action", f.Action}} {
		if c.val != "" {
			q += ` ` + c.col + ` = ? AND`
			args = append(args, c.val)
		}
	}
	if f.Newest {
		before := f.BeforeSeq
		if before <= 0 {
			before = 1 << 62
		}
		q += ` seq < ? ORDER BY seq DESC LIMIT ?`
		args = append(args, before, f.Limit)
	} else {
		q += ` seq > ? ORDER BY seq LIMIT ?`
		args = append(args, f.AfterSeq, f.Limit)
	}
	return q, args
}

// EachAudit calls fn with every audit event whose seq is at most maxSeq,
// in seq order, reading in pages; it stops at fn's first error and
// returns it.
func (s *Store) EachAudit(ctx context.Context, maxSeq int64, fn func(*AuditRecord) error) error {
	var after int64
	for {
		page, err := s.ListAudit(ctx, AuditFilter{AfterSeq: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, r := range page {
			if r.Seq > maxSeq {
				return nil
			}
			if err := fn(r); err != nil {
				return err
			}
			after = r.Seq
		}
		if len(page) < 1000 {
			return nil
		}
	}
}
