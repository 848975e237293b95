package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// ---- accounts ----

// CreateAccount inserts a and appends events (nil ones skipped) to the
// audit log in the same transaction, after the insert, so that the audit
// head's lock (which serializes appends across nodes) is taken only by an
// insert that succeeded. ErrConflict when its key thumbprint is taken
// (nothing is appended then).
func (s *Store) CreateAccount(ctx context.Context, a *Account, events ...*AuditAppend) error {
	insert := func(_ sql.Result, err error) error {
		if isUniqueViolation(err) {
			return fmt.Errorf("account key: %w", ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		return nil
	}
	if !anyAppend(events) {
		return insert(s.pointExec(ctx, insertAccountSQL, accountArgs(a)...))
	}
	return s.pointTx(ctx, func(tx txConn) error {
		if err := insert(tx.ExecContext(ctx, insertAccountSQL, accountArgs(a)...)); err != nil {
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

// anyAppend reports whether one of events is to be appended or has hooks
// (a non-nil one).
func anyAppend(events []*AuditAppend) bool {
	for _, ev := range events {
		if ev != nil {
			return true
		}
	}
	return false
}

const accountCols = `id, key_thumbprint, jwk, status, contact, tos_agreed, created_at, eab_kid, attributes`

func scanAccount(row interface{ Scan(...any) error }) (*Account, error) {
	var a Account
	var jwk, contact, attrs string
	var eabKid *string
	var created int64
	err := row.Scan(&a.ID, &a.KeyThumbprint, &jwk, &a.Status, &contact, &a.TOSAgreed, &created, &eabKid, &attrs)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan account: %w", err)
	}
	a.JWK = []byte(jwk)
	a.CreatedAt = fromTS(created)
	if err := json.Unmarshal([]byte(contact), &a.Contact); err != nil {
		return nil, fmt.Errorf("account contact: %w", err)
	}
	if eabKid != nil {
		a.EABKid = *eabKid
	}
	if a.Attributes, err = unmarshalAttributes(attrs); err != nil {
		return nil, fmt.Errorf("account attributes: %w", err)
	}
	return &a, nil
}

// GetAccount returns the account with id, or ErrNotFound.
func (s *Store) GetAccount(ctx context.Context, id string) (a *Account, err error) {
	err = s.hot(ctx, func(q querier) error {
		a, err = scanAccount(q.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
		return err
	})
	return a, err
}

// GetAccountByThumbprint returns the account whose key has the RFC 7638
// thumbprint tp, or ErrNotFound.
func (s *Store) GetAccountByThumbprint(ctx context.Context, tp string) (*Account, error) {
	return scanAccount(s.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE key_thumbprint = ?`, tp))
}

// UpdateAccount stores a's contact and status, only while the stored status
// is "valid" (ErrStale otherwise, also when there is no such account). A
// nil a.Contact keeps the stored contacts (an update that names none, RFC
// 8555 §7.3.2, must not write back a caller's older copy); a non-nil one,
// empty or not, replaces them.
// Each of events (optional, nil ones skipped) is appended to the audit log
// in the same transaction; their Replaced hooks get the *Account as the
// transaction read it, locked, before the change (one that finds the
// change leaves the row as it was marks its append HooksOnly, and nothing
// is appended for it). Deactivating the account (status
// "deactivated") also cancels its pending operations in that transaction
// (RFC 8555 §7.3.6; cancelPending): its pending authorizations become
// deactivated, so a validation under way ends without making its
// authorization valid, and its pending and ready orders invalid
// (OrderCancelledProblem), updated at the wall clock's now.
func (s *Store) UpdateAccount(ctx context.Context, a *Account, events ...*AuditAppend) error {
	var contact any // NULL: keep
	if a.Contact != nil {
		b, _ := json.Marshal(a.Contact)
		contact = string(b)
	}
	const q = `UPDATE accounts SET contact = COALESCE(?, contact), status = ? WHERE id = ? AND status = 'valid'`
	deactivate := a.Status == acme.StatusDeactivated
	if !anyAppend(events) && !deactivate {
		res, err := s.exec(ctx, q, contact, a.Status, a.ID)
		return checkOne(res, err, "update account")
	}
	return s.tx(ctx, func(tx txConn) error {
		if deactivate {
			if err := s.lockAccount(ctx, tx, a.ID); err != nil {
				return err
			}
		}
		if err := readReplaced(ctx, s, tx, events, scanAccount, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, a.ID); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("update account: %w", ErrStale)
			}
			return fmt.Errorf("update account: %w", err)
		}
		res, err := tx.ExecContext(ctx, q, contact, a.Status, a.ID)
		if err := checkOne(res, err, "update account"); err != nil {
			return err
		}
		if deactivate {
			if err := cancelPending(ctx, tx, a.ID, time.Now()); err != nil {
				return err
			}
		}
		return appendAll(ctx, tx, events)
	})
}

// cancelPending cancels the pending operations of account accountID (RFC
// 8555 §7.3.6: the server SHOULD cancel pending operations authorized by
// the account's key), in the transaction that deactivates the account
// (UpdateAccount, DeactivateAccount), which took the account's lock first
// (lockAccount) so that it also sees those of an order being stored
// meanwhile: its pending authorizations become deactivated, and its
// orders stored as pending (pending or ready, ra.OrderStatus) become
// invalid with OrderCancelledProblem, updated at now. Orders awaiting an
// approver are left to the approval sweep, which rejects them (audited as
// approval.reject).
func cancelPending(ctx context.Context, tx txConn, accountID string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, cancelAuthorizationsSQL, accountID); err != nil {
		return fmt.Errorf("deactivate the account's pending authorizations: %w", err)
	}
	pj, err := marshalProblem(OrderCancelledProblem())
	if err != nil {
		return fmt.Errorf("cancel the account's pending orders: %w", err)
	}
	if _, err := tx.ExecContext(ctx, cancelOrdersSQL, pj, ts(now), accountID, accountID, int64(MaxOrderLifetime)); err != nil {
		return fmt.Errorf("cancel the account's pending orders: %w", err)
	}
	return nil
}

// OrderCancelledProblem is the error of an order cancelled because its
// account was deactivated (RFC 8555 §7.3.6): unauthorized.
func OrderCancelledProblem() *acme.Problem {
	return acme.NewProblem(acme.Unauthorized, "the account was deactivated: its pending orders are cancelled (RFC 8555 §7.3.6)")
}

// The statements of cancelPending. Neither reads beyond the account's own
// rows, nor all of those: the authorizations through the partial index
// authorizations_pending (account_id, expires_at) WHERE status =
// 'pending', whose condition the statement repeats; the orders through
// orders_account (account_id, created_at, id), entered at the account's
// newest order (a reverse step of the same index) less MaxOrderLifetime.
// An order created before then expired before the account's newest order
// was created, so before now (its stored status stays pending; expiry
// makes it invalid, ra.OrderStatus), and the scan covers only the orders
// of the last MaxOrderLifetime however long the account's history
// (statusindex_internal_test.go checks SQLite's plans).
const (
	cancelAuthorizationsSQL = `UPDATE authorizations SET status = 'deactivated' WHERE account_id = ? AND status = 'pending'`
	cancelOrdersSQL         = `UPDATE orders SET status = 'invalid', error = ?, updated_at = ?
		WHERE account_id = ? AND status = 'pending'
		AND created_at >= (SELECT created_at FROM orders WHERE account_id = ? ORDER BY created_at DESC LIMIT 1) - ?`
)

// ChangeAccountKey replaces the key of account id, only if its current
// thumbprint is oldTP and the account is valid (else ErrStale), and appends
// events to the audit log in the same transaction. ErrConflict when newTP
// belongs to another account.
func (s *Store) ChangeAccountKey(ctx context.Context, id, oldTP, newTP string, jwk []byte, events ...*AuditAppend) error {
	const q = `UPDATE accounts SET key_thumbprint = ?, jwk = ? WHERE id = ? AND key_thumbprint = ? AND status = 'valid'`
	change := func(res sql.Result, err error) error {
		if isUniqueViolation(err) {
			return fmt.Errorf("account key: %w", ErrConflict)
		}
		return checkOne(res, err, "change account key")
	}
	if len(events) == 0 {
		return change(s.exec(ctx, q, newTP, string(jwk), id, oldTP))
	}
	return s.tx(ctx, func(tx txConn) error {
		if err := change(tx.ExecContext(ctx, q, newTP, string(jwk), id, oldTP)); err != nil {
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

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
	res, err := s.pointExec(ctx, `UPDATE orders SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status = ?`,
		to, pj, ts(now), id, from)
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

const authzCols = `id, account_id, ident_type, ident_value, wildcard, status, expires_at, validated_at, created_at, profile`

func scanAuthz(row interface{ Scan(...any) error }) (*Authorization, error) {
	var a Authorization
	var exp, val, created int64
	if err := row.Scan(&a.ID, &a.AccountID, &a.Identifier.Type, &a.Identifier.Value, &a.Wildcard, &a.Status, &exp, &val, &created, &a.Profile); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan authorization: %w", err)
	}
	a.Expires, a.ValidatedAt, a.CreatedAt = fromTS(exp), fromTS(val), fromTS(created)
	return &a, nil
}

const challengeCols = `id, authz_id, type, token, status, validated_at, error, attempts, updated_at`

func scanChallenge(row interface{ Scan(...any) error }) (*Challenge, error) {
	var c Challenge
	var val, upd int64
	var perr *string
	if err := row.Scan(&c.ID, &c.AuthzID, &c.Type, &c.Token, &c.Status, &val, &perr, &c.Attempts, &upd); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan challenge: %w", err)
	}
	c.ValidatedAt, c.UpdatedAt = fromTS(val), fromTS(upd)
	p, err := unmarshalProblem(perr)
	if err != nil {
		return nil, fmt.Errorf("challenge error: %w", err)
	}
	c.Error = p
	return &c, nil
}

// GetAuthorization returns the authorization with id and its challenges
// (ordered by type), or ErrNotFound.
func (s *Store) GetAuthorization(ctx context.Context, id string) (*Authorization, error) {
	return s.getAuthorization(ctx, id)
}

// GetAuthorizations returns the authorizations with the given ids, in that
// order, without challenges. ErrNotFound if any is missing.
func (s *Store) GetAuthorizations(ctx context.Context, ids []string) (out []*Authorization, err error) {
	if len(ids) == 0 {
		return nil, nil
	}
	err = s.hot(ctx, func(q querier) error {
		out, err = getAuthorizations(ctx, q, ids)
		return err
	})
	return out, err
}

func getAuthorizations(ctx context.Context, q querier, ids []string) ([]*Authorization, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, `SELECT `+authzCols+` FROM authorizations WHERE id IN (?`+strings.Repeat(",?", len(ids)-1)+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("authorizations: %w", err)
	}
	defer rows.Close()
	byID := make(map[string]*Authorization, len(ids))
	for rows.Next() {
		a, err := scanAuthz(rows)
		if err != nil {
			return nil, err
		}
		byID[a.ID] = a
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("authorizations: %w", err)
	}
	out := make([]*Authorization, len(ids))
	for i, id := range ids {
		a, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("authorization %s: %w", id, ErrNotFound)
		}
		out[i] = a
	}
	return out, nil
}

// FindValidAuthorization returns the newest valid authorization of
// accountID for the identifier (and wildcard flag), created for profile
// (Authorization.Profile), that expires after minExpires and was validated
// after validatedAfter, with its challenges (as GetAuthorization), or
// ErrNotFound. The challenges are read in the same read job, and only when
// there is such an authorization.
func (s *Store) FindValidAuthorization(ctx context.Context, accountID, profile string, id acme.Identifier, wildcard bool, minExpires, validatedAfter time.Time) (a *Authorization, err error) {
	err = s.hot(ctx, func(q querier) error {
		a, err = scanAuthz(q.QueryRowContext(ctx, findValidAuthzSQL, accountID, id.Type, id.Value, wildcard, ts(minExpires), ts(validatedAfter), profile))
		if err != nil {
			return err
		}
		a, err = getAuthorization(ctx, q, a.ID)
		return err
	})
	return a, err
}

// ValidAuthorizationsFor reports whether accountID holds, for every
// identifier in ids, a valid unexpired authorization at now (used to
// authorize revocation, RFC 8555 §7.6). A dns identifier whose value starts
// with "*." (a wildcard name of a certificate) is held only by an
// authorization for the wildcard (RFC 8555 §7.1.4: the name without "*.",
// wildcard true, which only dns-01 validates); any other by an
// authorization for its value, wildcard or not.
func (s *Store) ValidAuthorizationsFor(ctx context.Context, accountID string, ids []acme.Identifier, now time.Time) (bool, error) {
	for _, id := range ids {
		var n int
		q, args := countValidAuthzSQL, []any{accountID, id.Type, id.Value, ts(now)}
		if base, ok := strings.CutPrefix(id.Value, "*."); ok && id.Type == acme.IdentifierDNS {
			q, args = countValidWildcardAuthzSQL, []any{accountID, id.Type, base, true, ts(now)}
		}
		if err := s.r.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			return false, fmt.Errorf("authorizations: %w", err)
		}
		if n == 0 {
			return false, nil
		}
	}
	return true, nil
}

// DeactivateAuthorization moves authorization id to deactivated, at the
// client's request (RFC 8555 §7.5.2), only while it is pending or valid
// and has not expired by now: an expired authorization is in a final
// state (RFC 8555 §7.1.6; ra.AuthorizationStatus serves it as expired).
// ErrStale otherwise, also when there is no such authorization.
func (s *Store) DeactivateAuthorization(ctx context.Context, id string, now time.Time) error {
	res, err := s.pointExec(ctx, `UPDATE authorizations SET status = 'deactivated' WHERE id = ? AND status IN ('pending', 'valid') AND expires_at > ?`, id, ts(now))
	return checkOne(res, err, "deactivate authorization")
}

// SetAuthorizationStatus moves authorization id from one of the stored
// statuses in from to to. ErrStale when it is in none of them.
func (s *Store) SetAuthorizationStatus(ctx context.Context, id string, from []string, to string) error {
	if len(from) == 0 {
		return fmt.Errorf("set authorization status: no source status: %w", ErrStale)
	}
	args := []any{to, id}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := s.pointExec(ctx, `UPDATE authorizations SET status = ? WHERE id = ? AND status IN (?`+strings.Repeat(",?", len(from)-1)+`)`, args...)
	return checkOne(res, err, "set authorization status")
}

// GetChallenge returns the challenge with id, or ErrNotFound.
func (s *Store) GetChallenge(ctx context.Context, id string) (c *Challenge, err error) {
	err = s.hot(ctx, func(q querier) error {
		c, err = scanChallenge(q.QueryRowContext(ctx, `SELECT `+challengeCols+` FROM challenges WHERE id = ?`, id))
		return err
	})
	return c, err
}

// authzPendingAt is the condition of an UPDATE of challenges that the
// challenge's authorization is pending and unexpired at its argument: a
// lookup of that one authorization by primary key (an IN over a subquery
// would list every pending authorization first). The status test is
// written "(... = 'pending') IS TRUE" (see below).
const authzPendingAt = `EXISTS (SELECT 1 FROM authorizations a WHERE a.id = challenges.authz_id AND (a.status = 'pending') IS TRUE AND a.expires_at > ?)`

// A row read or changed by its primary key only in a given status tests
// the status as "(status = 'pending') IS TRUE", not "status = 'pending'"
// (status is never NULL, so both mean the same): PostgreSQL proves from
// the plain form that a partial index on that status (orders_stale,
// authorizations_pending) holds the row, and, where its statistics say
// that index is nearly empty (taken before a backlog of abandoned orders
// or authorizations built up, until the next ANALYZE), it scanned the
// whole index for the one id instead of looking the id up: with 60,000
// pending orders and statistics taken without them, StartIssuance's
// UPDATE read all 60,000 entries (23.8 ms, against 0.38 ms by the primary
// key; docs/performance.md, "PostgreSQL throughput (session 16)"). The
// IS TRUE form proves nothing about the partial indexes, so the plan is
// the primary key's whatever the statistics. SQLite reads such a row by
// its primary key either way.

// StartChallenge moves challenge id from pending to processing, only while
// its authorization is pending. ErrStale otherwise (RFC 8555 §7.5.1).
func (s *Store) StartChallenge(ctx context.Context, id string, now time.Time) error {
	res, err := s.pointExec(ctx, `UPDATE challenges SET status = 'processing', updated_at = ?
		WHERE id = ? AND status = 'pending' AND `+authzPendingAt, ts(now), id, ts(now))
	return checkOne(res, err, "start challenge")
}

// RecordAttempt counts one failed validation attempt of a processing
// challenge and stores its last error, keeping it processing for a retry.
func (s *Store) RecordAttempt(ctx context.Context, id string, perr *acme.Problem, now time.Time) error {
	pj, err := marshalProblem(perr)
	if err != nil {
		return err
	}
	res, err := s.pointExec(ctx, `UPDATE challenges SET attempts = attempts + 1, error = ?, updated_at = ? WHERE id = ? AND status = 'processing'`, pj, ts(now), id)
	return checkOne(res, err, "record attempt")
}

// finishChallengeSQL writes a processing challenge's result.
const finishChallengeSQL = `UPDATE challenges SET status = ?, error = ?, validated_at = ?, updated_at = ? WHERE id = ? AND status = 'processing'`

// EndChallenge ends a processing challenge whose authorization is no
// longer pending (another of its challenges, a deactivation or its expiry
// decided it while the challenge was validated, where FinishChallenge
// refuses): the challenge row becomes FinishedChallenge(c, perr, now) and
// the authorization is left as it is. Without it such a challenge would
// stay processing and be validated again at every sweep. ErrStale when the
// challenge is no longer processing.
func (s *Store) EndChallenge(ctx context.Context, c *Challenge, perr *acme.Problem, now time.Time) error {
	f := FinishedChallenge(c, perr, now)
	pj, err := marshalProblem(f.Error)
	if err != nil {
		return err
	}
	res, err := s.pointExec(ctx, finishChallengeSQL, f.Status, pj, ts(f.ValidatedAt), ts(f.UpdatedAt), c.ID)
	return checkOne(res, err, "end challenge")
}

// FinishChallenge ends a processing challenge: valid (perr nil) also makes
// its authorization valid with expiry authzExpires; invalid makes the
// authorization invalid. One transaction; ErrStale when the challenge is no
// longer processing or the authorization no longer pending.
// The challenge row it writes is FinishedChallenge(c, perr, now).
func (s *Store) FinishChallenge(ctx context.Context, c *Challenge, perr *acme.Problem, now, authzExpires time.Time) error {
	f := FinishedChallenge(c, perr, now)
	pj, err := marshalProblem(f.Error)
	if err != nil {
		return err
	}
	return s.pointTx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, finishChallengeSQL, f.Status, pj, ts(f.ValidatedAt), ts(f.UpdatedAt), c.ID)
		if err := checkOne(res, err, "finish challenge"); err != nil {
			return err
		}
		if perr == nil {
			res, err = tx.ExecContext(ctx, `UPDATE authorizations SET status = 'valid', validated_at = ?, expires_at = ? WHERE id = ? AND (status = 'pending') IS TRUE`,
				ts(now), ts(authzExpires), c.AuthzID)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE authorizations SET status = 'invalid' WHERE id = ? AND (status = 'pending') IS TRUE`, c.AuthzID)
		}
		return checkOne(res, err, "finish authorization")
	})
}

// FinishedChallenge returns a copy of c as FinishChallenge stores it when
// it ends c with perr at now: valid without an error (perr nil) or invalid
// with perr, validated and updated at now. What a read of the challenge
// returns after a FinishChallenge that succeeded.
func FinishedChallenge(c *Challenge, perr *acme.Problem, now time.Time) *Challenge {
	f := *c
	f.Status, f.Error, f.ValidatedAt, f.UpdatedAt = acme.StatusValid, nil, now, now
	if perr != nil {
		f.Status, f.Error = acme.StatusInvalid, perr
	}
	return &f
}

// ---- serials and certificates ----

// ReserveSerial records serial (lower-case hex) as used before anything is
// signed with it. ErrConflict when it was reserved before.
func (s *Store) ReserveSerial(ctx context.Context, serial string, now time.Time) error {
	_, err := s.pointExec(ctx, `INSERT INTO serials (serial, reserved_at) VALUES (?, ?)`, serial, ts(now))
	if isUniqueViolation(err) {
		return fmt.Errorf("serial %s: %w", serial, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("reserve serial: %w", err)
	}
	return nil
}

// FinishOrder stores c and moves its order from processing to valid in one
// transaction, so an issued certificate is never without its record. On
// SQLite it returns once the commit is written but before it is synced to
// disk, and starts that sync: the certificate leaves only by its download
// (CertificateChain) or an export (SyncIfRecent), which wait for it, so a
// power failure cannot take the record of a certificate a client holds.
// The serial must have been reserved (ReserveSerial). ErrConflict when a
// certificate with that serial or fingerprint is already stored; ErrStale
// when the order is not processing. A certificate the order replaces
// (RFC 9773, claimed by CreateReplacementOrder) is marked replaced at now
// in the same transaction.
//
// Each of events (optional) is appended to the audit log in the same
// transaction.
//
// The transaction also reads the block of c's key (Certificate.KeyHash;
// computed from c.DER when nil): a keyCompromise revocation of another
// certificate with the key may have committed since StartIssuanceKey
// checked it. Then c is still stored (a signed certificate is never left
// without its record) but revoked for keyCompromise at now, the order
// becomes invalid with a badPublicKey problem (RFC 8555 §6.7) as its
// error, the Cascade hook of each of events gives the revocation's audit
// event (called with c), and FinishOrder returns a *KeyBlockedError
// carrying that problem. On PostgreSQL the key's advisory lock (lockKey)
// orders the read with such a revocation on another connection (see
// RevokeCertificate).
func (s *Store) FinishOrder(ctx context.Context, orderID string, c *Certificate, now time.Time, events ...*AuditAppend) error {
	ch := s.chainOf(c)
	h := keyHashOf(c)
	if c.KeyHash == nil && h != nil {
		cc := *c
		cc.KeyHash = h
		c = &cc
	}
	var blocked *KeyBlockedError
	err := s.pointTx(ctx, func(tx txConn) error {
		blocked = nil
		if h != nil {
			if err := s.lockKey(ctx, tx, h); err != nil {
				return err
			}
			switch b, err := blockedKeyIn(ctx, tx, h); {
			case err == nil:
				blocked = &KeyBlockedError{Key: b, Serial: c.Serial, Problem: BlockedKeyProblem(b, "the CSR's public key")}
				blocked.Problem.Detail += fmt.Sprintf("; the key was blocked while this order's certificate was signed: certificate %s is revoked for keyCompromise", c.Serial)
				return s.finishBlocked(ctx, tx, orderID, c, ch, blocked, now, events)
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		if err := s.insertCertificate(ctx, tx, c, ch); err != nil {
			return err
		}
		if err := finishValid(ctx, tx, orderID, c.Serial, now); err != nil {
			return err
		}
		// Last, so that the audit head's row lock is held as briefly as
		// possible (it serializes appends across nodes).
		for _, ev := range events {
			if err := appendAudit(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.learn(ch)
	if s.wal == nil { // PostgreSQL: the commit is durable
		if blocked != nil {
			return blocked
		}
		s.recent.add(c.Serial, c.AccountID, c.ChainPEM, 0)
		return nil
	}
	if blocked != nil {
		// A revocation: durable before the caller answers, as tx's.
		if err := s.wal.sync(ctx); err != nil {
			return err
		}
		return blocked
	}
	// The record must be on disk before the certificate leaves, which
	// is by its download (CertificateChain waits for this sync), not
	// before the finalize is answered: the order it answers with names
	// the certificate's URL, not its content. Starting the fsync now
	// lets it run while the answer travels and the client asks again.
	commits := s.wr.commits.Load()
	s.wal.noteCertificate(commits)
	s.wal.syncSoon()
	// What CertificateChain reads for it: the row's account, and its
	// chain as given (stored whole, or leaf + the issuer chain's
	// intermediates, which chainOf found c.ChainPEM to be).
	s.recent.add(c.Serial, c.AccountID, c.ChainPEM, commits)
	return nil
}

// finishValid moves order orderID from processing to valid with
// certificate serial and marks the certificate it replaces (claimed by
// CreateReplacementOrder; usually none) replaced at now, within tx;
// ErrStale when the order is not processing. On PostgreSQL both in one
// statement (one round trip).
func finishValid(ctx context.Context, tx txConn, orderID, serial string, now time.Time) error {
	const order = `UPDATE orders SET status = 'valid', cert_serial = ?, updated_at = ? WHERE id = ? AND status = 'processing'`
	const replaced = `UPDATE certificates SET replaced_at = ? WHERE replaced_by = ?`
	if tx.postgres() {
		// The command's row count is the main statement's: the order's.
		res, err := tx.ExecContext(ctx, `WITH r AS (`+replaced+`) `+order, ts(now), orderID, serial, ts(now), orderID)
		return checkOne(res, err, "finish order")
	}
	res, err := tx.ExecContext(ctx, order, serial, ts(now), orderID)
	if err := checkOne(res, err, "finish order"); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, replaced, ts(now), orderID); err != nil {
		return fmt.Errorf("mark replaced certificate: %w", err)
	}
	return nil
}

// finishBlocked is FinishOrder's transaction for a certificate c whose key
// was blocked (kb) after StartIssuanceKey: c stored revoked for
// keyCompromise at now, the order processing → invalid with kb.Problem,
// events and their Cascade events for c appended.
func (s *Store) finishBlocked(ctx context.Context, tx txConn, orderID string, c *Certificate, ch *newChain, kb *KeyBlockedError, now time.Time, events []*AuditAppend) error {
	revoked := *c
	revoked.Status, revoked.RevokedAt, revoked.RevocationReason = StatusRevoked, now, acme.ReasonKeyCompromise
	if err := s.insertCertificate(ctx, tx, &revoked, ch); err != nil {
		return err
	}
	pj, err := marshalProblem(kb.Problem)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE orders SET status = 'invalid', error = ?, updated_at = ? WHERE id = ? AND status = 'processing'`, pj, ts(now), orderID)
	if err := checkOne(res, err, "finish order"); err != nil {
		return err
	}
	more, err := cascadeEvents(events, c)
	if err != nil {
		return err
	}
	return appendAll(ctx, tx, append(slices.Clip(events), more...))
}

const certCols = `serial, issuer, order_id, account_id, der, chain_pem, sans, key_type, fingerprint_sha256, not_before, not_after, status, revoked_at, revocation_reason, created_at, replaced_by, replaced_at,
	profile, key_bits, signature_algorithm, source, attributes, replaces_serial, key_hash, key_roca`

// certSelect returns the SELECT list and FROM clause of a certificate query
// that scanCert reads: certCols of certificates c, then its issuer chain's
// id and intermediates (NULL for none; chains.go).
func certSelect() string {
	return prefixCols("c.", certCols) + `, c.chain_id, ic.pem FROM certificates c LEFT JOIN issuer_chains ic ON ic.id = c.chain_id`
}

func scanCert(row interface{ Scan(...any) error }) (*Certificate, error) {
	var c Certificate
	var orderID, accountID, replacedBy, replaces, intermediates *string
	var sans, attrs string
	var nb, na, rev, created, replacedAt int64
	var chainID, roca *int64
	if err := row.Scan(&c.Serial, &c.Issuer, &orderID, &accountID, &c.DER, &c.ChainPEM, &sans, &c.KeyType, &c.FingerprintSHA256,
		&nb, &na, &c.Status, &rev, &c.RevocationReason, &created, &replacedBy, &replacedAt,
		&c.Profile, &c.KeyBits, &c.SignatureAlgorithm, &c.Source, &attrs, &replaces, &c.KeyHash, &roca, &chainID, &intermediates); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan certificate: %w", err)
	}
	c.KeyROCA = roca != nil && *roca == 1
	if chainID != nil {
		if intermediates == nil {
			return nil, fmt.Errorf("certificate %s: issuer chain %d is missing", c.Serial, *chainID)
		}
		c.ChainPEM = withLeaf(c.DER, *intermediates)
	}
	if orderID != nil {
		c.OrderID = *orderID
	}
	if accountID != nil {
		c.AccountID = *accountID
	}
	if replacedBy != nil {
		c.ReplacedBy = *replacedBy
	}
	if replaces != nil {
		c.Replaces = *replaces
	}
	if err := json.Unmarshal([]byte(attrs), &c.Attributes); err != nil {
		return nil, fmt.Errorf("certificate attributes: %w", err)
	}
	c.NotBefore, c.NotAfter, c.RevokedAt, c.CreatedAt, c.ReplacedAt = fromTS(nb), fromTS(na), fromTS(rev), fromTS(created), fromTS(replacedAt)
	if err := json.Unmarshal([]byte(sans), &c.SANs); err != nil {
		return nil, fmt.Errorf("certificate sans: %w", err)
	}
	return &c, nil
}

// GetCertificate returns the certificate with serial (lower-case hex), or ErrNotFound.
func (s *Store) GetCertificate(ctx context.Context, serial string) (*Certificate, error) {
	return scanCert(s.r.QueryRowContext(ctx, `SELECT `+certSelect()+` WHERE c.serial = ?`, serial))
}

// RevokeCertificate marks a valid certificate revoked with an RFC 5280
// reason code. ErrStale when it is not valid (already revoked). Each of
// events (optional) is appended to the audit log in the same transaction;
// their Replaced hooks get the *Certificate as it was before.
//
// A revocation for keyCompromise (acme.ReasonKeyCompromise) also blocks the
// certificate's public key (BlockedKey, CA/B Forum BR §6.1.1.3) in the same
// transaction: whichever path revokes (ACME revokeCert, the admin API,
// `certgate cert revoke`), the key cannot be certified again. It also
// applies to a certificate already revoked for another reason: its reason
// becomes keyCompromise, its revocation time stays (BR §4.9.1.1, Mozilla
// Root Store Policy §6.1.1: on evidence of key compromise the CA SHOULD
// update the CRL entry's reason), and its key is blocked; ErrStale then
// only when it is revoked for keyCompromise already.
//
// In the same transaction it revokes, for keyCompromise at at, every other
// certificate with that key (Certificate.KeyHash) that this CA issued
// (source issued; imported and discovered ones only through
// RevokeCertificateOf) and that
// is unexpired at at and valid (BR §4.9.1.1: all of them within 24 hours)
// or revoked before for another reason (BR §7.2.2: its reasonCode becomes
// keyCompromise, its revocation time stays, as for serial itself), so
// that the CRL and OCSP say keyCompromise for each; the Cascade hook of
// each of events gives each one's audit event, with the row as it was
// before. Certificates stored without a key hash get theirs first
// (fillKeyHashes). On PostgreSQL the key's advisory lock
// (lockKey), taken before any row is read, orders it with a FinishOrder of
// the same key on another connection: either this revocation sees and
// revokes the certificate FinishOrder stores, or FinishOrder sees the
// block and stores it revoked.
func (s *Store) RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time, events ...*AuditAppend) error {
	return s.RevokeCertificateOf(ctx, serial, reason, at, CAScope{}, events...)
}

// RevokeCertificateOf is RevokeCertificate for the certificates of the CA
// scope names: for keyCompromise it also revokes the certificates with the
// key that are stored under scope.DN (imported or discovered) and that
// scope.Signed accepts, as those of source issued. Certificates of the key
// stored under another issuer (another CA's) keep their status: only
// their CA can revoke them.
func (s *Store) RevokeCertificateOf(ctx context.Context, serial string, reason int, at time.Time, scope CAScope, events ...*AuditAppend) error {
	const q = `UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND status = 'valid'`
	const qKeyCompromise = `UPDATE certificates SET status = 'revoked', revocation_reason = ?,
		revoked_at = CASE WHEN status = 'valid' THEN ? ELSE revoked_at END
		WHERE serial = ? AND ` + keyCompromiseRevocable + ` RETURNING serial`
	block := reason == acme.ReasonKeyCompromise
	if len(events) == 0 && !block {
		res, err := s.exec(ctx, q, ts(at), reason, serial)
		return checkOne(res, err, "revoke certificate")
	}
	if block {
		if err := s.fillKeyHashes(ctx); err != nil {
			return err
		}
	}
	return s.tx(ctx, func(tx txConn) error {
		var h []byte
		if block {
			// The key first (a row's key never changes), so that the key's
			// lock is taken before any row lock: FinishOrder takes the key's
			// lock, then the row lock of the certificate its order replaces
			// (which may be one of this key's), so the other order could
			// deadlock.
			var der []byte
			switch err := txQueryRow(ctx, tx, `SELECT key_hash, der FROM certificates WHERE serial = ?`, serial).Scan(&h, &der); {
			case errors.Is(err, sql.ErrNoRows):
				if wantsReplaced(events) { // as readReplacedLock reports it
					return fmt.Errorf("certificate %s: %w", serial, ErrNotFound)
				}
				return fmt.Errorf("revoke certificate: %w", ErrStale)
			case err != nil:
				return fmt.Errorf("revoke certificate: %w", err)
			case h == nil:
				if h, err = certKeyHash(der); err != nil {
					return fmt.Errorf("block key of certificate %s: %w", serial, err)
				}
			}
			if err := s.lockKey(ctx, tx, h); err != nil {
				return err
			}
		}
		if err := readReplacedLock(ctx, s, tx, events, scanCert, `FOR UPDATE OF c`, `SELECT `+certSelect()+` WHERE c.serial = ?`, serial); err != nil {
			return fmt.Errorf("certificate %s: %w", serial, err)
		}
		if !block {
			res, err := tx.ExecContext(ctx, q, ts(at), reason, serial)
			if err := checkOne(res, err, "revoke certificate"); err != nil {
				return err
			}
			return appendAll(ctx, tx, events)
		}
		var got string
		switch err := txQueryRow(ctx, tx, qKeyCompromise, reason, ts(at), serial).Scan(&got); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("revoke certificate: %w", ErrStale)
		case err != nil:
			return fmt.Errorf("revoke certificate: %w", err)
		}
		if err := blockKey(ctx, tx, h, serial, reason, at); err != nil {
			return err
		}
		more, err := s.revokeKeyCertificates(ctx, tx, h, serial, at, scope, events)
		if err != nil {
			return err
		}
		return appendAll(ctx, tx, append(slices.Clip(events), more...))
	})
}

// keyCompromiseRevocable is the condition on a certificate row (columns
// unqualified) under which a keyCompromise revocation changes it: valid,
// or revoked for another reason (its reason becomes keyCompromise, BR
// §7.2.2). It is the predicate of the partial indexes certificates_key and
// certificates_no_key (migration 00020), written alike so that SQLite's
// planner can prove a query implies it.
const keyCompromiseRevocable = `(status = 'valid' OR (status = 'revoked' AND revocation_reason <> 1))`

// revokeKeyCertificates revokes in tx, for keyCompromise at at, the
// certificates with key h but serial that this CA issued (source issued,
// or stored under scope.DN and accepted by scope.Signed), that are
// unexpired at at and valid or revoked for another reason
// (keyCompromiseRevocable; index certificates_key), and returns the audit
// events the Cascade hooks of events give for them (each with the row as
// it was). A valid one gets revocation time at; a revoked one keeps its
// time and gets reason keyCompromise (BR §7.2.2). On PostgreSQL the rows
// are locked (FOR UPDATE) as they are read, so the UPDATE changes the rows
// the events describe.
func (s *Store) revokeKeyCertificates(ctx context.Context, tx txConn, h []byte, serial string, at time.Time, scope CAScope, events []*AuditAppend) ([]*AuditAppend, error) {
	// Every certificate of the key when the scope may take imported ones
	// or names the other CAs' (the loop below tells them apart).
	ours := ""
	if scope.Others == nil && (scope.DN == "" || scope.Signed == nil) {
		ours = ` AND c.source = 'issued'`
	}
	q := `SELECT ` + prefixCols("c.", certCols) + `, c.chain_id, ic.pem FROM certificates c` + s.indexedBy("certificates_key") +
		` LEFT JOIN issuer_chains ic ON ic.id = c.chain_id
		WHERE c.key_hash = ? AND (c.status = 'valid' OR (c.status = 'revoked' AND c.revocation_reason <> 1))
		AND c.not_after > ? AND c.serial <> ?` + ours + ` ORDER BY c.serial`
	if s.engine == EnginePostgres {
		q += ` FOR UPDATE OF c`
	}
	rows, err := tx.QueryContext(ctx, q, h, ts(at), serial)
	if err != nil {
		return nil, fmt.Errorf("certificates of the compromised key: %w", err)
	}
	var olds []*Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("certificates of the compromised key: %w", err)
		}
		if c.Source != SourceIssued && (c.Issuer != scope.DN || scope.Signed == nil || !scope.Signed(c.DER)) {
			// Another CA's certificate (perhaps one that carries this
			// CA's name): not this CA's to revoke.
			if scope.Others != nil && c.Status == StatusValid {
				scope.Others(c.Serial)
			}
			continue
		}
		olds = append(olds, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("certificates of the compromised key: %w", err)
	}
	if len(olds) == 0 {
		return nil, nil
	}
	var out []*AuditAppend
	for _, c := range olds {
		evs, err := cascadeEvents(events, c)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET status = 'revoked', revocation_reason = ?,
			revoked_at = CASE WHEN status = 'valid' THEN ? ELSE revoked_at END
			WHERE serial = ? AND `+keyCompromiseRevocable,
			acme.ReasonKeyCompromise, ts(at), c.Serial)
		if err := checkOne(res, err, "revoke certificate of the compromised key"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RevokedEntry is one revoked certificate as listed on a CRL.
type RevokedEntry struct {
	Serial    string
	RevokedAt time.Time
	Reason    int
	// DER is set for a record stored under the issuer's distinguished name
	// rather than its issuer name (an imported or discovered certificate,
	// see RevokedCertificates): the caller must check that the issuer's
	// key signed it, and take its serial from it (Serial is the inventory
	// key, which may carry a "-FINGERPRINT16" suffix). Nil for records of
	// the issuer name.
	DER []byte
}

// RevokedCertificates lists the revoked certificates of the issuer named
// issuer (e.g. "local") that have not expired before notAfter (expired
// ones may leave the CRL, RFC 5280 §3.3), and those of the records stored
// under issuerDN, the issuer certificate's subject as the inventory
// writes a certificate's issuer (pkix.Name.String): imported or
// discovered certificates that this issuer may have signed, returned with
// their DER for the caller to check the signature (RevokedEntry.DER).
// issuerDN "" adds none.
func (s *Store) RevokedCertificates(ctx context.Context, issuer, issuerDN string, notAfter time.Time) ([]RevokedEntry, error) {
	rows, err := s.r.QueryContext(ctx, revokedCertsSQL, revokedArgs(issuer, issuerDN, notAfter)...)
	if err != nil {
		return nil, fmt.Errorf("revoked certificates: %w", err)
	}
	return scanRevoked(rows)
}

// revokedArgs are the arguments of revokedCertsSQL. With issuerDN "" its
// part reads the records stored with an empty issuer, if any (an imported
// certificate with an empty issuer name), which come with their DER like
// any of an issuer DN.
func revokedArgs(issuer, issuerDN string, notAfter time.Time) []any {
	return []any{issuerDN, ts(notAfter), issuer, ts(notAfter)}
}

// scanRevoked reads the rows of revokedCertsSQL and closes them.
func scanRevoked(rows *sql.Rows) ([]RevokedEntry, error) {
	defer rows.Close()
	var out []RevokedEntry
	for rows.Next() {
		var e RevokedEntry
		var at int64
		if err := rows.Scan(&e.Serial, &at, &e.Reason, &e.DER); err != nil {
			return nil, fmt.Errorf("revoked certificates: %w", err)
		}
		e.RevokedAt = fromTS(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revoked certificates: %w", err)
	}
	return out, nil
}

// CountCertificates returns how many certificate records exist.
func (s *Store) CountCertificates(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM certificates`).Scan(&n)
	return n, err
}
