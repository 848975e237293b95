package store

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"

	"github.com/certgate/certgate/internal/issuer"
)

// CAScope names the certificates that are this CA's for a keyCompromise
// revocation, which revokes every certificate of the CA with the
// compromised key (CA/B Forum BR §4.9.1.1): those of source listener,
// those of source issued stored under the built-in CA's issuer name
// (issuer.LocalName, or Issuer), and the imported and discovered ones its
// key signed. A certificate of source issued stored under another issuer
// name was issued through an upstream CA (docs/issuers.md), which alone
// can revoke it: it is another CA's. The zero CAScope names no imported
// or discovered certificate. A rotated built-in CA has several
// intermediates (the current one and the retired ones, revoked or not): a
// certificate any of them signed is this CA's (ScopeOf).
type CAScope struct {
	// Issuer, when set, is a further issuer name (besides
	// issuer.LocalName) under which the built-in CA's certificates of
	// source issued are stored: the name of the RA's built-in issuer,
	// which is LocalName but for a stand-in in tests.
	Issuer string
	// DNs are the CA certificates' subjects as the inventory stores an
	// imported certificate's issuer (pkix.Name.String).
	DNs []string
	// Signed reports whether one of the CA's keys signed the DER
	// certificate der (e.g. issuer.SignedSerial(der, ca) != nil); a record
	// under one of DNs that it refuses is another CA's of the same name
	// and is left alone.
	Signed func(der []byte) bool
	// Others, when set, is called with the inventory key of each valid,
	// unexpired certificate with the compromised key that is not this
	// CA's (imported or discovered, another CA issued it, or issued
	// through an upstream CA): the revocation
	// leaves it as it is, for the caller to name it (its CA alone can
	// revoke it). It may be called again for a serial when the
	// transaction runs again.
	Others func(serial string)
}

// ScopeOf is the CAScope of the CA whose intermediates are cas (the one
// that signs now and the retired ones): a certificate stored under the
// subject of one of them that its key signed (issuer.SignedSerial) is this
// CA's. No cas is the zero CAScope; nil entries are skipped.
func ScopeOf(cas ...*x509.Certificate) CAScope {
	cas = slices.DeleteFunc(slices.Clone(cas), func(c *x509.Certificate) bool { return c == nil })
	if len(cas) == 0 {
		return CAScope{}
	}
	dns := make([]string, len(cas))
	for i, c := range cas {
		dns[i] = c.Subject.String()
	}
	return CAScope{DNs: dns, Signed: func(der []byte) bool {
		return slices.ContainsFunc(cas, func(ca *x509.Certificate) bool { return issuer.SignedSerial(der, ca) != nil })
	}}
}

// Holds reports whether the certificate record c is this CA's by import:
// stored under one of s.DNs and signed by one of its keys (s.Signed).
// Records of source issued are not judged here.
func (s CAScope) Holds(c *Certificate) bool {
	return s.Signed != nil && slices.Contains(s.DNs, c.Issuer) && s.Signed(c.DER)
}

// Ours reports whether the certificate record c is this CA's: the
// built-in CA issued it (source listener, or source issued under
// issuer.LocalName or s.Issuer), or it is this CA's by import (Holds). A
// record of source issued under another issuer name is an upstream CA's.
func (s CAScope) Ours(c *Certificate) bool {
	switch c.Source {
	case SourceListener:
		return true
	case SourceIssued:
		return c.Issuer == issuer.LocalName || s.Issuer != "" && c.Issuer == s.Issuer
	}
	return s.Holds(c)
}

// certificatesWithSerialSQL reads the records keyed serial or
// "serial-FINGERPRINT16" (an imported certificate whose serial another
// certificate held already, see inventory.Import): one range of the
// primary key. Keys are lower-case hex with an optional "-" and 16 hex
// digits, and '-' < '.' < '0' in byte order (PostgreSQL: COLLATE "C"), so
// the range [serial, serial+".") holds exactly those.
const certificatesWithSerialSQL = ` WHERE c.serial >= ? AND c.serial < ? ORDER BY c.serial`

// CertificatesWithSerial returns the certificate records whose serial
// number is serial (lower-case hex): the one keyed serial and the imported
// ones keyed "serial-FINGERPRINT16", ordered by key; none is no error.
// Serials are unique per issuer only, so the caller picks the one of its
// issuer (OCSP, ACME revokeCert). One range read of the primary key.
func (s *Store) CertificatesWithSerial(ctx context.Context, serial string) ([]*Certificate, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+certSelect()+certificatesWithSerialSQL, serial, serial+".")
	if err != nil {
		return nil, fmt.Errorf("certificates with serial %s: %w", serial, err)
	}
	defer rows.Close()
	var out []*Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, fmt.Errorf("certificates with serial %s: %w", serial, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("certificates with serial %s: %w", serial, err)
	}
	return out, nil
}
