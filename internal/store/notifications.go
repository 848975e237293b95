package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Expiry notifications (internal/notify, docs/notifications.md; migration
// 00031). A Notification is one message owed to one recipient about one
// certificate crossing one threshold: its key (serial, threshold, channel,
// recipient) is the table's primary key, so however many nodes scan, and
// however often, it is stored once and sent at most once (a node that dies
// while sending leaves a claim whose lease runs out: the message is then
// sent again, rather than never).

// Notification statuses (Notification.Status).
const (
	NotificationPending = "pending" // due at NextAttemptAt
	NotificationSending = "sending" // claimed by Node until LeaseUntil
	NotificationSent    = "sent"    // delivered at SentAt
	NotificationFailed  = "failed"  // given up after its last attempt
	// NotificationSkipped: the certificate was revoked or renewed before
	// the message went out.
	NotificationSkipped = "skipped"
)

// NotificationStatuses lists every Notification status.
func NotificationStatuses() []string {
	return []string{NotificationPending, NotificationSending, NotificationSent, NotificationFailed, NotificationSkipped}
}

// Notification is one expiry message owed to, or delivered to, one
// recipient about one certificate.
type Notification struct {
	ID            string    // NewID at creation; URL-safe
	Serial        string    // the certificate (inventory key)
	ThresholdDays int       // the threshold crossed: days before notAfter
	Channel       string    // "email" or "webhook"
	Recipient     string    // an email address or a webhook URL
	Rule          string    // the alert rule that asked for it
	Status        string    // one of NotificationStatuses
	Attempts      int       // sending attempts started so far
	LastError     string    // the last failed attempt's error ("" for none)
	Node          string    // the node holding the claim while sending
	LeaseUntil    time.Time // the claim's end while sending
	NextAttemptAt time.Time // when a pending one is due
	CreatedAt     time.Time // UTC
	UpdatedAt     time.Time // UTC
	SentAt        time.Time // zero until sent
}

const notificationCols = `id, serial, threshold_days, channel, recipient, rule, status, attempts, last_error, node, lease_until, next_attempt_at, created_at, updated_at, sent_at`

func scanNotification(row interface{ Scan(...any) error }) (*Notification, error) {
	var n Notification
	var lease, next, created, updated, sent int64
	if err := row.Scan(&n.ID, &n.Serial, &n.ThresholdDays, &n.Channel, &n.Recipient, &n.Rule, &n.Status, &n.Attempts, &n.LastError,
		&n.Node, &lease, &next, &created, &updated, &sent); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("scan notification: %w", err)
	}
	n.LeaseUntil, n.NextAttemptAt, n.CreatedAt, n.UpdatedAt, n.SentAt = fromTS(lease), fromTS(next), fromTS(created), fromTS(updated), fromTS(sent)
	return &n, nil
}

