package wfe

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// NonceStore issues and redeems anti-replay nonces (RFC 8555 §6.5). Nonces
// are 128-bit random values kept in memory for Lifetime; each is accepted
// once. When more than Max are outstanding the oldest are dropped, so
// memory stays bounded (a dropped nonce is answered with badNonce and the
// client retries with the fresh nonce it is sent). Safe for concurrent use.
type NonceStore struct {
	mu       sync.Mutex
	live     map[string]time.Time // nonce → expiry
	order    []string             // ring of issued nonces, oldest at head
	head     int
	lifetime time.Duration
	now      func() time.Time
}

// NewNonceStore returns a store holding at most max nonces for lifetime each.
func NewNonceStore(max int, lifetime time.Duration, now func() time.Time) *NonceStore {
	if now == nil {
		now = time.Now
	}
	return &NonceStore{live: make(map[string]time.Time, max), order: make([]string, 0, max), lifetime: lifetime, now: now}
}

// Issue returns a fresh nonce (22 base64url characters).
func (s *NonceStore) Issue() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	n := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) < cap(s.order) {
		s.order = append(s.order, n)
	} else {
		delete(s.live, s.order[s.head])
		s.order[s.head] = n
		s.head = (s.head + 1) % len(s.order)
	}
	s.live[n] = s.now().Add(s.lifetime)
	return n
}

// Redeem reports whether n was issued, has not expired and was not redeemed
// before; it is consumed either way.
func (s *NonceStore) Redeem(n string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.live[n]
	if !ok {
		return false
	}
	delete(s.live, n)
	return s.now().Before(exp)
}
