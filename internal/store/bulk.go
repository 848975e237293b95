package store

import (
	"context"
	"fmt"
)

// IssuedRecord is one issued certificate with the order and authorization
// (and its challenges) that led to it, for InsertIssued.
type IssuedRecord struct {
	Order *Order         // the order, valid
	Authz *Authorization // its authorization, with its challenges
	Cert  *Certificate   // the certificate
}

// InsertIssued writes whole issuance records in one transaction: the
// authorization with its challenges, the order (as given, normally valid
// with CertSerial set), the reserved serial and the certificate. It serves
// bulk loads such as `certgate bench seed`; ErrConflict wraps a duplicate
// serial or fingerprint.
func (s *Store) InsertIssued(ctx context.Context, recs []IssuedRecord) error {
	chs := make([]*newChain, len(recs))
	for i, r := range recs {
		chs[i] = s.chainOf(r.Cert)
	}
	err := s.tx(ctx, func(tx txConn) error {
		for i, r := range recs {
			if err := insertAuthz(ctx, tx, r.Authz, false); err != nil {
				return err
			}
			if err := s.insertOrder(ctx, tx, r.Order); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO serials (serial, reserved_at) VALUES (?, ?)`, r.Cert.Serial, ts(r.Cert.CreatedAt)); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("serial %s: %w", r.Cert.Serial, ErrConflict)
				}
				return fmt.Errorf("insert serial: %w", err)
			}
			if err := s.insertCertificate(ctx, tx, r.Cert, chs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.learn(chs...)
	}
	return err
}
