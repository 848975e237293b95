package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

func checkOne(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n != 1 {
		return fmt.Errorf("%s: %w", what, ErrStale)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ---- orders and authorizations ----

// CreateOrder inserts o and the new authorizations (with their challenges)
// in one transaction. o.AuthzIDs must already list every authorization of
// the order, reused or new. The spends (nil ones skipped) are made last,
// in the same transaction, so that the buckets are spent exactly when the
// order is stored; ErrRateLimited (nothing written) when one is refused.
func (s *Store) CreateOrder(ctx context.Context, o *Order, newAuthzs []*Authorization, spends ...*RateSpend) error {
	return s.pointTx(ctx, func(tx txConn) error {
		if err := s.insertNewAuthzs(ctx, tx, o.AccountID, newAuthzs); err != nil {
			return err
		}
		if err := s.insertOrder(ctx, tx, o); err != nil {
			return err
		}
		return s.spendRates(ctx, tx, spends)
	})
}

// insertNewAuthzs inserts the new authorizations of an order of account
// accountID (insertAuthz) before the order; on PostgreSQL the first insert
// also takes the account's advisory lock shared (shareAccountLock), for
// the order's account check (insertOrder) to come after any deactivation
// of the account under way has committed. An order without new
// authorizations (all reused) takes the lock in a statement of its own:
// its deactivation cancels ready orders too (cancelPending).
func (s *Store) insertNewAuthzs(ctx context.Context, tx txConn, accountID string, azs []*Authorization) error {
	if len(azs) == 0 && s.engine == EnginePostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared(?::integer, ?::integer)`, int32(accountLockClass), accountLockKey(accountID)); err != nil {
			return fmt.Errorf("account lock: %w", err)
		}
		return nil
	}
	for i, a := range azs {
		if err := insertAuthz(ctx, tx, a, s.engine == EnginePostgres && i == 0); err != nil {
			return err
		}
	}
	return nil
}

// The account lock, on PostgreSQL: a transaction-level advisory lock per
// account (the two-key form, in a keyspace of its own: class "acct" and a
// 32-bit hash of the account ID; accounts that share a hash merely wait
// for each other's deactivation). A deactivation takes it exclusively
// before anything else (lockAccount); an order's transaction takes it
// shared before its account check (insertOrder): in the first insert of
// a new authorization (insertAuthz with shareLock), or in a statement of
// its own when it reuses all its authorizations (insertNewAuthzs). So
// either the order took it first, and the deactivation, waiting for the
// order's transaction to end, then sees and cancels the order and its
// authorizations (cancelPending); or the
// deactivation did, and the order's account check, a statement that
// starts once the deactivation has committed, finds the account
// deactivated and stores nothing. Orders of one account share the lock:
// they never wait for each other, and lock no account row. SQLite needs
// none: its write transactions run one at a time.
const (
	accountLockClass = 0x61636374 // "acct"
	lockAccountSQL   = `SELECT pg_advisory_xact_lock(?::integer, ?::integer)`
	shareAccountLock = `(SELECT pg_advisory_xact_lock_shared(?::integer, ?::integer)) account_lock`
)

// accountLockKey is the second key of account id's lock (see
// accountLockClass): the FNV-1a hash of the ID.
func accountLockKey(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32())
}

// lockAccount takes, on PostgreSQL, account id's lock exclusively in tx
// (see accountLockClass): the first statement of a transaction that
// deactivates the account and cancels its pending operations.
func (s *Store) lockAccount(ctx context.Context, tx txConn, id string) error {
	if s.engine != EnginePostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, lockAccountSQL, int32(accountLockClass), accountLockKey(id)); err != nil {
		return fmt.Errorf("account lock: %w", err)
	}
	return nil
}

// insertAuthz inserts a and its challenges. With shareLock (PostgreSQL
// only) the insert also takes a's account's lock shared (see
// accountLockClass).
func insertAuthz(ctx context.Context, tx txConn, a *Authorization, shareLock bool) error {
	const cols = `INSERT INTO authorizations (id, account_id, ident_type, ident_value, wildcard, status, expires_at, validated_at, created_at, profile) `
	q, vals := cols+`VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{a.ID, a.AccountID, a.Identifier.Type, a.Identifier.Value, a.Wildcard, a.Status,
		ts(a.Expires), ts(a.ValidatedAt), ts(a.CreatedAt), a.Profile}
	if shareLock {
		q, vals = cols+`SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM `+shareAccountLock, append(vals, int32(accountLockClass), accountLockKey(a.AccountID))
	}
	if _, err := tx.ExecContext(ctx, q, vals...); err != nil {
		return fmt.Errorf("insert authorization: %w", err)
	}
	// One multi-row INSERT for the (usually three) challenges.
	args := make([]any, 0, 7*len(a.Challenges))
	for _, c := range a.Challenges {
		args = append(args, c.ID, a.ID, c.Type, c.Token, c.Status, ts(c.ValidatedAt), ts(c.UpdatedAt))
	}
	if err := insertRows(ctx, tx, `INSERT INTO challenges (id, authz_id, type, token, status, validated_at, updated_at) VALUES `, 7, args); err != nil {
		return fmt.Errorf("insert challenge: %w", err)
	}
	return nil
}

// The insert of one order, only while its account is valid: the row is
// selected from the account's, so an account deactivated meanwhile (by
// another node, whose account cache the deactivating one cannot clear, or
// by the CLI) inserts nothing once the deactivation has committed. On
// PostgreSQL the same statement locks the stored row of the profile its
// last argument names FOR KEY SHARE (shareProfile): one round trip, as
// before the check. An order with new authorizations took its account's
// lock shared before (insertNewAuthzs), so that a deactivation being
// committed meanwhile either sees its authorizations or is seen here.
const (
	insertOrderInto = `INSERT INTO orders (id, account_id, status, expires_at, identifiers, authz_ids, not_before, not_after, cert_serial, replaces, created_at, updated_at, profile, attributes) `
	insertOrderSQL  = insertOrderInto + `SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
		FROM accounts WHERE id = ? AND status = 'valid'`
	insertOrderPG = insertOrderInto + `SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
		FROM (SELECT 1 FROM accounts WHERE id = ? AND status = 'valid') account_row
		LEFT JOIN (` + shareProfileSQL + `) profile_row ON true`
)

// insertOrder inserts o (its cert_serial NULL when CertSerial is empty),
// locking its profile's row (shareProfile). ErrAccountNotValid, and
// nothing inserted, when o's account is not valid (deactivated or
// revoked, RFC 8555 §7.3.6) or does not exist.
func (s *Store) insertOrder(ctx context.Context, tx txConn, o *Order) error {
	idents, _ := json.Marshal(o.Identifiers)
	authzIDs, _ := json.Marshal(o.AuthzIDs)
	var serial, replaces any
	if o.CertSerial != "" {
		serial = o.CertSerial
	}
	if o.Replaces != "" {
		replaces = o.Replaces
	}
	q, args := insertOrderSQL, []any{o.ID, o.AccountID, o.Status, ts(o.Expires), string(idents), string(authzIDs),
		ts(o.NotBefore), ts(o.NotAfter), serial, replaces, ts(o.CreatedAt), ts(o.UpdatedAt), o.Profile, marshalAttributes(o.Attributes),
		o.AccountID}
	if s.engine == EnginePostgres {
		q, args = insertOrderPG, append(args, profileRow(o.Profile))
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("insert order: %w", err)
	} else if n != 1 {
		return fmt.Errorf("insert order: account %s: %w", o.AccountID, ErrAccountNotValid)
	}
	return nil
}

// insertCertificate inserts c with its inventory name and attribute rows
// (inventory.go); ErrConflict for a duplicate serial or fingerprint. When
// c.Replaces is empty, the certificate its order claimed (replaced_by, RFC
// 9773) is recorded as the one it replaces. ch (Store.chainOf, may be nil)
// is c's issuer chain, stored once (chains.go). A certificate without an
// order locks its profile's row first (shareProfile); one of an order
// needs not: the order, which names the profile, is stored already.
func (s *Store) insertCertificate(ctx context.Context, tx txConn, c *Certificate, ch *newChain) error {
	if c.OrderID == "" {
		if err := s.shareProfile(ctx, tx, c.Profile); err != nil {
			return err
		}
	}
	chainPEM, chainID := c.ChainPEM, any(nil)
	if ch != nil {
		id, err := insertChain(ctx, tx, ch)
		if err != nil {
			return err
		}
		chainPEM, chainID = "", id
	}
	sans, _ := json.Marshal(nonNil(c.SANs))
	attrs, _ := json.Marshal(nonNilMap(c.Attributes))
	profile, source := c.Profile, c.Source
	if profile == "" {
		profile = DefaultProfile
	}
	if source == "" {
		source = SourceIssued
	}
	var revokedAt int64
	reason := 0
	if c.Status == StatusRevoked {
		revokedAt, reason = ts(c.RevokedAt), c.RevocationReason
	}
	q := `INSERT INTO certificates (serial, issuer, order_id, account_id, der, chain_pem, sans, key_type, fingerprint_sha256, not_before, not_after, status, created_at,
		profile, key_bits, signature_algorithm, source, attributes, replaces_serial, chain_id, key_hash, revoked_at, revocation_reason, key_roca)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(NULLIF(?, ''), (SELECT serial FROM certificates WHERE replaced_by = ? LIMIT 1)), ?, ?, ?, ?, ?)`
	args := []any{c.Serial, c.Issuer, nullable(c.OrderID), nullable(c.AccountID), c.DER, chainPEM, string(sans), c.KeyType,
		c.FingerprintSHA256, ts(c.NotBefore), ts(c.NotAfter), c.Status, ts(c.CreatedAt),
		profile, c.KeyBits, c.SignatureAlgorithm, source, string(attrs), c.Replaces, c.OrderID, chainID, keyHashArg(keyHashOf(c)), revokedAt, reason, keyROCA(c.KeyType, c.DER)}
	// On PostgreSQL the name rows go in the same statement (one round
	// trip): the names' foreign key is checked at the statement's end.
	names := certificateNameArgs(c)
	together := tx.postgres() && len(names) > 0 && len(names)/3 <= maxInsertRows
	if together {
		q = `WITH c AS (` + q + `) ` + insertCertificateNames + valueRows(len(names)/3, 3)
		args = append(args, names...)
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("certificate %s: %w", c.Serial, ErrConflict)
		}
		return fmt.Errorf("insert certificate: %w", err)
	}
	if together {
		return insertAttributeRows(ctx, tx, c)
	}
	return insertInventoryRows(ctx, tx, c)
}

const orderCols = `id, account_id, status, expires_at, identifiers, authz_ids, not_before, not_after, error, cert_serial, replaces, created_at, updated_at, profile, attributes`

func scanOrder(row interface{ Scan(...any) error }) (*Order, error) {
	var o Order
	var expires, nb, na, created, updated int64
	var idents, authzIDs, attrs string
	var perr, serial, replaces *string
	if err := row.Scan(&o.ID, &o.AccountID, &o.Status, &expires, &idents, &authzIDs, &nb, &na, &perr, &serial, &replaces, &created, &updated, &o.Profile, &attrs); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan order: %w", err)
	}
	o.Expires, o.NotBefore, o.NotAfter, o.CreatedAt, o.UpdatedAt = fromTS(expires), fromTS(nb), fromTS(na), fromTS(created), fromTS(updated)
	if serial != nil {
		o.CertSerial = *serial
	}
	if replaces != nil {
		o.Replaces = *replaces
	}
	if err := json.Unmarshal([]byte(idents), &o.Identifiers); err != nil {
		return nil, fmt.Errorf("order identifiers: %w", err)
	}
	if err := json.Unmarshal([]byte(authzIDs), &o.AuthzIDs); err != nil {
		return nil, fmt.Errorf("order authorizations: %w", err)
	}
	p, err := unmarshalProblem(perr)
	if err != nil {
		return nil, fmt.Errorf("order error: %w", err)
	}
	o.Error = p
	if o.Attributes, err = unmarshalAttributes(attrs); err != nil {
		return nil, fmt.Errorf("order attributes: %w", err)
	}
	return &o, nil
}

