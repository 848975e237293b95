package local

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"
)

// SignCRL signs a version 2 CRL (RFC 5280 §5) over entries, issued by the
// intermediate for the leaves it signed, and returns its DER.
//
// number is the monotonically increasing cRLNumber (RFC 5280 §5.2.3):
// non-negative, at most 20 octets. The CRL carries the authority key
// identifier of the intermediate (§5.2.1) and is signed with the algorithm
// of the intermediate's key (see AcceptedIntermediateKeys).
// thisUpdate and nextUpdate (§5.1.2.4-5) must satisfy
// nextUpdate > thisUpdate. Entries may carry a ReasonCode (§5.3.1).
// Errors wrap ErrInvalidRequest for bad arguments.
func (ca *CA) SignCRL(number *big.Int, thisUpdate, nextUpdate time.Time, entries []x509.RevocationListEntry) ([]byte, error) {
	if number == nil || number.Sign() < 0 {
		return nil, fmt.Errorf("%w: CRL number must be non-negative", ErrInvalidRequest)
	}
	if len(number.Bytes()) > maxSerialOctets-1 {
		return nil, fmt.Errorf("%w: CRL number longer than %d octets", ErrInvalidRequest, maxSerialOctets)
	}
	if thisUpdate.IsZero() || !nextUpdate.After(thisUpdate) {
		return nil, fmt.Errorf("%w: nextUpdate (%v) must be after thisUpdate (%v)", ErrInvalidRequest, nextUpdate, thisUpdate)
	}
	tmpl := &x509.RevocationList{
		SignatureAlgorithm:        ca.sig.alg,
		RevokedCertificateEntries: entries,
		Number:                    number,
		ThisUpdate:                thisUpdate.UTC(),
		NextUpdate:                nextUpdate.UTC(),
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.inter, ca.interKey)
	if err != nil {
		return nil, fmt.Errorf("local CA: sign CRL: %w", err)
	}
	return der, nil
}
