package wfe

import (
	"fmt"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
)

// keyCache keeps parsed account JWKs keyed by their stored JSON, so a
// request signed with a known account key does not parse it again. It holds
// at most max entries and starts afresh when full.
type keyCache struct {
	mu   sync.Mutex
	keys map[string]*jose.JSONWebKey
	max  int
}

func newKeyCache(max int) *keyCache {
	return &keyCache{keys: make(map[string]*jose.JSONWebKey), max: max}
}

// parse returns the parsed public JWK for the JSON in raw.
func (c *keyCache) parse(raw []byte) (*jose.JSONWebKey, error) {
	c.mu.Lock()
	k, ok := c.keys[string(raw)]
	c.mu.Unlock()
	if ok {
		return k, nil
	}
	k = new(jose.JSONWebKey)
	if err := k.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("parse stored JWK: %w", err)
	}
	c.mu.Lock()
	if len(c.keys) >= c.max {
		c.keys = make(map[string]*jose.JSONWebKey)
	}
	c.keys[string(raw)] = k
	c.mu.Unlock()
	return k, nil
}
