package wfe

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/certgate/certgate/internal/store"
	jose "github.com/go-jose/go-jose/v4"
)

// accountCache keeps recently used accounts with their parsed public keys,
// so that a request signed by a known account neither queries the store
// nor parses the JWK again. An entry is trusted for ttl; changes made
// through this process (update, deactivation, key change) drop it at once,
// changes made by another node are seen after at most ttl. It holds at most
// max entries and starts afresh when full. Safe for concurrent use.
type accountCache struct {
	mu      sync.Mutex
	entries map[string]accountEntry
	max     int
	ttl     time.Duration
	now     func() time.Time
}

type accountEntry struct {
	acct    *store.Account
	jwk     *jose.JSONWebKey
	fetched time.Time
}

func newAccountCache(max int, ttl time.Duration, now func() time.Time) *accountCache {
	return &accountCache{entries: make(map[string]accountEntry), max: max, ttl: ttl, now: now}
}

// get returns the cached account id if it is fresh.
func (c *accountCache) get(id string) (*store.Account, *jose.JSONWebKey, bool) {
	if c.ttl <= 0 {
		return nil, nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok || c.now().Sub(e.fetched) >= c.ttl {
		return nil, nil, false
	}
	return e.acct, e.jwk, true
}

// put stores acct, parsing its JWK unless the cached entry has the same
// key, and returns the parsed key.
func (c *accountCache) put(acct *store.Account) (*jose.JSONWebKey, error) {
	c.mu.Lock()
	prev, ok := c.entries[acct.ID]
	c.mu.Unlock()
	var jwk *jose.JSONWebKey
	if ok && bytes.Equal(prev.acct.JWK, acct.JWK) {
		jwk = prev.jwk
	} else {
		jwk = new(jose.JSONWebKey)
		if err := jwk.UnmarshalJSON(acct.JWK); err != nil {
			return nil, fmt.Errorf("parse stored JWK: %w", err)
		}
	}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		c.entries = make(map[string]accountEntry)
	}
	c.entries[acct.ID] = accountEntry{acct: acct, jwk: jwk, fetched: c.now()}
	c.mu.Unlock()
	return jwk, nil
}

// forget drops account id, after a change made through this process.
func (c *accountCache) forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}
