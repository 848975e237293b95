package ra

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"

	"github.com/certgate/certgate/internal/issuer"
)

// ErrNoCRL is returned by CRL when the issuer does not sign CRLs.
var ErrNoCRL = errors.New("ra: issuer does not sign CRLs")

// CRL returns the current DER CRL of the issuer (RFC 5280 §5), regenerated
// after each revocation through this node and at least every
// Config.CRLRefresh.
// The CRL number is the signing time in Unix nanoseconds, or one more than
// the last number handed out for the issuer when the clock is behind it
// (store.NextCRLNumber), so it grows across restarts and the nodes of a
// cluster even when a clock steps back.
func (r *RA) CRL(ctx context.Context) ([]byte, error) {
	signer, ok := r.issuer.(issuer.CRLSigner)
	if !ok {
		return nil, ErrNoCRL
	}
	r.crlMu.Lock()
	defer r.crlMu.Unlock()
	now := r.now()
	if r.crlCache != nil && now.Before(r.crlUntil) {
		return r.crlCache, nil
	}
	revoked, err := r.store.RevokedCertificates(ctx, r.issuer.Name(), now)
	if err != nil {
		return nil, fmt.Errorf("list revoked certificates: %w", err)
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, e := range revoked {
		n, ok := new(big.Int).SetString(e.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("bad serial %q in store", e.Serial)
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: e.RevokedAt, ReasonCode: e.Reason})
	}
	number, err := r.store.NextCRLNumber(ctx, r.issuer.Name(), now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("CRL number: %w", err)
	}
	der, err := signer.SignCRL(big.NewInt(number), now, now.Add(r.cfg.CRLValidity), entries)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	r.crlCache = der
	// Revocations through this node clear the cache at once; those made on
	// another node of a cluster show within CRLRefresh.
	r.crlUntil = now.Add(r.cfg.CRLRefresh)
	return der, nil
}
