package issuer

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// ParsePEMCertificates parses the CERTIFICATE blocks of the PEM data b,
// in their order, skipping blocks of other types (a key, parameters):
// what a connector reads from a CA's answer or from a file the issuers
// file names. It returns an empty slice, not an error, when b holds no
// certificate; the error of the first block that is not a certificate
// X.509 parses (wrapped, naming its position, counted from 1).
func ParsePEMCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out, nil
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
}
