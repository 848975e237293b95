package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
)

// keyHashMigration is the version of the Go migration that fills
// certificates.key_hash (added by the SQL migration 00017) for the rows
// stored before it.
const keyHashMigration = 18

// keyHashBatch is how many rows the backfill reads and updates per
// transaction: small enough that the SQLite WAL and a PostgreSQL
// transaction stay small, large enough that commits (an fsync each) do not
// dominate.
const keyHashBatch = 2000

// goMigrations are the Go migrations of engine, applied by goose between
// the SQL ones of neighbouring versions.
func goMigrations(engine string) []*goose.Migration {
	return []*goose.Migration{
		// No transaction of goose's: the backfill commits a batch at a
		// time and resumes after a crash where it stopped (rows still
		// NULL). Down has nothing to undo (00017's Down drops the column).
		goose.NewGoMigration(keyHashMigration,
			&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error { return backfillKeyHashes(ctx, db, engine, keyHashBatch) }},
			&goose.GoFunc{RunDB: func(context.Context, *sql.DB) error { return nil }}),
		// Likewise: adds the column key_roca and fills it (roca.go).
		goose.NewGoMigration(keyROCAMigration,
			&goose.GoFunc{RunDB: func(ctx context.Context, db *sql.DB) error { return migrateKeyROCA(ctx, db, engine, keyHashBatch) }},
			&goose.GoFunc{RunDB: dropKeyROCA}),
	}
}

// backfillKeyHashes sets key_hash of every certificate row where it is
// NULL to certKeyHash of its DER (backfillColumn). A row whose DER does
// not parse keeps NULL (it names no key that could be blocked). Figures:
// docs/performance.md.
func backfillKeyHashes(ctx context.Context, db *sql.DB, engine string, batch int) error {
	return backfillColumn(ctx, db, engine, batch, "key_hash", "bytea", "key_hash IS NULL", func(der []byte) ([]byte, bool) {
		h, err := certKeyHash(der)
		return h, err == nil
	})
}

// backfillColumn sets column (of PostgreSQL type pgType) of every
// certificate row matching where to value of its DER, walking the table in
// serial order (the primary key) batch rows at a time, each batch in a
// transaction of its own; rows for which value returns false keep theirs.
// where must exclude the rows it set, so that a run resumed after a crash
// reads only the rest.
func backfillColumn[T any](ctx context.Context, db *sql.DB, engine string, batch int, column, pgType, where string, value func(der []byte) (T, bool)) error {
	bind := func(q string) string { return q }
	if engine == EnginePostgres {
		bind = rebindDollar
	}
	sel := bind(`SELECT serial, der FROM certificates WHERE serial > ? AND ` + where + ` ORDER BY serial LIMIT ?`)
	upd := `UPDATE certificates SET ` + column + ` = ? WHERE serial = ?` // SQLite
	after := ""
	for {
		rows, err := db.QueryContext(ctx, sel, after, batch)
		if err != nil {
			return fmt.Errorf("%s backfill: %w", column, err)
		}
		var serials []string
		var values []T
		n := 0
		for rows.Next() {
			var serial string
			var der []byte
			if err := rows.Scan(&serial, &der); err != nil {
				rows.Close()
				return fmt.Errorf("%s backfill: %w", column, err)
			}
			n++
			after = serial
			if v, ok := value(der); ok {
				serials, values = append(serials, serial), append(values, v)
			}
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("%s backfill: %w", column, err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s backfill: %w", column, err)
		}
		if n == 0 {
			return nil
		}
		if len(values) == 0 {
			continue
		}
		if engine == EnginePostgres {
			// One statement per batch: a round trip per row made the
			// backfill 4 times slower (docs/performance.md).
			if _, err := db.ExecContext(ctx, `UPDATE certificates c SET `+column+` = u.v FROM unnest($1::text[], $2::`+pgType+`[]) AS u(serial, v)
				WHERE c.serial = u.serial`, serials, values); err != nil {
				return fmt.Errorf("%s backfill: %w", column, err)
			}
			continue
		}
		if err := func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback() //nolint:errcheck // after Commit a no-op
			st, err := tx.PrepareContext(ctx, upd)
			if err != nil {
				return err
			}
			defer st.Close()
			for i, v := range values {
				if _, err := st.ExecContext(ctx, v, serials[i]); err != nil {
					return err
				}
			}
			return tx.Commit()
		}(); err != nil {
			return fmt.Errorf("%s backfill: %w", column, err)
		}
	}
}

// keyLockID is the PostgreSQL advisory lock (pg_advisory_xact_lock's
// 64-bit key) of the key whose KeyHash is h: its first 8 bytes. Two keys
// that share it merely wait for each other.
func keyLockID(h []byte) int64 {
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// lockKey takes, on PostgreSQL, the transaction-level advisory lock of the
// key h (keyLockID) in tx; it is released when tx ends. A keyCompromise
// revocation (which blocks the key and revokes its certificates) and
// FinishOrder (which reads the block and stores a certificate of the key)
// both take it before those statements, so at READ COMMITTED the later one
// sees what the earlier one committed: the revocation sees the new
// certificate, or FinishOrder sees the block. SQLite needs none: its
// write transactions run one at a time (BEGIN IMMEDIATE, one writer
// connection), so each sees every earlier one whole.
func (s *Store) lockKey(ctx context.Context, tx txConn, h []byte) error {
	if s.engine != EnginePostgres || len(h) < 8 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, keyLockID(h)); err != nil {
		return fmt.Errorf("key lock: %w", err)
	}
	return nil
}

// fillKeyHashes sets key_hash of the certificates that a keyCompromise
// revocation may change (keyCompromiseRevocable: valid, or revoked for
// another reason) and that were stored without one (index
// certificates_no_key): a node of an older certgate stored them after
// migration 18 filled the column, or their DER does not parse (those keep
// none). RevokeCertificate calls it before a keyCompromise revocation, so
// that the revocation finds them by their key. Each row is one UPDATE of
// its own (idempotent), outside the revocation's transaction, so that
// concurrent revocations hold no row locks of them.
func (s *Store) fillKeyHashes(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, `SELECT serial, der FROM certificates`+s.indexedBy("certificates_no_key")+` WHERE key_hash IS NULL AND `+keyCompromiseRevocable)
	if err != nil {
		return fmt.Errorf("certificates without a key hash: %w", err)
	}
	type fill struct {
		serial string
		hash   []byte
	}
	var fills []fill
	for rows.Next() {
		var serial string
		var der []byte
		if err := rows.Scan(&serial, &der); err != nil {
			rows.Close()
			return fmt.Errorf("certificates without a key hash: %w", err)
		}
		if h, err := certKeyHash(der); err == nil {
			fills = append(fills, fill{serial, h})
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("certificates without a key hash: %w", err)
	}
	for _, f := range fills {
		if _, err := s.lazyExec(ctx, `UPDATE certificates SET key_hash = ? WHERE serial = ? AND key_hash IS NULL`, f.hash, f.serial); err != nil {
			return fmt.Errorf("fill key hash of %s: %w", f.serial, err)
		}
	}
	return nil
}

// indexedBy is " INDEXED BY index" on SQLite, "" on PostgreSQL: for a
// query that must use index, which SQLite's planner, without statistics,
// may pass over for another index on the same table (here
// certificates_status_not_after, a scan of every valid certificate).
// PostgreSQL's planner chooses by its statistics.
func (s *Store) indexedBy(index string) string {
	if s.engine == EnginePostgres {
		return ""
	}
	return " INDEXED BY " + index
}
