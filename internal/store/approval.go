package store

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// OrderAwaitingApproval is the stored status of an order that waits for an
// approver after finalize; the RA serves it as "processing".
const OrderAwaitingApproval = "approval"

// Approval statuses.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
)

// Approval is one issuance waiting for, or decided by, an approver.
type Approval struct {
	ID          string            // random, URL-safe
	OrderID     string            // the order waiting
	AccountID   string            // the order's account
	Profile     string            // the order's profile
	Identifiers []acme.Identifier // the order's identifiers
	KeyType     string            // internal/policy key type name, e.g. "ecdsa-p256"
	Reason      string            // why the profile requires approval
	CSR         []byte            // DER, as finalized
	Status      string            // ApprovalPending, ApprovalApproved or ApprovalRejected
	RequestedAt time.Time         // UTC
	DecidedAt   time.Time         // zero while pending
	DecidedBy   string            // audit actor of the approver; "" while pending
	Comment     string            // the approver's comment
	EscalatedAt time.Time         // zero unless escalated
}

// RequestApproval moves order ap.OrderID from pending to awaiting approval
// and stores ap, in one transaction with events (optional audit appends).
// ErrAccountNotValid when the order's account is no longer valid
// (deactivated by another node or the CLI while the caller's cached
// account still says valid; RFC 8555 §7.3.6), as StartIssuanceKey;
// otherwise ErrStale when the order is no longer pending (finalized
// concurrently). On any error nothing is written.
func (s *Store) RequestApproval(ctx context.Context, ap *Approval, now time.Time, events ...*AuditAppend) error {
	return s.RequestApprovalSpend(ctx, ap, now, nil, events...)
}

