package ra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

// nodeLeaseRetention is how long after it ran out a node lease is kept
// before the sweep deletes it (the row of a node long gone; an order of a
// node without one counts as abandoned all the same).
const nodeLeaseRetention = time.Hour

// nodeLeases reports whether this node holds a node lease (NodeLease):
// not when it is alone on its storage (Exclusive; Start fails every
// processing order) or when NodeLease is negative.
func (r *RA) nodeLeases() bool { return !r.cfg.Exclusive && r.cfg.NodeLease > 0 }

// processingNode is the node an order this node moves to processing
// names: this node while it holds its lease (Start, and the heartbeat's
// renewals since), else none ("": the order is failed only after
// StuckAfter). While its renewals fail and its lease has run out, an
// order naming it would be failed by the other nodes within a second of
// its start, however alive this node is.
func (r *RA) processingNode() string {
	if r.leased.Load() && r.now().UnixNano() < r.leaseUntil.Load() {
		return r.node
	}
	return ""
}

// heartbeat renews this node's lease every NodeLease/5 and then fails the
// processing orders of nodes whose lease ran out, until stop is closed.
func (r *RA) heartbeat(stop <-chan struct{}) {
	every := max(r.cfg.NodeLease/5, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.NodeLease)
		now := r.now()
		if err := r.store.RenewNodeLease(ctx, r.node, now.Add(r.cfg.NodeLease)); err == nil {
			r.leaseUntil.Store(now.Add(r.cfg.NodeLease).UnixNano())
		} else {
			r.log.Error("renew node lease: other nodes fail this node's processing orders once it runs out", "node", r.node, "err", err)
		}
		// Never this node's own orders: it is alive, even when its
		// renewals fail (another node may then fail them).
		ids, err := r.store.AbandonedOrders(ctx, r.node, now)
		if err == nil && len(ids) > 0 {
			err = r.failInterrupted(ctx, ids, time.Time{}, now)
			if err == nil {
				r.log.Warn("failed the processing orders of nodes whose lease ran out", "orders", ids)
			}
		}
		if err != nil {
			r.log.Error("abandoned orders", "err", err)
		}
		cancel()
	}
}

// failInterrupted makes the processing orders ids, whose issuance was
// interrupted (their node died: StuckAfter, or its lease ran out),
// invalid with a serverInternal problem, so that the client orders
// again; the serial reserved for each stays reserved. An order whose
// approver approved it was interrupted after ResumeApproved moved it to
// processing: it goes back to waiting (approved), and sweepApprovals
// issues it with a new serial, rather than making the client order again
// and an approver decide again. An order whose certificate was asked of
// an upstream CA (its upstream order recorded) is not failed: the
// upstream order is fetched (recoverRemote; stuckBefore is the sweep's
// StuckAfter cutoff, zero for abandoned orders only). An order no longer
// processing is left as it is.
func (r *RA) failInterrupted(ctx context.Context, ids []string, stuckBefore, now time.Time) error {
	for _, id := range ids {
		// An order whose upstream order was recorded may have been
		// issued there: fetched, not failed blindly.
		switch ro, err := r.store.GetRemoteOrder(ctx, id); {
		case err == nil:
			if err := r.recoverRemote(ctx, ro, stuckBefore, now); err != nil {
				return err
			}
			continue
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("upstream order of stuck order %s: %w", id, err)
		}
		to, p := acme.StatusInvalid, acme.NewProblem(acme.ServerInternal, "issuance was interrupted; please create a new order")
		switch ap, err := r.store.GetApprovalByOrder(ctx, id); {
		case err == nil && ap.Status == store.ApprovalApproved:
			to, p = store.OrderAwaitingApproval, nil
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("approval of stuck order %s: %w", id, err)
		}
		if err := r.store.SetOrderStatus(ctx, id, acme.StatusProcessing, to, p, now); err != nil && !errors.Is(err, store.ErrStale) {
			return fmt.Errorf("fail stuck order %s: %w", id, err)
		}
	}
	return nil
}
