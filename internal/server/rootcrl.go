package server

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/store"
)

// RootCRLSetting is the database setting holding the root's CRL (base64
// DER) of the nodes that share the database: one root CRL for the
// cluster, signed by a node that holds the root key and served by every
// node, where each node signed one of its own before (with its own number
// and times).
const RootCRLSetting = "ca_root_crl"

// rootCRLSync shares the root's CRL through RootCRLSetting: get reads the
// setting at most every interval and adopts a newer CRL from it
// (local.CA.AdoptRootCRL: the greatest cRLNumber wins), and publishes the
// CRL this node serves when it changed (signed anew here), with a
// compare-and-set so that a concurrent publication is not overwritten
// unseen.
type rootCRLSync struct {
	ca       *local.CA
	st       *store.Store
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	mu        sync.Mutex
	published string    // the setting's value as last read or written
	checked   time.Time // when the setting was last read; zero: read it next
}

// ClusterRootCRL returns the root CRL in RootCRLSetting (DER; nil: none,
// or unreadable: a node then signs or serves its own, and publishes it).
func ClusterRootCRL(ctx context.Context, st *store.Store) []byte {
	v, err := st.GetSetting(ctx, RootCRLSetting)
	if err != nil {
		return nil
	}
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	return der
}

// get returns the root CRL to serve (see local.CA.RootCRL), after adopting
// the cluster's when it is newer, and publishes it when it is this node's.
func (r *rootCRLSync) get() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check(ctx)
	der, err := r.ca.RootCRL()
	if der != nil {
		if err := r.publish(ctx, der); err != nil {
			r.log.Warn("root CRL: publishing", "err", err)
		}
	}
	return der, err
}

// check reads RootCRLSetting when interval has passed since it was last
// read (or it never was), and adopts the cluster's root CRL when it is
// newer; a failure to read it is logged, and it is read again at the next
// call. The caller holds r.mu.
func (r *rootCRLSync) check(ctx context.Context) {
	now := r.now()
	if !r.checked.IsZero() && now.Before(r.checked.Add(r.interval)) {
		return
	}
	v, err := r.st.GetSetting(ctx, RootCRLSetting)
	switch {
	case err == nil:
		r.checked = now
		_ = r.adopt(v) // logged
	case errors.Is(err, store.ErrNotFound):
		r.checked = now
	default:
		r.log.Warn("root CRL: reading the cluster's", "err", err)
	}
}

// revokedIntermediates returns the certificates of the CA's revoked
// intermediates (local.CA.RevokedIntermediates: those of its CA directory,
// and those the root CRL it serves lists), after adopting the cluster's
// root CRL when it is due (check, as get does): an intermediate revoked on
// another node's data directory counts on this node, for renewalInfo, the
// admin API and the dashboard, within revocation-refresh of the
// publication of the CRL that lists it, as that CRL is served.
func (r *rootCRLSync) revokedIntermediates() []*x509.Certificate {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.mu.Lock()
	r.check(ctx)
	r.mu.Unlock()
	var out []*x509.Certificate
	for _, ri := range r.ca.RevokedIntermediates() {
		out = append(out, ri.Cert)
	}
	return out
}

// adopt takes the setting's value v: the root CRL becomes this node's
// when it is newer. A value that is not base64 is logged and left to be
// replaced by this node's CRL; the error (logged too) is a failure to
// write the adopted CRL to the CA directory.
func (r *rootCRLSync) adopt(v string) error {
	if v == r.published {
		return nil
	}
	r.published = v
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		r.log.Warn("root CRL: the cluster's is not base64", "setting", RootCRLSetting)
		return nil
	}
	if _, err := r.ca.AdoptRootCRL(der); err != nil {
		r.log.Warn("root CRL: adopting the cluster's", "err", err)
		return fmt.Errorf("root CRL: adopting the cluster's: %w", err)
	}
	return nil
}

// publish writes der to RootCRLSetting unless it holds it: set when
// unset, else replaced only if it still holds what this node last saw
// (another node's newer CRL is read and compared at the next check). The
// error is the database's.
func (r *rootCRLSync) publish(ctx context.Context, der []byte) error {
	v := base64.StdEncoding.EncodeToString(der)
	if v == r.published {
		return nil
	}
	if r.published == "" {
		got, err := r.st.InitSetting(ctx, RootCRLSetting, v)
		if err != nil {
			return fmt.Errorf("root CRL: publishing: %w", err)
		}
		if got == v {
			r.published = v
			return nil
		}
		// Another node's was there: the newer of the two is the cluster's.
		_ = r.adopt(got) // logged; the adopted CRL is in use all the same
		if v = base64.StdEncoding.EncodeToString(r.ca.CurrentRootCRL()); v == got {
			return nil
		}
	}
	ok, err := r.st.ReplaceSetting(ctx, RootCRLSetting, r.published, v)
	if err != nil {
		return fmt.Errorf("root CRL: publishing: %w", err)
	}
	if ok {
		r.published = v
	} else {
		r.checked = time.Time{}
	}
	return nil
}