// RequestApprovalSpend is RequestApproval spending the rate buckets of
// spend (nil: none) in the same transaction (see RateSpend), all or
// nothing: a request that finds the order no longer pending (ErrStale)
// spends nothing, and a refused spend (ErrRateLimited) requests nothing.
// The spend comes after the order's update, as in StartIssuanceKey.
func (s *Store) RequestApprovalSpend(ctx context.Context, ap *Approval, now time.Time, spend *RateSpend, events ...*AuditAppend) error {
	idents, _ := json.Marshal(ap.Identifiers)
	return s.tx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND (status = 'pending') IS TRUE
			AND EXISTS (SELECT 1 FROM accounts WHERE accounts.id = orders.account_id AND accounts.status = 'valid')`,
			OrderAwaitingApproval, ts(now), ap.OrderID)
		if err := checkOne(res, err, "order awaiting approval"); err != nil {
			if errors.Is(err, ErrStale) {
				return orderAccountNotValid(ctx, tx, ap.OrderID, err)
			}
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (id, order_id, account_id, profile, identifiers, key_type, reason, csr, status, requested_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ap.ID, ap.OrderID, ap.AccountID, ap.Profile, string(idents), ap.KeyType, ap.Reason, ap.CSR,
			ap.Status, ts(ap.RequestedAt)); err != nil {
			return fmt.Errorf("insert approval: %w", err)
		}
		if err := s.spendRates(ctx, tx, []*RateSpend{spend}); err != nil {
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

const approvalCols = `id, order_id, account_id, profile, identifiers, key_type, reason, csr, status, requested_at, decided_at, decided_by, comment, escalated_at`

func scanApproval(row interface{ Scan(...any) error }) (*Approval, error) {
	var a Approval
	var idents string
	var req, dec, esc int64
	if err := row.Scan(&a.ID, &a.OrderID, &a.AccountID, &a.Profile, &idents, &a.KeyType, &a.Reason, &a.CSR, &a.Status, &req, &dec,
		&a.DecidedBy, &a.Comment, &esc); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan approval: %w", err)
	}
	a.RequestedAt, a.DecidedAt, a.EscalatedAt = fromTS(req), fromTS(dec), fromTS(esc)
	if err := json.Unmarshal([]byte(idents), &a.Identifiers); err != nil {
		return nil, fmt.Errorf("approval identifiers: %w", err)
	}
	return &a, nil
}

// GetApproval returns the approval with id, or ErrNotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (*Approval, error) {
	return scanApproval(s.r.QueryRowContext(ctx, `SELECT `+approvalCols+` FROM approvals WHERE id = ?`, id))
}

// GetApprovalByOrder returns the approval of order orderID, or ErrNotFound.
func (s *Store) GetApprovalByOrder(ctx context.Context, orderID string) (*Approval, error) {
	return scanApproval(s.r.QueryRowContext(ctx, `SELECT `+approvalCols+` FROM approvals WHERE order_id = ?`, orderID))
}

// ListApprovals returns the approvals in status ("" for all), oldest
// request first, at most limit; limit 0 (or less) returns them all. A
// list that outgrows one statement is read page by page with
// ListApprovalsPage.
func (s *Store) ListApprovals(ctx context.Context, status string, limit int) ([]*Approval, error) {
	q, args := `SELECT `+approvalCols+` FROM approvals`, []any{}
	if status != "" {
		q += ` WHERE status = ?`
		args = append(args, status)
	}
	q += ` ORDER BY requested_at, id`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	return s.queryApprovals(ctx, q, args...)
}

// ApprovalKey is a keyset position in the approvals list: the request
// time and ID of the last approval of a page.
type ApprovalKey struct {
	RequestedAt time.Time // the approval's RequestedAt
	ID          string    // the approval's ID
}

// ListApprovalsPage returns up to limit (> 0) approvals in status (""
// for all) after the keyset position after (nil: from the first), oldest
// request first, ties by ID (keyset pagination). Each call reads a range
// of the index approvals_keyset, or approvals_status_keyset with a status
// (migration 00026), from after on: its cost is limit rows, however many
// approvals were ever made. Errors: a database error.
func (s *Store) ListApprovalsPage(ctx context.Context, status string, after *ApprovalKey, limit int) ([]*Approval, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list approvals: limit %d, want > 0", limit)
	}
	q, args := approvalsPageSQL(status, after)
	return s.queryApprovals(ctx, q, append(args, limit)...)
}

// approvalsPageSQL is ListApprovalsPage's statement (its LIMIT the last
// argument, left to the caller) and its other arguments. The row-value
// comparison is a range of the index on both engines (listOrdersSQL).
func approvalsPageSQL(status string, after *ApprovalKey) (string, []any) {
	var conds []string
	var args []any
	if status != "" {
		conds, args = append(conds, `status = ?`), append(args, status)
	}
	if after != nil {
		conds, args = append(conds, `(requested_at, id) > (?, ?)`), append(args, ts(after.RequestedAt), after.ID)
	}
	q := `SELECT ` + approvalCols + ` FROM approvals`
	if len(conds) > 0 {
		q += ` WHERE ` + strings.Join(conds, ` AND `)
	}
	return q + ` ORDER BY requested_at, id LIMIT ?`, args
}

// queryApprovals runs q and scans its approvals.
func (s *Store) queryApprovals(ctx context.Context, q string, args ...any) ([]*Approval, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	defer rows.Close()
	var out []*Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list approvals: %w", err)
	}
	return out, nil
}

// PendingApprovalsExpired returns, at most limit, the pending approvals
// whose order expired by now (RFC 8555 §7.1.3: the server then considers
// the order invalid), oldest request first.
func (s *Store) PendingApprovalsExpired(ctx context.Context, now time.Time, limit int) ([]*Approval, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+prefixCols("a.", approvalCols)+` FROM approvals a JOIN orders o ON o.id = a.order_id
		WHERE a.status = 'pending' AND o.expires_at <= ? ORDER BY a.requested_at, a.id LIMIT ?`, ts(now), limit)
	if err != nil {
		return nil, fmt.Errorf("approvals of expired orders: %w", err)
	}
	defer rows.Close()
	var out []*Approval
	for rows.Next() {
		a, err := scanApproval(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("approvals of expired orders: %w", err)
	}
	return out, nil
}

// ApprovedAwaiting returns the IDs of orders whose approval is approved
// while the order still awaits approval (issuance not yet started).
func (s *Store) ApprovedAwaiting(ctx context.Context, limit int) ([]string, error) {
	return s.ids(ctx, `SELECT a.order_id FROM approvals a JOIN orders o ON o.id = a.order_id
		WHERE a.status = 'approved' AND o.status = ? LIMIT ?`, OrderAwaitingApproval, limit)
}

// approvable checks, for an approval about to be approved, what would make
// its issuance fail at once: its CSR's key blocked since the request
// (ErrKeyBlocked; ResumeApproved would refuse it with badPublicKey) or
// its profile deleted (ErrProfileDeleted; invalidProfile). The default
// profile ("" or DefaultProfile) always exists. A block or a deletion
// committed after these reads is refused by ResumeApproved, which makes
// the order invalid. Errors besides those two are the database's.
func approvable(ctx context.Context, tx txConn, ap *Approval) error {
	if csr, err := x509.ParseCertificateRequest(ap.CSR); err == nil {
		if h, err := KeyHash(csr.PublicKey); err == nil {
			switch _, err := blockedKeyIn(ctx, tx, h); {
			case err == nil:
				return fmt.Errorf("approve approval %s: its CSR's key: %w", ap.ID, ErrKeyBlocked)
			case !errors.Is(err, ErrNotFound):
				return fmt.Errorf("approve approval %s: %w", ap.ID, err)
			}
		}
	}
	if ap.Profile == "" || ap.Profile == DefaultProfile {
		return nil
	}
	var one int
	switch err := txQueryRow(ctx, tx, `SELECT 1 FROM profiles WHERE name = ?`, ap.Profile).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("approve approval %s: profile %s: %w", ap.ID, ap.Profile, ErrProfileDeleted)
	case err != nil:
		return fmt.Errorf("approve approval %s: profile: %w", ap.ID, err)
	}
	return nil
}

// authzsValid checks, for approval id about to be approved, that no
// authorization of its order orderID (authzIDs, the order's JSON list)
// makes the order invalid at now (RFC 8555 §7.1.6): ErrAuthzNotValid
// naming the first that is invalid, deactivated, revoked or expired, and
// its status.
func authzsValid(ctx context.Context, tx txConn, id, orderID, authzIDs string, now time.Time) error {
	var ids []string
	if err := json.Unmarshal([]byte(authzIDs), &ids); err != nil {
		return fmt.Errorf("approve approval %s: authorizations of order %s: %w", id, orderID, err)
	}
	if len(ids) == 0 {
		return nil
	}
	azs, err := getAuthorizations(ctx, tx, ids)
	if err != nil {
		return fmt.Errorf("approve approval %s: %w", id, err)
	}
	for _, az := range azs {
		st := az.Status
		if (st == acme.StatusValid || st == acme.StatusPending) && !az.Expires.After(now) {
			st = acme.StatusExpired
		}
		if st != acme.StatusValid && st != acme.StatusPending {
			return fmt.Errorf("approve approval %s: order %s: authorization %s for %s is %s: %w", id, orderID, az.ID, az.Identifier.Value, st, ErrAuthzNotValid)
		}
	}
	return nil
}

// DecideApproval records an approver's decision on pending approval id:
// approved, or rejected, which in the same transaction makes its order
// invalid with problem perr; events (optional audit appends) are recorded
// in that transaction too; their Replaced hooks get the *Approval as it
// was before. It returns the approval as the decision left it, read in
// the decision's transaction (so with, say, an escalation committed after
// the caller's last read). ErrNotFound when missing; ErrStale when
// already decided; ErrOrderExpired when approving once its order expired
// by now (or was deleted), ErrAccountNotValid when approving once its
// account is no longer valid, ErrKeyBlocked when its CSR's key was blocked
// since, ErrProfileDeleted when its profile was deleted since,
// ErrAuthzNotValid when an authorization of its order was deactivated,
// revoked or expired since: it would
// issue nothing (RFC 8555 §7.1.3, §7.3.6), so it stays pending, for a
// rejection (the sweep's).
func (s *Store) DecideApproval(ctx context.Context, id string, approve bool, by, comment string, perr *acme.Problem, now time.Time, events ...*AuditAppend) (*Approval, error) {
	status := ApprovalApproved
	if !approve {
		status = ApprovalRejected
	}
	pj, err := marshalProblem(perr)
	if err != nil {
		return nil, err
	}
	var decided *Approval
	err = s.tx(ctx, func(tx txConn) error {
		old, err := readLocked(ctx, s, tx, scanApproval, `FOR UPDATE`, `SELECT `+approvalCols+` FROM approvals WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if old.Status != ApprovalPending {
			return fmt.Errorf("decide approval %s (%s): %w", id, old.Status, ErrStale)
		}
		if approve {
			// An order's expiry and authorizations never change: no
			// lock needed.
			var exp int64
			var authzIDs string
			switch err := txQueryRow(ctx, tx, `SELECT expires_at, authz_ids FROM orders WHERE id = ?`, old.OrderID).Scan(&exp, &authzIDs); {
			case errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("approve approval %s: order %s is gone: %w", id, old.OrderID, ErrOrderExpired)
			case err != nil:
				return fmt.Errorf("approve approval %s: order expiry: %w", id, err)
			case !fromTS(exp).After(now):
				return fmt.Errorf("approve approval %s: order %s expired at %s: %w", id, old.OrderID, fromTS(exp).UTC().Format(time.RFC3339), ErrOrderExpired)
			}
			// The account's row is locked (shared) until the decision
			// commits, so a deactivation commits either before this read
			// (refused here) or after the approval (ResumeApproved refuses).
			q := `SELECT status FROM accounts WHERE id = ?`
			if s.engine == EnginePostgres {
				q += ` FOR SHARE`
			}
			var status string
			switch err := txQueryRow(ctx, tx, q, old.AccountID).Scan(&status); {
			case errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("approve approval %s: account %s is gone: %w", id, old.AccountID, ErrAccountNotValid)
			case err != nil:
				return fmt.Errorf("approve approval %s: account status: %w", id, err)
			case status != acme.StatusValid:
				return fmt.Errorf("approve approval %s: account %s is %s: %w", id, old.AccountID, status, ErrAccountNotValid)
			}
			if err := approvable(ctx, tx, old); err != nil {
				return err
			}
			// An authorization deactivated, revoked or expired since
			// finalize makes the order invalid (RFC 8555 §7.1.6). One
			// that changes after this read is refused by ResumeApproved.
			if err := authzsValid(ctx, tx, id, old.OrderID, authzIDs, now); err != nil {
				return err
			}
		}
		if err := callReplaced(events, old); err != nil {
			return err
		}
		// The row is locked: the update changes the row just read.
		if decided, err = scanApproval(txQueryRow(ctx, tx, `UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, comment = ?
			WHERE id = ? AND status = 'pending' RETURNING `+approvalCols, status, ts(now), by, comment, id)); err != nil {
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("decide approval %s: %w", id, ErrStale)
			}
			return fmt.Errorf("decide approval %s: %w", id, err)
		}
		if !approve {
			_, err = tx.ExecContext(ctx, `UPDATE orders SET status = 'invalid', error = ?, updated_at = ? WHERE id = ? AND status = ?`,
				pj, ts(now), old.OrderID, OrderAwaitingApproval)
			if err != nil {
				return fmt.Errorf("reject order: %w", err)
			}
		}
		return appendAll(ctx, tx, events)
	})
	if err != nil {
		return nil, err
	}
	return decided, nil
}