// TakeJobLease makes node the holder of the cluster-wide job lease name
// until until, when no other node holds it at now (its lease ran out, or
// none was taken), or renews it when node holds it. ok reports whether
// node holds it now. One statement: of two nodes asking at once, one gets
// it.
func (s *Store) TakeJobLease(ctx context.Context, name, node string, now, until time.Time) (ok bool, err error) {
	if node == "" {
		return false, fmt.Errorf("take job lease %s: empty node ID", name)
	}
	res, err := s.exec(ctx, `INSERT INTO job_leases (name, node, lease_until) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET node = excluded.node, lease_until = excluded.lease_until
		WHERE job_leases.node = excluded.node OR job_leases.lease_until < ?`, name, node, ts(until), ts(now))
	if err != nil {
		return false, fmt.Errorf("take job lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("take job lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseJobLease ends node's lease on the job name (TakeJobLease), so
// another node may take it at once; nothing when node does not hold it.
func (s *Store) ReleaseJobLease(ctx context.Context, name, node string) error {
	if _, err := s.exec(ctx, `UPDATE job_leases SET lease_until = 0 WHERE name = ? AND node = ?`, name, node); err != nil {
		return fmt.Errorf("release job lease %s: %w", name, err)
	}
	return nil
}

// AddNotifications stores each of ns as pending (due at its NextAttemptAt;
// ID, Status, timestamps filled in at now) unless a notification with the
// same serial, channel and recipient exists for the same threshold or a
// lower one (a threshold already crossed later in the certificate's life:
// a certificate first seen 5 days before expiry gets the 7-day message,
// not the 30-, 14- and 7-day ones) and was not skipped. A skipped one (its
// certificate was revoked or renewed before it went out, and is in use
// again: a rollback, its successor revoked) is recorded again in its
// place, pending with a new ID. A stored notification makes pending ones
// of the same message with a larger threshold skipped, so that a
// certificate is listed once whatever the order of the rules. It returns
// those it stored, in one transaction.
func (s *Store) AddNotifications(ctx context.Context, ns []*Notification, now time.Time) ([]*Notification, error) {
	var added []*Notification
	err := s.tx(ctx, func(tx txConn) error {
		added = added[:0]
		for _, n := range ns {
			id := NewID(now)
			res, err := tx.ExecContext(ctx, addNotificationSQL,
				id, n.Serial, n.ThresholdDays, n.Channel, n.Recipient, n.Rule, ts(n.NextAttemptAt), ts(now), ts(now),
				n.Serial, n.Channel, n.Recipient, n.ThresholdDays)
			if err != nil {
				return fmt.Errorf("add notification: %w", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("add notification: %w", err)
			}
			if k != 1 {
				continue
			}
			c := *n
			c.ID, c.Status, c.CreatedAt, c.UpdatedAt = id, NotificationPending, now.UTC(), now.UTC()
			added = append(added, &c)
			// A larger threshold of the same message not sent yet (another
			// rule's, recorded first in this scan) is superseded: the
			// certificate is listed once, for the smallest threshold.
			if _, err := tx.ExecContext(ctx, `UPDATE notifications SET status = 'skipped', last_error = ?, updated_at = ?
				WHERE serial = ? AND channel = ? AND recipient = ? AND threshold_days > ? AND status = 'pending'`,
				fmt.Sprintf("superseded by the %d-day threshold of rule %s", n.ThresholdDays, n.Rule), ts(now),
				n.Serial, n.Channel, n.Recipient, n.ThresholdDays); err != nil {
				return fmt.Errorf("add notification: supersede: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// addNotificationSQL records one notification (AddNotifications): its
// ten column values, then serial, channel, recipient and threshold of the
// NOT EXISTS test. A conflict with a skipped row of the same key takes
// that row over.
const addNotificationSQL = `INSERT INTO notifications (id, serial, threshold_days, channel, recipient, rule, status, next_attempt_at, created_at, updated_at)
	SELECT ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM notifications
	WHERE serial = ? AND channel = ? AND recipient = ? AND threshold_days <= ? AND status <> 'skipped')
	ON CONFLICT (serial, threshold_days, channel, recipient) DO UPDATE SET id = excluded.id, rule = excluded.rule, status = 'pending',
		attempts = 0, last_error = '', node = '', lease_until = 0, next_attempt_at = excluded.next_attempt_at,
		created_at = excluded.created_at, updated_at = excluded.updated_at, sent_at = 0
	WHERE notifications.status = 'skipped'`

// ClaimNotifications claims for node, until leaseUntil, up to limit
// notifications due: pending ones whose NextAttemptAt is at dueBy or
// before (dueBy is now, or a little later for a caller that polls and
// would otherwise claim a row due just after its poll one poll late), and
// sending ones whose claim ran out at now (their node died). Each claimed one is
// moved to sending with its Attempts raised by one, and returned as
// claimed. On PostgreSQL the candidates are locked with FOR UPDATE SKIP
// LOCKED, so that nodes claiming at once claim different rows; every
// claim is also a conditional UPDATE, so a row is never claimed twice.
func (s *Store) ClaimNotifications(ctx context.Context, node string, now, dueBy, leaseUntil time.Time, limit int) ([]*Notification, error) {
	if node == "" {
		return nil, fmt.Errorf("claim notifications: empty node ID")
	}
	lock := ""
	if s.engine == EnginePostgres {
		lock = ` FOR UPDATE SKIP LOCKED`
	}
	var out []*Notification
	err := s.tx(ctx, func(tx txConn) error {
		out = out[:0]
		var ids []string
		for _, c := range []struct {
			q  string
			at time.Time
		}{
			{`SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?` + lock, dueBy},
			{`SELECT id FROM notifications WHERE status = 'sending' AND lease_until < ? ORDER BY next_attempt_at LIMIT ?` + lock, now},
		} {
			rows, err := tx.QueryContext(ctx, c.q, ts(c.at), limit-len(ids))
			if err != nil {
				return fmt.Errorf("claim notifications: %w", err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return fmt.Errorf("claim notifications: %w", err)
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("claim notifications: %w", err)
			}
			if len(ids) >= limit {
				break
			}
		}
		for _, id := range ids {
			n, err := scanNotification(tx.QueryRowContext(ctx, `UPDATE notifications SET status = 'sending', node = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
				WHERE id = ? AND ((status = 'pending' AND next_attempt_at <= ?) OR (status = 'sending' AND lease_until < ?)) RETURNING `+notificationCols,
				node, ts(leaseUntil), ts(now), id, ts(dueBy), ts(now)))
			if errors.Is(err, ErrNotFound) {
				continue // claimed by another node meanwhile
			}
			if err != nil {
				return fmt.Errorf("claim notifications: %w", err)
			}
			out = append(out, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FinishNotification ends node's claim on notification id (moved to
// sending by ClaimNotifications) with status: NotificationSent (at now),
// NotificationFailed or NotificationSkipped, or NotificationPending again
// (a failed attempt to retry at next), recording lastErr ("" for none)
// and rule, the alert rule it was sent or skipped under (the one that
// recorded it, or another that took it over after a configuration
// change). events are appended to the audit log in the same transaction. ErrStale
// when node no longer holds the claim (its lease ran out and another node
// claimed it).
func (s *Store) FinishNotification(ctx context.Context, id, node, rule, status, lastErr string, next, now time.Time, events ...*AuditAppend) error {
	switch status {
	case NotificationSent, NotificationFailed, NotificationSkipped, NotificationPending:
	default:
		return fmt.Errorf("finish notification %s: status %q", id, status)
	}
	sent := int64(0)
	if status == NotificationSent {
		sent = ts(now)
	}
	return s.tx(ctx, func(tx txConn) error {
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET status = ?, last_error = ?, next_attempt_at = ?, node = '', lease_until = 0, updated_at = ?, sent_at = ?, rule = ?
			WHERE id = ? AND status = 'sending' AND node = ?`, status, lastErr, ts(next), ts(now), sent, rule, id, node)
		if err := checkOne(res, err, "finish notification "+id); err != nil {
			return err
		}
		return appendAll(ctx, tx, events)
	})
}

// NotificationFilter selects notifications for ListNotifications. Empty
// fields do not filter.
type NotificationFilter struct {
	Status string // one of NotificationStatuses
	Serial string // one certificate: its serial (also matching the SERIAL-FINGERPRINT16 keys made of it) or its key
	// Before is the ID of the last row of the previous page ("" for the
	// first): rows created before it (then by ID) follow.
	Before string
	Limit  int // rows, 1..1000
}

// ErrUnknownCursor is wrapped by ListNotifications when f.Before names no
// delivery: a cursor the caller made up or mistyped, which would
// otherwise read as an empty last page.
var ErrUnknownCursor = errors.New("no delivery has that ID")

// ListNotifications returns up to f.Limit notifications, newest first
// (creation time, then ID), after the row f.Before (keyset pagination).
// The error wraps ErrUnknownCursor when no row has the ID f.Before.
func (s *Store) ListNotifications(ctx context.Context, f NotificationFilter) ([]*Notification, error) {
	if f.Limit < 1 || f.Limit > 1000 {
		return nil, fmt.Errorf("list notifications: limit %d out of 1..1000", f.Limit)
	}
	if f.Before != "" {
		var one int
		err := s.r.QueryRowContext(ctx, `SELECT 1 FROM notifications WHERE id = ?`, f.Before).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("before %q: %w (give the next_before the previous page named)", f.Before, ErrUnknownCursor)
		}
		if err != nil {
			return nil, fmt.Errorf("list notifications: %w", err)
		}
	}
	q := `SELECT ` + notificationCols + ` FROM notifications WHERE 1 = 1`
	var args []any
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Serial != "" {
		// A serial also matches the SERIAL-FINGERPRINT16 keys made of it
		// (inventory.Import), as CertQuery.Serial does; a key only itself.
		q += ` AND (serial = ? OR (serial > ? AND serial < ?))`
		args = append(args, f.Serial, f.Serial+"-", f.Serial+".")
	}
	if f.Before != "" {
		q += ` AND (created_at, id) < (SELECT created_at, id FROM notifications WHERE id = ?)`
		args = append(args, f.Before)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	defer rows.Close()
	var out []*Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return out, nil
}

// NotificationRetention is how long after the certificate's expiry, at
// least, a finished delivery (sent, failed, skipped) is kept before
// PruneNotifications deletes it.
const NotificationRetention = 90 * 24 * time.Hour

// PruneNotifications deletes the finished deliveries (sent, failed or
// skipped) recorded more than their threshold plus NotificationRetention
// before now: a delivery is recorded at most threshold days before its
// certificate's notAfter, so it is kept at least NotificationRetention
// past that expiry, after which no scan can select the certificate again.
// It returns how many it deleted.
func (s *Store) PruneNotifications(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.lazyExec(ctx, `DELETE FROM notifications WHERE created_at < ? AND status IN ('sent', 'failed', 'skipped')
		AND created_at + threshold_days * CAST(? AS BIGINT) < ?`, ts(now.Add(-NotificationRetention-24*time.Hour)), int64(24*time.Hour), ts(now.Add(-NotificationRetention)))
	if err != nil {
		return 0, fmt.Errorf("prune notifications: %w", err)
	}
	return res.RowsAffected()
}
