package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CertificateChain returns what the ACME certificate download (RFC 8555
// §7.4.2) needs of the certificate with serial (lower-case hex): the ID of
// the account it was issued to ("" when it was not issued through ACME)
// and its PEM chain, leaf first. ErrNotFound when there is none. A few
// columns instead of GetCertificate's whole row (no JSON decoding of names
// and attributes); the intermediates of an issuer chain (chains.go) come
// from the store's cache, read once per chain. A certificate this Store
// issued recently (FinishOrder) is answered from memory (recentcerts.go).
func (s *Store) CertificateChain(ctx context.Context, serial string) (accountID, chainPEM string, err error) {
	if c, ok := s.recent.get(serial); ok {
		return c.accountID, c.chainPEM, nil
	}
	var der []byte
	var chainID sql.NullInt64
	var created int64
	err = s.hot(ctx, func(q querier) error {
		err := q.QueryRowContext(ctx, `SELECT COALESCE(account_id, ''), chain_pem, der, chain_id, created_at FROM certificates WHERE serial = ?`, serial).
			Scan(&accountID, &chainPEM, &der, &chainID, &created)
		if err != nil || !chainID.Valid {
			return err
		}
		intermediates, ok := s.chains.pem(chainID.Int64)
		if !ok {
			err := q.QueryRowContext(ctx, `SELECT pem FROM issuer_chains WHERE id = ?`, chainID.Int64).Scan(&intermediates)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("issuer chain %d is missing", chainID.Int64) // not ErrNotFound: the certificate exists
			}
			if err != nil {
				return fmt.Errorf("issuer chain %d: %w", chainID.Int64, err)
			}
			s.chains.add(chainID.Int64, intermediates)
		}
		chainPEM = withLeaf(der, intermediates)
		return nil
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrNotFound
	}
	if err != nil {
		return "", "", fmt.Errorf("certificate chain: %w", err)
	}
	// A certificate stored in the last minute may have been read before
	// the sync that makes its record durable ended (FinishOrder, on
	// another request or node's FinishOrder of this store): it leaves only
	// once its record cannot be lost in a power failure.
	if s.wal != nil && fromTS(created).After(time.Now().Add(-time.Minute)) {
		if err := s.wal.sync(ctx); err != nil {
			return "", "", fmt.Errorf("certificate chain: %w", err)
		}
	}
	return accountID, chainPEM, nil
}