// MarkApprovalEscalated records that pending approval id was escalated at
// now, with events (optional audit appends) in the same transaction;
// ErrStale when it was escalated before or is no longer pending, so that
// of several nodes exactly one announces it.
func (s *Store) MarkApprovalEscalated(ctx context.Context, id string, now time.Time, events ...*AuditAppend) error {
	return s.tx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE approvals SET escalated_at = ? WHERE id = ? AND status = 'pending' AND escalated_at = 0`, ts(now), id)
		if err := checkOne(res, err, "escalate approval"); err != nil {
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

// appendAll appends events (nil ones skipped) within tx as the chain's
// next links, in order. Several events take their seqs at once (one read
// of the locked audit_head row on PostgreSQL, one update of it on SQLite),
// and the head's hash is written once, after inserting the events (at most
// maxInsertRows per statement): the row lock that
// serializes appends is held for one pass over the batch, and on
// PostgreSQL the row does not gain a version per event (each later update
// of the row in the transaction would step over all of them: quadratic in
// the batch, e.g. an import's one event per certificate).
func appendAll(ctx context.Context, tx txConn, events []*AuditAppend) error {
	evs := make([]*AuditAppend, 0, len(events))
	for _, ev := range events {
		if ev != nil && !ev.HooksOnly { // hooks only: nothing to append (AuditAppend)
			if ev.Seal == nil {
				return errors.New("audit append without Seal (and not HooksOnly)")
			}
			evs = append(evs, ev)
		}
	}
	switch len(evs) {
	case 0:
		return nil
	case 1:
		return appendAudit(ctx, tx, evs[0])
	}
	var seq int64
	var prev string
	if err := lockAuditHead(ctx, tx, int64(len(evs)), &seq, &prev); err != nil {
		return err
	}
	args := make([]any, 0, auditEventCols*len(evs))
	for _, ev := range evs {
		seq++
		r := &ev.Record
		r.Seq, r.PrevHash = seq, prev
		if err := ev.Seal(r); err != nil {
			return fmt.Errorf("seal audit event: %w", err)
		}
		prev = r.Hash
		args = append(args, r.Seq, r.ID, ts(r.Time), r.Actor, r.Action, r.ObjectType, r.ObjectID, r.Source, r.Before, r.After, r.PrevHash, r.Hash)
	}
	return writeAuditEvents(ctx, tx, args, seq, prev)
}

// ApprovalContext is what an approver decides on beside an approval, read
// from its order and account: the order's custom attributes and requested
// validity, and the account's status and the EAB key it was bound with.
// The order of a rejected approval is deleted once it has expired
// (DeleteStale: it is invalid); the order's fields are zero then.
type ApprovalContext struct {
	OrderStored   bool              // the order is still stored; false: the order's fields are zero
	Attributes    map[string]string // the order's custom attributes; nil for none
	NotBefore     time.Time         // the order's requested notBefore; zero when not requested
	NotAfter      time.Time         // the order's requested notAfter; zero when not requested
	OrderExpires  time.Time         // the order's expiry (RFC 8555 §7.1.3)
	AccountStatus string            // valid, deactivated or revoked
	EABKid        string            // the EAB key the account was bound with; "" for none
	EABOwner      string            // that key's owner; "" for none or a key no longer stored
}

// approvalContextsSQL is ApprovalContexts' SQLite statement: the approval
// IDs as one JSON array argument (json_each), each approval, order,
// account and EAB key found by primary key. Accounts are never deleted;
// orders are (DeleteStale), EAB keys need not exist.
const approvalContextsSQL = `SELECT a.id, o.id IS NOT NULL, COALESCE(o.attributes, '{}'), COALESCE(o.not_before, 0), COALESCE(o.not_after, 0),
	COALESCE(o.expires_at, 0), c.status, COALESCE(c.eab_kid, ''), COALESCE(k.owner, '')
	FROM approvals a LEFT JOIN orders o ON o.id = a.order_id JOIN accounts c ON c.id = a.account_id LEFT JOIN eab_keys k ON k.kid = c.eab_kid
	WHERE a.id IN (SELECT value FROM json_each(?))`

// ApprovalContexts returns, in one statement, the ApprovalContext of each
// approval of ids that exists, by approval ID; an unknown ID is absent
// from the map. For a page of the approvals list (GET /api/v1/approvals,
// certgate approval list): one read instead of an order, account and EAB
// key lookup per approval. No ids, no read.
func (s *Store) ApprovalContexts(ctx context.Context, ids []string) (map[string]*ApprovalContext, error) {
	out := make(map[string]*ApprovalContext, len(ids))
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) == 0 {
		return out, nil
	}
	q, arg := approvalContextsSQL, any(nil)
	if s.engine == EnginePostgres {
		q, arg = strings.Replace(approvalContextsSQL, `IN (SELECT value FROM json_each(?))`, `= ANY(?::text[])`, 1), ids
	} else {
		j, err := json.Marshal(ids)
		if err != nil {
			return nil, fmt.Errorf("approval contexts: %w", err)
		}
		arg = string(j)
	}
	err := s.readerRows(ctx, q, arg, func(rows *sql.Rows) error {
		var id, attrs string
		var nb, na, exp int64
		var c ApprovalContext
		if err := rows.Scan(&id, &c.OrderStored, &attrs, &nb, &na, &exp, &c.AccountStatus, &c.EABKid, &c.EABOwner); err != nil {
			return err
		}
		m, err := unmarshalAttributes(attrs)
		if err != nil {
			return fmt.Errorf("order attributes of approval %s: %w", id, err)
		}
		c.Attributes, c.NotBefore, c.NotAfter, c.OrderExpires = m, fromTS(nb), fromTS(na), fromTS(exp)
		out[id] = &c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("approval contexts: %w", err)
	}
	return out, nil
}
