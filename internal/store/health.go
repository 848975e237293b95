package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/certgate/certgate/internal/acme"
)

// Queries for readiness and metrics (docs/operations.md, "Metrics and
// health"); each is cheap at any database size.

// pingQuery reads the root page of a table of certgate's schema (settings:
// a handful of rows), so that answering it needs the database's pages and
// not only a connection (SELECT 1 reads none).
const pingQuery = `SELECT EXISTS (SELECT 1 FROM settings)`

// Ping checks that the database can serve within ctx: it answers a query
// that reads a real table page (pingQuery). On PostgreSQL the query runs on
// the pool. On SQLite it also checks that the file at the store's path is
// still the one the store opened (not deleted or replaced), and runs the
// query on a connection opened for it, read-only, so that the pages come
// from the file (and its WAL) and not from a pooled connection's page
// cache: a database file that was truncated, overwritten or made
// unreadable fails, while the pooled connections might still answer from
// their caches and open file descriptors. Each Ping on SQLite costs one
// connection open and a schema parse (about 0.5 ms on a 2-core machine). It fails
// once the store is closed.
//
// On SQLite, Ping also fails, wrapping ErrNotDurable, once an fsync of the
// WAL has failed (final for the process: see walSyncer.await), and,
// wrapping ErrNoSpace, while the database's file system has less than
// minFreeBytes free for the process (statfs(2)): the database answers
// reads but stores nothing.
func (s *Store) Ping(ctx context.Context) error {
	db := s.r.db
	if s.probe != nil {
		if err := s.probe.check(); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		if err := s.wal.failure(); err != nil {
			return fmt.Errorf("ping: %w: %w", ErrNotDurable, err)
		}
		if err := s.probe.checkSpace(); err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		db = s.probe.db
	}
	var ok bool
	if err := db.QueryRowContext(ctx, pingQuery).Scan(&ok); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Errors Ping wraps when a SQLite database can be read but stores nothing.
var (
	// ErrNotDurable: an fsync of the WAL failed; nothing committed since is
	// known to be on disk until the process restarts.
	ErrNotDurable = errors.New("an fsync of the database's WAL failed: commits are not known durable until certgate restarts")
	// ErrNoSpace: the database's file system is (nearly) full.
	ErrNoSpace = errors.New("the database's file system is full")
)

// minFreeBytes is the free space below which Ping reports ErrNoSpace: room
// for a few hundred WAL frames (pages of 4 KiB), more than an issuance
// writes.
const minFreeBytes = 1 << 20

// Pools returns the store's database/sql connection pools by role, for
// their statistics (sql.DB.Stats): "writer" and "reader" on SQLite;
// "pool" and "nonce" (the sessions that record used nonces, Store.async)
// on PostgreSQL. Callers must not query or close them.
func (s *Store) Pools() map[string]*sql.DB {
	if s.r == s.w {
		pools := map[string]*sql.DB{"pool": s.w.db}
		if s.async != nil {
			pools["nonce"] = s.async.db
		}
		return pools
	}
	return map[string]*sql.DB{"writer": s.w.db, "reader": s.r.db}
}

// CountPendingApprovals returns how many approvals wait for a decision:
// a range count on the approvals_status_keyset index (migration 00026).
func (s *Store) CountPendingApprovals(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM approvals WHERE status = ?`, ApprovalPending).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending approvals: %w", err)
	}
	return n, nil
}

// CountCertificatesByExpiry counts the unrevoked certificates of the
// inventory (issued, imported and discovered) by notAfter, leaving out,
// as the expiring report does (Query.NotReplaced), those whose ARI
// replacement (RFC 9773: the certificate of the order that named them in
// "replaces") has been issued and is valid: for ascending bounds
// b[0] < b[1] < ... < b[n] it returns n counts, the i-th of the
// certificates with b[i] <= notAfter < b[i+1]. One statement
// (expiryCountSQL): a range scan of the certificates_status_not_after
// index from b[0] to b[n] that covers its count (no certificate row is
// read), less the renewed ones in that range, found by the partial index
// certificates_replaced_not_after (two primary-key lookups each, the order
// and its certificate), and the discovered certificates superseded at their
// endpoint by a valid certificate (FinishScan; partial index
// certificates_superseded_not_after, one lookup each); so the cost grows
// with the certificates in the window, not with the table.
func (s *Store) CountCertificatesByExpiry(ctx context.Context, bounds []time.Time) ([]int64, error) {
	if len(bounds) < 2 {
		return nil, fmt.Errorf("count certificates by expiry: need at least two bounds")
	}
	n := len(bounds) - 1
	args := make([]any, 0, 3*(n+3))
	for range 3 {
		for i := range n {
			args = append(args, ts(bounds[i+1]))
		}
		args = append(args, acme.StatusValid, ts(bounds[0]), ts(bounds[n]))
	}
	cum := make([]int64, n)
	dest := make([]any, n)
	for i := range cum {
		dest[i] = &cum[i]
	}
	if err := s.r.QueryRowContext(ctx, s.expiryCountSQL(n), args...).Scan(dest...); err != nil {
		return nil, fmt.Errorf("count certificates by expiry: %w", err)
	}
	out := make([]int64, n)
	for i := range cum {
		out[i] = cum[i]
		if i > 0 {
			out[i] -= cum[i-1]
		}
	}
	return out, nil
}

// expiryCountSQL is the statement of CountCertificatesByExpiry for n
// windows. Column i counts notAfter < b[i+1] from b[0] on: all unrevoked
// certificates (subquery t) less those whose replacement was issued and is
// valid (subquery r) and those superseded at their endpoint by a valid
// certificate (subquery s, partial index certificates_superseded_not_after;
// r and s: the complement of the report's NotReplaced condition).
// Its arguments, three times (t, r, then s): b[1..n], "valid", b[0], b[n].
func (s *Store) expiryCountSQL(n int) string {
	var q strings.Builder
	sums := func() {
		for i := range n {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "COALESCE(SUM(CASE WHEN not_after < ? THEN 1 ELSE 0 END), 0) AS n%d", i)
		}
	}
	q.WriteString("SELECT ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "t.n%d - r.n%d - s.n%d", i, i, i)
	}
	q.WriteString(" FROM (SELECT ")
	sums()
	q.WriteString(" FROM certificates WHERE status = ? AND not_after >= ? AND not_after < ?) t, (SELECT ")
	sums()
	q.WriteString(" FROM certificates c" + s.indexedBy("certificates_replaced_not_after") +
		` WHERE c.replaced_at <> 0 AND c.status = ? AND c.not_after >= ? AND c.not_after < ?
		AND EXISTS (SELECT 1 FROM orders ro JOIN certificates rc ON rc.serial = ro.cert_serial WHERE ro.id = c.replaced_by AND rc.status = 'valid')) r, (SELECT `)
	sums()
	// Those counted in r already are left out of s.
	q.WriteString(" FROM certificates c" + s.indexedBy("certificates_superseded_not_after") +
		` WHERE c.superseded_by <> '' AND c.status = ? AND c.not_after >= ? AND c.not_after < ?
		AND EXISTS (SELECT 1 FROM certificates sc WHERE sc.serial = c.superseded_by AND sc.status = 'valid')
		AND NOT (c.replaced_at <> 0 AND EXISTS (SELECT 1 FROM orders ro JOIN certificates rc ON rc.serial = ro.cert_serial
			WHERE ro.id = c.replaced_by AND rc.status = 'valid'))) s`)
	return q.String()
}

// sqliteProbe is what Ping reads on SQLite: the database file as opened,
// and a read-only database/sql pool that keeps no idle connection, so that
// each query opens the file anew.
//
// The probe reads the file's header through one descriptor, f, opened with
// the store and closed only after SQLite's connections (close). Opening and
// closing a descriptor of the database file per probe would be wrong:
// closing any descriptor of a file drops every POSIX advisory (fcntl) lock
// the process holds on it (POSIX.1-2008 fcntl, "all locks ... shall be
// removed"), so the SHARED locks SQLite's connections hold would be gone
// after the first /readyz, and another process (the CLI, `sqlite3
// .backup`) closing its connection would believe it the last one, then
// checkpoint and delete the -wal and -shm files under the running server,
// which goes on with the deleted ones and no longer sees what the others
// write (https://sqlite.org/howtocorrupt.html §2.2).
type sqliteProbe struct {
	path   string
	f      *os.File    // the database file, read by check; closed by close
	file   os.FileInfo // the file at path when the store opened it
	db     *sql.DB
	statfs func(path string, st *unix.Statfs_t) error // unix.Statfs; tests replace it
}

func newSQLiteProbe(path string) (*sqliteProbe, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// mode=ro: a deleted file is an error, not a new empty database.
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=ro&_pragma=busy_timeout(1000)"))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open sqlite probe: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(0)
	return &sqliteProbe{path: path, f: f, file: fi, db: db, statfs: unix.Statfs}, nil
}

// close closes the probe's pool and then its descriptor of the database
// file. Call it after every other SQLite connection of the store is closed:
// closing the descriptor drops the process's locks on the file (see
// sqliteProbe).
func (p *sqliteProbe) close() error {
	return errors.Join(p.db.Close(), p.f.Close())
}

// checkSpace returns an error wrapping ErrNoSpace when the file system of
// the database has less than minFreeBytes free for this process: the
// blocks available to unprivileged users, or, for root, which SQLite may
// write into the reserved ones too, all free blocks.
func (p *sqliteProbe) checkSpace() error {
	var st unix.Statfs_t
	if err := p.statfs(p.path, &st); err != nil {
		return fmt.Errorf("database file %s: %w", p.path, &os.PathError{Op: "statfs", Path: p.path, Err: err})
	}
	blocks := st.Bavail
	if os.Geteuid() == 0 {
		blocks = st.Bfree
	}
	if free := blocks * uint64(st.Bsize); free < minFreeBytes {
		return fmt.Errorf("%w: %d bytes free for %s", ErrNoSpace, free, p.path)
	}
	return nil
}

// sqliteMagic begins every SQLite database file (the header string,
// https://sqlite.org/fileformat.html §1.3).
const sqliteMagic = "SQLite format 3\x00"

// check returns an error when the file at p.path cannot be read, is not
// the file the store opened (deleted, or replaced by another: the store's
// connections keep using the old one, which is lost at the next start), or
// does not begin with SQLite's header string. It opens no descriptor of
// the file (see sqliteProbe): it compares the file at the path with the
// one opened, asks the kernel whether this process may read it
// (access(2); SQLite keeps its descriptors open and reuses them for new
// connections, so a file made unreadable would otherwise go unnoticed),
// and reads the header through the probe's own descriptor.
func (p *sqliteProbe) check() error {
	fi, err := os.Stat(p.path)
	if err != nil {
		return fmt.Errorf("database file: %w", err)
	}
	if !os.SameFile(fi, p.file) {
		return fmt.Errorf("database file %s was replaced since the store opened it", p.path)
	}
	if err := unix.Faccessat(unix.AT_FDCWD, p.path, unix.R_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("database file %s: %w", p.path, &os.PathError{Op: "access", Path: p.path, Err: err})
	}
	var head [len(sqliteMagic)]byte
	if _, err := p.f.ReadAt(head[:], 0); err != nil {
		return fmt.Errorf("database file %s: read the header: %w", p.path, err)
	}
	if string(head[:]) != sqliteMagic {
		return fmt.Errorf("database file %s: no SQLite header", p.path)
	}
	return nil
}