// GetOrder returns the order with id, or ErrNotFound.
func (s *Store) GetOrder(ctx context.Context, id string) (o *Order, err error) {
	err = s.hot(ctx, func(q querier) error {
		o, err = scanOrder(q.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE id = ?`, id))
		return err
	})
	return o, err
}

// GetOrderAuthorizations returns the order with id and its authorizations
// (as GetAuthorizations: in the order of its AuthzIDs, without
// challenges), read together: GetOrder and GetAuthorizations in one read
// job. ErrNotFound (and a nil order) when there is no such order; when the
// order was read but its authorizations could not be (ErrNotFound when one
// is missing), the order comes with the error.
func (s *Store) GetOrderAuthorizations(ctx context.Context, id string) (o *Order, authzs []*Authorization, err error) {
	var authzErr error
	err = s.hot(ctx, func(q querier) error {
		if o, err = scanOrder(q.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE id = ?`, id)); err != nil {
			return err
		}
		if len(o.AuthzIDs) > 0 {
			authzs, authzErr = getAuthorizations(ctx, q, o.AuthzIDs)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if authzErr != nil {
		return o, nil, fmt.Errorf("order %s: %w", id, authzErr)
	}
	return o, authzs, nil
}

// listOrdersSQL is the orders list: the index orders_account (account_id,
// created_at, id) gives the rows in keyset order, from the entry position
// on (listOrdersFrom; the row-value comparison is a range of the index on
// both engines, where the equivalent OR form made SQLite seek to the
// account's first order and step over every order before the cursor);
// expiry and status are checked on the rows it finds.
const listOrdersSQL = `SELECT ` + orderCols + ` FROM orders
	WHERE account_id = ? AND (created_at, id) > (?, ?) AND expires_at > ? AND status <> 'invalid'
	ORDER BY created_at, id LIMIT ?`

// listOrdersArgs are listOrdersSQL's arguments for ListACMEOrders' call.
// The index is entered at the cursor or, when that is earlier, at the
// first order created at notExpiredAfter - MaxOrderLifetime: every order
// created before then expired by notExpiredAfter, so a first page (cursor
// zero) does not step over the account's whole history of expired orders,
// only over those of the last MaxOrderLifetime.
func listOrdersArgs(accountID string, afterCreated time.Time, afterID string, notExpiredAfter time.Time, limit int) []any {
	if floor := notExpiredAfter.Add(-MaxOrderLifetime); afterCreated.Before(floor) {
		// (created_at, id) > (floor, ""): created_at >= floor, as IDs are
		// never empty; an order created at floor expired by
		// notExpiredAfter at the latest and is left out by expires_at.
		afterCreated, afterID = floor, ""
	}
	return []any{accountID, ts(afterCreated), afterID, ts(notExpiredAfter), limit}
}

// ListACMEOrders returns up to limit of accountID's orders created after
// the cursor position (afterCreated, afterID), oldest first, for keyset
// pagination of the account's ACME orders list (RFC 8555 §7.1.2.1; the
// admin API lists every order with ListOrders). It leaves
// out orders that expired before notExpiredAfter and orders stored as
// invalid (the list SHOULD NOT include invalid orders); a pending order
// whose authorizations make it invalid (ra.OrderStatus) is returned, for
// the caller to judge with its authorizations. Its cost does not grow with
// the account's history: it reads the index from the cursor or from
// notExpiredAfter - MaxOrderLifetime, whichever is later (orders that
// outlive MaxOrderLifetime are left out once that old).
func (s *Store) ListACMEOrders(ctx context.Context, accountID string, afterCreated time.Time, afterID string, notExpiredAfter time.Time, limit int) ([]*Order, error) {
	rows, err := s.r.QueryContext(ctx, listOrdersSQL, listOrdersArgs(accountID, afterCreated, afterID, notExpiredAfter, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	var out []*Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			return nil, fmt.Errorf("list orders: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return out, nil
}

// SetOrderStatus moves order id from stored status from to to, also setting
// its error (may be nil). ErrStale when the stored status is not from.
func (s *Store) SetOrderStatus(ctx context.Context, id, from, to string, perr *acme.Problem, now time.Time) error {
	pj, err := marshalProblem(perr)
	if err != nil {
		return fmt.Errorf("order error: %w", err)
	}
	// An order leaving processing leaves its node behind: a node not yet
	// upgraded moves an order back to processing without recording one,
	// and a node kept from before would have AbandonedOrders fail the
	// order while that node issues it.
	q := `UPDATE orders SET status = ?, error = ?, updated_at = ?, processing_node = '' WHERE id = ? AND status = ?`
	if to == acme.StatusProcessing {
		q = `UPDATE orders SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status = ?`
	}
	res, err := s.pointExec(ctx, q, to, pj, ts(now), id, from)
	return checkOne(res, err, "set order status")
}

// ProcessingOrders returns the IDs of orders whose stored status is
// processing and that were last updated before before (orders left
// processing by a crash). The status is a literal so that the partial index
// orders_processing answers the query.
func (s *Store) ProcessingOrders(ctx context.Context, before time.Time) ([]string, error) {
	return s.ids(ctx, processingOrdersSQL, ts(before))
}

// Queries answered by a partial index (migration 00014): each repeats the
// index's condition on status with the same literal, without which neither
// engine can use the index (statusindex_internal_test.go checks SQLite's
// plans).
const (
	processingOrdersSQL = `SELECT id FROM orders WHERE status = 'processing' AND updated_at < ?` // orders_processing
	findValidAuthzSQL   = `SELECT ` + authzCols + ` FROM authorizations
		WHERE account_id = ? AND ident_type = ? AND ident_value = ? AND wildcard = ? AND status = 'valid' AND expires_at > ? AND validated_at > ? AND profile = ?
		ORDER BY expires_at DESC LIMIT 1` // authorizations_valid
	countValidAuthzSQL = `SELECT COUNT(*) FROM authorizations WHERE account_id = ? AND ident_type = ? AND ident_value = ? AND status = 'valid' AND expires_at > ?` // authorizations_valid
	// countValidWildcardAuthzSQL: countValidAuthzSQL for a wildcard name,
	// whose authorizations are those with wildcard true.
	countValidWildcardAuthzSQL = `SELECT COUNT(*) FROM authorizations WHERE account_id = ? AND ident_type = ? AND ident_value = ? AND wildcard = ? AND status = 'valid' AND expires_at > ?` // authorizations_valid
	// revokedCertsSQL: the records of an issuer DN (with their DER), then
	// those of an issuer name; each part a range of certificates_revoked
	// (SQLite plans "issuer IN (?, ?)" on certificates_status_not_after,
	// every issuer's revoked certificates).
	revokedCertsSQL = `SELECT serial, revoked_at, revocation_reason, der FROM certificates WHERE issuer = ? AND status = 'revoked' AND not_after > ?
		UNION ALL SELECT serial, revoked_at, revocation_reason, NULL FROM certificates WHERE issuer = ? AND status = 'revoked' AND not_after > ?`
	// revokedCertsDERSQL is revokedCertsSQL with the DER of the issuer
	// name's records too (CRLContentsDER).
	revokedCertsDERSQL = `SELECT serial, revoked_at, revocation_reason, der, 0 FROM certificates WHERE issuer = ? AND status = 'revoked' AND not_after > ?
		UNION ALL SELECT serial, revoked_at, revocation_reason, der, 1 FROM certificates WHERE issuer = ? AND status = 'revoked' AND not_after > ?`
)

func (s *Store) ids(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
