package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// accountStatusesSQL and blockedKeysAmongSQL are the SQLite statements of
// AccountStatuses and BlockedKeysAmong: the ids, or the key hashes in hex,
// as one JSON array argument (json_each), so that one prepared statement
// serves any number of them; each row is found by primary key.
const (
	accountStatusesSQL  = `SELECT id, status FROM accounts WHERE id IN (SELECT value FROM json_each(?))`
	blockedKeysAmongSQL = `SELECT spki_sha256, blocked_at, serial, reason FROM blocked_keys WHERE spki_sha256 IN (SELECT unhex(value) FROM json_each(?))`
)

// AccountStatuses returns, in one statement, the status (acme.StatusValid,
// acme.StatusDeactivated, acme.StatusRevoked) of each account of ids that
// exists, by id; an unknown id is absent from the map. For a sweep over
// many rows that each name an account (RA.sweepApprovals): one read
// instead of one GetAccount per account. Duplicates in ids are read once;
// no ids, no read.
func (s *Store) AccountStatuses(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) == 0 {
		return out, nil
	}
	q, arg := accountStatusesSQL, any(nil)
	if s.engine == EnginePostgres {
		q, arg = `SELECT id, status FROM accounts WHERE id = ANY(?::text[])`, ids
	} else {
		j, err := json.Marshal(ids)
		if err != nil {
			return nil, fmt.Errorf("account statuses: %w", err)
		}
		arg = string(j)
	}
	err := s.readerRows(ctx, q, arg, func(rows *sql.Rows) error {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return err
		}
		out[id] = status
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("account statuses: %w", err)
	}
	return out, nil
}

// BlockedKeysAmong returns, in one statement, those of the keys hashes
// (each a KeyHash: SHA-256 of a DER SubjectPublicKeyInfo, 32 bytes) that
// are blocked (GetBlockedKey), by string(hash); a key that is not blocked
// is absent from the map. For a sweep over many CSRs (RA.sweepApprovals):
// one read of the primary key per key, in one round trip, instead of one
// GetBlockedKey each. Duplicates are read once; no hashes, no read.
func (s *Store) BlockedKeysAmong(ctx context.Context, hashes [][]byte) (map[string]*BlockedKey, error) {
	out := make(map[string]*BlockedKey, len(hashes))
	hs := slices.CompactFunc(slices.SortedFunc(slices.Values(hashes), func(a, b []byte) int { return slices.Compare(a, b) }),
		func(a, b []byte) bool { return slices.Equal(a, b) })
	if len(hs) == 0 {
		return out, nil
	}
	q, arg := blockedKeysAmongSQL, any(nil)
	if s.engine == EnginePostgres {
		q, arg = `SELECT spki_sha256, blocked_at, serial, reason FROM blocked_keys WHERE spki_sha256 = ANY(?::bytea[])`, hs
	} else {
		hexes := make([]string, len(hs))
		for i, h := range hs {
			hexes[i] = hex.EncodeToString(h)
		}
		j, err := json.Marshal(hexes)
		if err != nil {
			return nil, fmt.Errorf("blocked keys: %w", err)
		}
		arg = string(j)
	}
	err := s.readerRows(ctx, q, arg, func(rows *sql.Rows) error {
		var b BlockedKey
		var at int64
		if err := rows.Scan(&b.SPKISHA256, &at, &b.Serial, &b.Reason); err != nil {
			return err
		}
		b.BlockedAt = fromTS(at)
		out[string(b.SPKISHA256)] = &b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blocked keys: %w", err)
	}
	return out, nil
}

// readerRows runs query q with arg on the readers' pool, not hot: a read
// of up to a sweep's batch of rows should not hold SQLite's writer
// connection; row is called for each row and its error ends the read.
func (s *Store) readerRows(ctx context.Context, q string, arg any, row func(*sql.Rows) error) error {
	rows, err := s.r.QueryContext(ctx, q, arg)
	if err != nil {
		return err
	}
	for rows.Next() {
		if err := row(rows); err != nil {
			rows.Close()
			return err
		}
	}
	return errors.Join(rows.Err(), rows.Close())
}

// unusableAuthzsSQL is the SQLite statement of UnusableAuthorizations: the
// order ids as one JSON array argument (json_each), each order's
// authorizations by primary key from its authz_ids.
var unusableAuthzsSQL = `SELECT o.id, ` + prefixCols("z.", authzCols) + ` FROM orders o, json_each(o.authz_ids) j
	JOIN authorizations z ON z.id = j.value
	WHERE o.id IN (SELECT value FROM json_each(?)) AND (z.status NOT IN ('pending', 'valid') OR z.expires_at <= ?)`

// UnusableAuthorizations returns, in one statement, for each order of
// orderIDs that has one, an authorization of the order that makes it
// invalid at now (RFC 8555 §7.1.6): invalid, deactivated, revoked, or
// pending or valid but expired by now, by order id; an order without such
// an authorization, or that does not exist, is absent. For the approval sweep over many orders awaiting
// approval (RA.sweepApprovals). Duplicates are read once; no ids, no
// read.
func (s *Store) UnusableAuthorizations(ctx context.Context, orderIDs []string, now time.Time) (map[string]*Authorization, error) {
	out := make(map[string]*Authorization, len(orderIDs))
	ids := slices.Compact(slices.Sorted(slices.Values(orderIDs)))
	if len(ids) == 0 {
		return out, nil
	}
	q, arg := unusableAuthzsSQL, any(nil)
	if s.engine == EnginePostgres {
		q = `SELECT o.id, ` + prefixCols("z.", authzCols) + ` FROM orders o
			CROSS JOIN LATERAL json_array_elements_text(CASE WHEN json_typeof(o.authz_ids::json) = 'array' THEN o.authz_ids::json ELSE '[]' END) AS j(value)
			JOIN authorizations z ON z.id = j.value
			WHERE o.id = ANY(?::text[]) AND (z.status NOT IN ('pending', 'valid') OR z.expires_at <= ?)`
		arg = ids
	} else {
		j, err := json.Marshal(ids)
		if err != nil {
			return nil, fmt.Errorf("unusable authorizations: %w", err)
		}
		arg = string(j)
	}
	rows, err := s.r.QueryContext(ctx, q, arg, ts(now))
	if err != nil {
		return nil, fmt.Errorf("unusable authorizations: %w", err)
	}
	for rows.Next() {
		var orderID string
		az, err := scanAuthz(prefixedRow{rows, &orderID})
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("unusable authorizations: %w", err)
		}
		if _, seen := out[orderID]; !seen {
			out[orderID] = az
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("unusable authorizations: %w", err)
	}
	return out, nil
}

// prefixedRow scans a row whose first column is read into first and whose
// other columns are those the caller's Scan asks for.
type prefixedRow struct {
	rows  *sql.Rows
	first any
}

func (r prefixedRow) Scan(dest ...any) error {
	return r.rows.Scan(append([]any{r.first}, dest...)...)
}