// SyncRootCRL makes the root CRL of the CA in caDir (DATA/ca, of a
// stopped server: the caller holds the data directory's lock) and the one
// the database st publishes (RootCRLSetting) one, as a running server does
// (rootCRLSync): the published one is adopted, into RootCRLFile too, when
// the root signed it and its number is greater; the CA's is signed anew
// when it lacks an intermediate revoked in caDir (the root key must be
// there for that); and the CA's, when it is not the published one, is
// published with a compare-and-set, read again and retried when another
// node published meanwhile. `certgate ca revoke-intermediate` calls it
// before the revocation, so that the root CRL it signs keeps the
// revocations the cluster's lists, and after it, so that every node serves
// the new one: at its start, and a running node within revocation-refresh.
// A CA without a root CRL (no root key, no RootCRLFile) publishes nothing.
// now is the CA's clock (nil: time.Now).
func SyncRootCRL(ctx context.Context, st *store.Store, caDir string, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	ca, err := local.Open(caDir, now)
	if err != nil {
		return err
	}
	r := &rootCRLSync{ca: ca, st: st, log: slog.New(slog.DiscardHandler), now: now}
	for range 3 {
		v, err := st.GetSetting(ctx, RootCRLSetting)
		switch {
		case err == nil:
			if err := r.adopt(v); err != nil {
				return err
			}
		case errors.Is(err, store.ErrNotFound):
		default:
			return fmt.Errorf("root CRL: reading the setting %s: %w", RootCRLSetting, err)
		}
		der, err := ca.RootCRL()
		if err != nil {
			return fmt.Errorf("root CRL: %w", err)
		}
		if der == nil {
			return nil
		}
		if err := r.publish(ctx, der); err != nil {
			return err
		}
		if r.published == base64.StdEncoding.EncodeToString(ca.CurrentRootCRL()) {
			return nil
		}
	}
	return fmt.Errorf("root CRL: the setting %s kept changing while it was published; run the command again, or start the server, which publishes it", RootCRLSetting)
}

// IntermediateSetting is the database setting naming (local.IntermediateID)
// the intermediate that the nodes sharing the database sign with: recorded
// by the first node, moved on by `certgate ca rotate`, so that a node
// whose DATA/ca was not copied after a rotation does not start signing
// with the old intermediate beside the others.
const IntermediateSetting = "ca_intermediate"

// checkIntermediate checks ca's intermediate against IntermediateSetting:
// recorded when unset, moved to it when the setting names one of ca's
// retired intermediates (a rotation on this node's data directory that the
// database did not see), refused when it names another (the cluster
// rotated and this node's DATA/ca is behind).
func checkIntermediate(ctx context.Context, st *store.Store, ca *local.CA, caDir, data string) error {
	ours := local.IntermediateID(ca.Intermediate())
	// A few rounds: another node may move the setting between the read
	// and the compare-and-set.
	for range 3 {
		got, err := st.InitSetting(ctx, IntermediateSetting, ours)
		if err != nil {
			return fmt.Errorf("built-in CA: %w", err)
		}
		if got == ours {
			return nil
		}
		var retired *local.CA
		for _, r := range ca.Retired() {
			if local.IntermediateID(r.Intermediate()) == got {
				retired = r
			}
		}
		if retired == nil {
			return fmt.Errorf("the nodes of the database sign with the intermediate %s (certgate ca rotate), but %s signs with %s: "+
				"copy the CA directory of the node that rotated to %s, its retired/ directory included (docs/pki.md#rotating-the-intermediate)", got, caDir, ours, data)
		}
		// DATA/ca rotated, the database not told (the rotation's write
		// failed, or it was killed): recorded now, with the audit event
		// the rotation could not write, by the node whose
		// compare-and-set moved it (two nodes starting at once with the
		// same copy of DATA/ca record one event).
		moved, err := st.ReplaceSetting(ctx, IntermediateSetting, got, ours)
		if err != nil {
			return fmt.Errorf("built-in CA: %w", err)
		}
		if !moved {
			continue // read it again
		}
		if err := audit.New(st, nil).Record(ctx, audit.Event{Actor: audit.ActorSystem, Action: audit.ActionIntermediateRotate,
			ObjectType: audit.ObjectIntermediate, ObjectID: ours,
			Before: audit.IntermediateOf(retired.Intermediate(), got, "retired"), After: audit.IntermediateOf(ca.Intermediate(), ours, "signing")}); err != nil {
			return fmt.Errorf("built-in CA: the audit event of the rotation to %s: %w", ours, err)
		}
		return nil
	}
	return fmt.Errorf("built-in CA: the database's intermediate (setting %s) kept changing while this node started; start it again", IntermediateSetting)
}
