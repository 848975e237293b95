package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// IssuedRecord is one issued certificate with the order and authorization
// (and its challenges) that led to it, for InsertIssued.
type IssuedRecord struct {
	Order *Order
	Authz *Authorization
	Cert  *Certificate
}

// InsertIssued writes whole issuance records in one transaction: the
// authorization with its challenges, the order (as given, normally valid
// with CertSerial set), the reserved serial and the certificate. It serves
// bulk loads such as `certgate bench seed`; ErrConflict wraps a duplicate
// serial or fingerprint.
func (s *Store) InsertIssued(ctx context.Context, recs []IssuedRecord) error {
	return s.tx(ctx, func(tx txConn) error {
		for _, r := range recs {
			a, o, c := r.Authz, r.Order, r.Cert
			if _, err := tx.ExecContext(ctx, `INSERT INTO authorizations (id, account_id, ident_type, ident_value, wildcard, status, expires_at, validated_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.AccountID, a.Identifier.Type, a.Identifier.Value, a.Wildcard, a.Status,
				ts(a.Expires), ts(a.ValidatedAt), ts(a.CreatedAt)); err != nil {
				return fmt.Errorf("insert authorization: %w", err)
			}
			for _, ch := range a.Challenges {
				if _, err := tx.ExecContext(ctx, `INSERT INTO challenges (id, authz_id, type, token, status, validated_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					ch.ID, a.ID, ch.Type, ch.Token, ch.Status, ts(ch.ValidatedAt), ts(ch.UpdatedAt)); err != nil {
					return fmt.Errorf("insert challenge: %w", err)
				}
			}
			idents, _ := json.Marshal(o.Identifiers)
			authzIDs, _ := json.Marshal(o.AuthzIDs)
			if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id, account_id, status, expires_at, identifiers, authz_ids, not_before, not_after, cert_serial, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, o.ID, o.AccountID, o.Status, ts(o.Expires), string(idents), string(authzIDs),
				ts(o.NotBefore), ts(o.NotAfter), o.CertSerial, ts(o.CreatedAt), ts(o.UpdatedAt)); err != nil {
				return fmt.Errorf("insert order: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO serials (serial, reserved_at) VALUES (?, ?)`, c.Serial, ts(c.CreatedAt)); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("serial %s: %w", c.Serial, ErrConflict)
				}
				return fmt.Errorf("insert serial: %w", err)
			}
			sans, _ := json.Marshal(nonNil(c.SANs))
			if _, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, issuer, order_id, account_id, der, chain_pem, sans, key_type, fingerprint_sha256, not_before, not_after, status, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.Serial, c.Issuer, c.OrderID, c.AccountID, c.DER, c.ChainPEM, string(sans), c.KeyType,
				c.FingerprintSHA256, ts(c.NotBefore), ts(c.NotAfter), c.Status, ts(c.CreatedAt)); err != nil {
				if isUniqueViolation(err) {
					return fmt.Errorf("certificate %s: %w", c.Serial, ErrConflict)
				}
				return fmt.Errorf("insert certificate: %w", err)
			}
		}
		return nil
	})
}
