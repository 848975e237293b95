package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// CertificateChain returns what the ACME certificate download (RFC 8555
// §7.4.2) needs of the certificate with serial (lower-case hex): the ID of
// the account it was issued to ("" when it was not issued through ACME)
// and its PEM chain, leaf first. ErrNotFound when there is none. Two
// columns instead of GetCertificate's whole row (no DER copy, no JSON
// decoding of names and attributes).
func (s *Store) CertificateChain(ctx context.Context, serial string) (accountID, chainPEM string, err error) {
	err = s.hot(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, `SELECT COALESCE(account_id, ''), chain_pem FROM certificates WHERE serial = ?`, serial).Scan(&accountID, &chainPEM)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("certificate chain: %w", err)
	}
	return accountID, chainPEM, nil
}
