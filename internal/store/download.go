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
		// FinishOrder started the sync of its record (syncSoon); it has
		// usually ended by the time the client asks.
		if s.wal != nil {
			if err := s.wal.syncTo(ctx, c.commits); err != nil {
				return "", "", fmt.Errorf("certificate chain: %w", err)
			}
		}
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
	if err := s.SyncIfRecent(ctx, fromTS(created)); err != nil {
		return "", "", fmt.Errorf("certificate chain: %w", err)
	}
	return accountID, chainPEM, nil
}

// recentlyStored is how long after its creation a certificate row read
// from the database may not yet be on disk (SyncIfRecent): FinishOrder
// starts the sync of its commit at once, a checkpoint syncs the WAL at
// least every few seconds while anything is written, and OpenSQLite syncs
// what a process before it left, so a minute is far past all three.
const recentlyStored = time.Minute

// SyncIfRecent makes sure the record of a certificate created at created
// is on disk before the caller hands the certificate out (the ACME
// download, `certgate cert export`, the admin API's PEM): on SQLite, for a
// certificate created within the last minute, it waits for an fsync of
// the WAL begun after the call, which covers the row whichever process or
// start of this one committed it (FinishOrder answers before its record
// is synced; see walSyncer). For an older one it still waits until every
// certificate this process stored by FinishOrder is on disk (at once when
// they are): created is the issuing clock's time and "the last minute"
// this host's wall clock, so a clock stepped forward by more than a minute
// since the issuance, or an issuer clock behind this one, made a record
// committed a moment ago look old, and it was handed out unsynced.
// Nothing to do on PostgreSQL, whose commits are durable, or for older
// certificates once this process's are synced, unless an fsync has failed
// since they may have been committed. Errors are those of the fsync.
func (s *Store) SyncIfRecent(ctx context.Context, created time.Time) error {
	if s.wal == nil {
		return nil
	}
	if err := s.wal.lost(created, recentlyStored); err != nil {
		return err
	}
	if !created.After(time.Now().Add(-recentlyStored)) {
		return s.wal.syncCertificates(ctx)
	}
	return s.wal.syncFresh(ctx)
}
