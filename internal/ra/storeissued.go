package ra

import (
	"context"
	"errors"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
)

// Bounds of storeIssued's retries: the first wait, the longest, and how
// many attempts in all (about 10 s of waits, within the 30 s an issuance
// has once its order is processing).
const (
	storeRetryFirst = 50 * time.Millisecond
	storeRetryMax   = 2 * time.Second
	storeAttempts   = 10
)

// storeIssued stores the signed certificate c of order orderID and makes
// the order valid, with events (store FinishOrder), and retries after a
// failure that may pass (a busy or lost database connection: any error
// but store.ErrStale, store.ErrConflict, a *store.KeyBlockedError and
// the end of ctx), waiting storeRetryFirst, then twice as long each time
// up to storeRetryMax, while ctx allows. An attempt whose commit went
// through although its answer was lost is recognised by the next one
// (which finds the certificate stored and the order valid with it).
//
// When c is not stored in the end, the certificate is lost: its serial
// stays reserved and the client never receives it. storeIssued then
// logs it at ERROR (serial, order, account, names, validity and
// fingerprint; no PEM), records it in the audit log
// (certificate.store_failed, when the database takes it) and makes the
// order invalid if it is still processing, so that the client orders
// again; it returns the last error.
func (r *RA) storeIssued(ctx context.Context, orderID string, c *store.Certificate, now time.Time, events []*store.AuditAppend) error {
	delay := storeRetryFirst
	finish := r.store.FinishOrder
	if _, ok := r.issuers[c.Issuer].(issuer.Remote); ok {
		finish = r.store.FinishRemoteOrder // its serial is not reserved yet
	}
	var err error
	for attempt := 1; ; attempt++ {
		err = finish(ctx, orderID, c, now, events...)
		if err == nil {
			return nil
		}
		var kb *store.KeyBlockedError
		if errors.As(err, &kb) {
			return err // stored, revoked
		}
		if attempt > 1 && (errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrConflict)) {
			if stored, serr := r.store.GetCertificate(ctx, c.Serial); serr == nil && stored.FingerprintSHA256 == c.FingerprintSHA256 {
				// An earlier attempt committed; its answer was lost.
				if o, oerr := r.store.GetOrder(ctx, orderID); oerr == nil && o.Status == acme.StatusValid && o.CertSerial == c.Serial {
					return nil
				}
				return err // stored (revoked: its key was blocked meanwhile)
			}
		}
		if errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrConflict) || ctx.Err() != nil || attempt == storeAttempts {
			break
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < delay {
			break
		}
		r.log.WarnContext(ctx, "storing the signed certificate failed; retrying", "order", orderID, "serial", c.Serial,
			"attempt", attempt, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		delay = min(2*delay, storeRetryMax)
	}
	r.certificateLost(ctx, orderID, c, err)
	return err
}

// certificateLost reports that c, signed for order orderID, could not be
// stored (err): see storeIssued.
func (r *RA) certificateLost(ctx context.Context, orderID string, c *store.Certificate, err error) {
	r.log.ErrorContext(ctx, "signed certificate lost: it could not be stored, its serial stays reserved and the client does not receive it",
		"order", orderID, "serial", c.Serial, "account", c.AccountID, "issuer", c.Issuer, "names", c.SANs,
		"not_before", c.NotBefore, "not_after", c.NotAfter, "fingerprint_sha256", c.FingerprintSHA256, "err", err)
	// ctx may be over (the cause): a few seconds of their own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ev, aerr := r.auditEvent(ctx, audit.Event{Actor: audit.ACMEAccountActor(c.AccountID), Action: audit.ActionCertificateStoreFailed,
		ObjectType: audit.ObjectCertificate, ObjectID: c.Serial, After: audit.CertificateOf(c)})
	for _, a := range ev {
		if aerr == nil {
			aerr = r.store.AppendAudit(ctx, a)
		}
	}
	if aerr != nil {
		r.log.ErrorContext(ctx, "audit of a lost certificate", "order", orderID, "serial", c.Serial, "err", aerr)
	}
	p := acme.NewProblem(acme.ServerInternal, "the certificate could not be stored; please create a new order")
	if serr := r.store.SetOrderStatus(ctx, orderID, acme.StatusProcessing, acme.StatusInvalid, p, r.now()); serr != nil && !errors.Is(serr, store.ErrStale) {
		r.log.ErrorContext(ctx, "mark order invalid", "order", orderID, "err", serr)
	}
}
