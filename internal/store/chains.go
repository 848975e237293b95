package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Issuer chains (migration 00013). A certificate whose ChainPEM is the PEM
// block of its DER (pem.EncodeToMemory, as issuers and the inventory import
// write it) followed by more — the intermediates — is stored with chain_pem
// '' and chain_id naming an issuer_chains row that holds those
// intermediates, one row per distinct chain, inserted if needed in the
// transaction that stores the certificate. Reading it encodes the leaf's
// block from der again, so the chain read is byte for byte the one stored.
// Any other ChainPEM (empty, a leaf alone, a first block that is not the
// DER's) is stored in chain_pem as given, like every certificate stored
// before the migration.

// maxCachedChains bounds the issuer chains a Store keeps in memory. A CA
// has one or a few; imported certificates may bring more.
const maxCachedChains = 1024

// chainCache holds committed issuer_chains rows by id and by PEM. Rows are
// never changed or deleted, so an entry never goes stale; only rows known
// to be committed are added (an id from a rolled-back transaction could
// later name another chain).
type chainCache struct {
	mu    sync.RWMutex
	byID  map[int64]string
	byPEM map[string]int64
}

func newChainCache() *chainCache {
	return &chainCache{byID: map[int64]string{}, byPEM: map[string]int64{}}
}

// pem returns the intermediates of chain id, if cached.
func (c *chainCache) pem(id int64) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.byID[id]
	return p, ok
}

// id returns the id of the chain whose intermediates are pem, if cached.
func (c *chainCache) id(pem string) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	id, ok := c.byPEM[pem]
	return id, ok
}

// add caches the committed chain row (id, pem), unless the cache is full.
func (c *chainCache) add(id int64, pem string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byID) < maxCachedChains {
		pem = strings.Clone(pem) // not the caller's whole chain
		c.byID[id], c.byPEM[pem] = pem, id
	}
}

// newChain is the issuer chain of a certificate being inserted.
type newChain struct {
	pem   string // the intermediates, PEM
	known int64  // id of the committed row holding pem (from the cache), 0 if unknown
	id    int64  // id used by the last run of the transaction
}

// chainOf returns the issuer chain to store c with, or nil when c's
// ChainPEM is stored as given (see above).
func (s *Store) chainOf(c *Certificate) *newChain {
	if len(c.DER) == 0 {
		return nil
	}
	leaf := leafPEM(c.DER)
	if len(c.ChainPEM) <= len(leaf) || c.ChainPEM[:len(leaf)] != string(leaf) {
		return nil
	}
	ch := &newChain{pem: c.ChainPEM[len(leaf):]}
	ch.known, _ = s.chains.id(ch.pem)
	return ch
}

// learn caches the chains of a committed transaction (nil entries skipped).
func (s *Store) learn(chs ...*newChain) {
	for _, ch := range chs {
		if ch != nil && ch.known == 0 && ch.id != 0 {
			s.chains.add(ch.id, ch.pem)
		}
	}
}

// insertChain returns the id of ch's issuer_chains row within tx,
// inserting the row when there is none. Two transactions inserting the same
// new chain at once (PostgreSQL): the second one's INSERT waits for the
// first and, once that committed, does nothing (ON CONFLICT) and returns no
// row; its second SELECT, a new snapshot at READ COMMITTED, finds the row.
func insertChain(ctx context.Context, tx txConn, ch *newChain) (int64, error) {
	if ch.known != 0 {
		ch.id = ch.known
		return ch.id, nil
	}
	sum := sha256.Sum256([]byte(ch.pem))
	const find = `SELECT id FROM issuer_chains WHERE sha256 = ?`
	err := tx.QueryRowContext(ctx, find, sum[:]).Scan(&ch.id)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `INSERT INTO issuer_chains (sha256, pem) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING RETURNING id`,
			sum[:], ch.pem).Scan(&ch.id)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, find, sum[:]).Scan(&ch.id)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("store issuer chain: %w", err)
	}
	return ch.id, nil
}

// withLeaf returns the PEM chain of a certificate stored with an issuer
// chain: the PEM block of der, then the intermediates.
func withLeaf(der []byte, intermediates string) string {
	return string(leafPEM(der)) + intermediates
}

// leafPEM returns der's PEM CERTIFICATE block (encoding/pem).
func leafPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
