package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
	return s.CreateAccountSpend(ctx, a, nil, events...)
}

// CreateAccountSpend is CreateAccount making spend (nil: none) in the
// same transaction, after the insert (see RateSpend), so that the buckets
// are spent exactly when the account is created: not by a request that
// finds the key's account created meanwhile (ErrConflict, nothing spent),
// on this node or another. ErrRateLimited (nothing written) when the
// spend is refused.
func (s *Store) CreateAccountSpend(ctx context.Context, a *Account, spend *RateSpend, events ...*AuditAppend) error {
	insert := func(_ sql.Result, err error) error {
		if isUniqueViolation(err) {
			return fmt.Errorf("account key: %w", ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		return nil
	}
	if spend == nil && !anyAppend(events) {
		return insert(s.pointExec(ctx, insertAccountSQL, accountArgs(a)...))
	}
	return s.pointTx(ctx, func(tx txConn) error {
		if err := insert(tx.ExecContext(ctx, insertAccountSQL, accountArgs(a)...)); err != nil {
			return err
		}
		if err := s.spendRates(ctx, tx, []*RateSpend{spend}); err != nil {
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
