package ra

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
)

// ErrNoCRL is returned by CRL when the issuer does not sign CRLs.
var ErrNoCRL = errors.New("ra: issuer does not sign CRLs")

// SignedCRL is a CRL as the RA serves it.
type SignedCRL struct {
	// DER is the CRL.
	DER []byte
	// ThisUpdate is its thisUpdate: the signing time, or the latest
	// revocation time it lists when that is later (a revocation recorded
	// by a node whose clock is ahead).
	ThisUpdate time.Time
	// Until is when the RA stops serving it (ThisUpdate +
	// Config.CRLRefresh), or earlier once a revocation through this RA
	// replaces it.
	Until time.Time
	// SHA256 is the lower-case hex SHA-256 of DER (an HTTP entity tag).
	SHA256 string
}

// CRL returns the current DER CRL of the issuer (see CurrentCRL).
func (r *RA) CRL(ctx context.Context) ([]byte, error) {
	c, err := r.CurrentCRL(ctx)
	if err != nil {
		return nil, err
	}
	return c.DER, nil
}

// CurrentCRL returns the current CRL of the issuer (RFC 5280 §5),
// regenerated after each revocation through this node and at least every
// Config.CRLRefresh. It lists the issuer's revoked certificates that
// expired less than Config.CRLValidity ago or not at all.
// The CRL number is the signing time in Unix nanoseconds, or one more than
// the last number handed out for the issuer when the clock is behind it
// (store.NextCRLNumber), so it grows across restarts and the nodes of a
// cluster even when a clock steps back; of two CRLs, the one with the
// greater number lists every unexpired revocation the other lists
// (store.CRLContents).
func (r *RA) CurrentCRL(ctx context.Context) (*SignedCRL, error) {
	signer, ok := r.issuer.(issuer.CRLSigner)
	if !ok {
		return nil, ErrNoCRL
	}
	return r.CRLOf(ctx, signer)
}

// CRLOf returns the current CRL of signer: the issuer itself or one of
// Config.RetiredCRLSigners (its earlier intermediates), as CurrentCRL does
// for the issuer. When the issuer has retired intermediates, each CRL
// lists the revoked certificates of the issuer's name whose issuer is its
// intermediate's subject (byte for byte: a rotated intermediate's name
// differs), and the imported ones its key signed.
func (r *RA) CRLOf(ctx context.Context, signer issuer.CRLSigner) (*SignedCRL, error) {
	r.crlMu.Lock()
	defer r.crlMu.Unlock()
	now := r.now()
	if c := r.crlCache[signer]; c != nil && now.Before(c.Until) {
		return c, nil
	}
	// The number and the list come from one transaction, so that a CRL
	// with a greater number (signed by any node) never lists less than
	// one with a lower number (store.CRLContents).
	// An expired certificate's entry stays for one CRL validity after its
	// notAfter, so that it appears on the CRLs issued beyond its validity
	// period that relying parties fetch meanwhile (RFC 5280 §5: an entry
	// MUST NOT be removed until it appears on one regularly scheduled CRL
	// issued beyond the revoked certificate's validity period).
	// Certificates of this CA that entered the inventory by import are
	// stored under the CA certificate's subject, as any imported one; those
	// its key signed belong on its CRL too.
	ca := signer.CRLIssuer()
	contents := r.store.CRLContents
	shared := len(r.cfg.RetiredCRLSigners) > 0
	if shared {
		ds, ok := r.store.(crlContentsDER)
		if !ok {
			return nil, errors.New("CRL contents: the store cannot tell the certificates of several intermediates apart")
		}
		contents = ds.CRLContentsDER
	}
	number, revoked, err := contents(ctx, r.issuer.Name(), ca.Subject.String(), now.Add(-r.cfg.CRLValidity), now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("CRL contents: %w", err)
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, e := range revoked {
		var n *big.Int
		if e.OfIssuerName {
			if !issuedBy(e.DER, ca) {
				continue // another intermediate's
			}
			e.DER = nil // the serial is the key
		}
		if e.DER != nil {
			if n = issuer.SignedSerial(e.DER, ca); n == nil {
				continue // another CA's certificate under the same name
			}
		} else if n = parseSerial(e.Serial); n == nil {
			return nil, fmt.Errorf("bad serial %q in store", e.Serial)
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: e.RevokedAt, ReasonCode: e.Reason})
	}
	// A CRL cannot be issued before a revocation it lists: in a cluster a
	// node whose clock runs behind may list a revocation another node
	// recorded "later", so thisUpdate is never before the latest
	// revocation time on the list (as for OCSP, see SignOCSP), and
	// nextUpdate follows it by one CRL validity.
	thisUpdate := now
	for _, e := range entries {
		if e.RevocationTime.After(thisUpdate) {
			thisUpdate = e.RevocationTime
		}
	}
	der, err := signer.SignCRL(big.NewInt(number), thisUpdate, thisUpdate.Add(r.cfg.CRLValidity), entries)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	sum := sha256.Sum256(der)
	// Revocations through this node clear the cache at once; those made on
	// another node of a cluster show within CRLRefresh.
	c := &SignedCRL{DER: der, ThisUpdate: thisUpdate.UTC().Truncate(time.Second), Until: now.Add(r.cfg.CRLRefresh), SHA256: hex.EncodeToString(sum[:])}
	if r.crlCache == nil {
		r.crlCache = map[issuer.CRLSigner]*SignedCRL{}
	}
	r.crlCache[signer] = c
	return c, nil
}

// crlContentsDER is the store's CRLContentsDER (store.Store has it): the
// CRL contents with the DER of the issuer name's records too.
type crlContentsDER interface {
	CRLContentsDER(ctx context.Context, issuer, issuerDN string, notAfter time.Time, atLeast int64) (int64, []store.RevokedEntry, error)
}

// parseSerial parses a lower-case hex serial; nil when it is not one.
func parseSerial(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		return nil
	}
	return n
}

// issuedBy reports whether the DER certificate der names ca's subject as
// its issuer, byte for byte.
func issuedBy(der []byte, ca *x509.Certificate) bool {
	c, err := x509.ParseCertificate(der)
	return err == nil && bytes.Equal(c.RawIssuer, ca.RawSubject)
}
