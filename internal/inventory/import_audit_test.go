package inventory_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

var errRefused = errors.New("append refused")

// refusingAuditor prepares events whose append fails inside the store's
// transaction (their Seal returns errRefused).
type refusingAuditor struct{}

func (refusingAuditor) Prepare(_ context.Context, ev audit.Event) (*store.AuditAppend, error) {
	return &store.AuditAppend{Record: store.AuditRecord{ID: "ev-" + ev.ObjectID, Time: now, Action: ev.Action},
		Seal: func(*store.AuditRecord) error { return errRefused }}, nil
}

// TestImportAuditsInItsTransaction: with WithAudit, each newly imported
// certificate gets a certificate.import event by the actor whose after is
// its inventory record as Get shows it, stored with the certificates;
// certificates already present get none; and when the events cannot be
// appended, nothing of the file is stored.
func TestImportAuditsInItsTransaction(t *testing.T) {
	p := newTestPKI(t)
	st := storetest.OpenSQLite(t)
	clock := func() time.Time { return now }
	ctx := context.Background()

	failing := inventory.New(st, clock).WithAudit(refusingAuditor{}, "cli:alice")
	bad := p.leaf(0, "refused.test")
	if _, err := failing.ImportCertificates(ctx, []*x509.Certificate{bad}); !errors.Is(err, errRefused) {
		t.Fatalf("import with a failing audit append = %v, want %v", err, errRefused)
	}
	if _, err := st.GetCertificate(ctx, bad.SerialNumber.Text(16)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("certificate stored although its audit event was not: %v", err)
	}

	svc := inventory.New(st, clock).WithAudit(audit.New(st, clock), "cli:alice")
	leaf := p.leaf(0, "a.test")
	res, err := svc.ImportCertificates(ctx, []*x509.Certificate{leaf, p.inter, bad})
	must(t, err)
	if len(res.Imported) != 3 {
		t.Fatalf("imported %v, want 3 certificates", res.Imported)
	}
	res2, err := svc.ImportCertificates(ctx, []*x509.Certificate{leaf})
	must(t, err)
	if len(res2.Present) != 1 || len(res2.Imported) != 0 {
		t.Fatalf("second import: %+v", res2)
	}
	evs, err := st.ListAudit(ctx, store.AuditFilter{})
	must(t, err)
	if len(evs) != len(res.Imported) {
		t.Fatalf("%d audit events, want one per imported certificate (%d)", len(evs), len(res.Imported))
	}
	for i, serial := range res.Imported {
		ev := evs[i]
		c, err := svc.Get(ctx, serial)
		must(t, err)
		want, _ := json.Marshal(c)
		if ev.Action != audit.ActionCertificateImport || ev.ObjectType != audit.ObjectCertificate || ev.ObjectID != serial ||
			ev.Actor != "cli:alice" || ev.Before != "" || ev.After != string(want) {
			t.Errorf("event %d = %+v, want certificate.import of %s after %s", i, ev, serial, want)
		}
	}
	if r, err := audit.New(st, clock).Verify(ctx); err != nil || !r.OK || r.Events != 3 {
		t.Fatalf("verify: %+v %v", r, err)
	}
}
