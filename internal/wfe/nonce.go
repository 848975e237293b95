package wfe

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/certgate/certgate/internal/store"
)

// Nonces issues and redeems the anti-replay nonces of RFC 8555 §6.5.
type Nonces interface {
	// Issue returns a fresh nonce.
	Issue() string
	// Redeem reports whether nonce is valid and unused, consuming it; the
	// error is for failures to decide (e.g. the database is down).
	Redeem(ctx context.Context, nonce string) (bool, error)
}

// NonceStore issues and redeems anti-replay nonces (RFC 8555 §6.5). Nonces
// are 128-bit random values kept in memory for Lifetime; each is accepted
// once. When more than Max are outstanding the oldest are dropped, so
// memory stays bounded (a dropped nonce is answered with badNonce and the
// client retries with the fresh nonce it is sent). Safe for concurrent use.
//
// The store holds no pointers (nonces as their 16 bytes, expiry as an
// offset from the store's creation), so the garbage collector does not
// scan its ~4 MiB at the default size on every cycle.
type NonceStore struct {
	mu       sync.Mutex
	live     map[nonceValue]time.Duration // nonce → expiry, as an offset from start
	order    []nonceValue                 // ring of issued nonces, oldest at head
	head     int
	lifetime time.Duration
	start    time.Time // when the store was made (with the monotonic clock reading, if now has one)
	now      func() time.Time
}

// nonceValue is a NonceStore nonce before base64url encoding.
type nonceValue [16]byte

// nonceEncoding is the nonces' encoding, unpadded base64url. Strict
// refuses a last character with its unused low bits set; CR and LF it
// still skips, which decodeNonce's length check excludes.
var nonceEncoding = base64.RawURLEncoding.Strict()

// decodeNonce decodes nonce into dst and reports whether nonce is the one
// canonical spelling of len(dst) bytes: exactly EncodedLen(len(dst))
// characters of the base64url alphabet, the last one's unused low bits
// zero. Any other spelling of the same bytes (a CR or LF anywhere, which
// the decoder skips, or other low bits) is refused, so that a nonce can
// only be redeemed in the form it was issued in (RFC 8555 §6.5).
func decodeNonce(dst []byte, nonce string) bool {
	if len(nonce) != nonceEncoding.EncodedLen(len(dst)) {
		return false
	}
	k, err := nonceEncoding.Decode(dst, []byte(nonce))
	return err == nil && k == len(dst)
}

// NewNonceStore returns a store holding at most max nonces for lifetime each.
func NewNonceStore(max int, lifetime time.Duration, now func() time.Time) *NonceStore {
	if now == nil {
		now = time.Now
	}
	return &NonceStore{live: make(map[nonceValue]time.Duration, max), order: make([]nonceValue, 0, max),
		lifetime: lifetime, start: now(), now: now}
}

// Issue returns a fresh nonce (22 base64url characters).
func (s *NonceStore) Issue() string {
	var n nonceValue
	if _, err := rand.Read(n[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	exp := s.now().Sub(s.start) + s.lifetime
	s.mu.Lock()
	if len(s.order) < cap(s.order) {
		s.order = append(s.order, n)
	} else {
		delete(s.live, s.order[s.head])
		s.order[s.head] = n
		s.head = (s.head + 1) % len(s.order)
	}
	s.live[n] = exp
	s.mu.Unlock()
	return nonceEncoding.EncodeToString(n[:])
}

// Redeem reports whether n was issued, has not expired and was not redeemed
// before; it is consumed either way. It never fails.
func (s *NonceStore) Redeem(_ context.Context, n string) (bool, error) {
	return s.redeem(n), nil
}

func (s *NonceStore) redeem(n string) bool {
	var v nonceValue
	if !decodeNonce(v[:], n) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.live[v]
	if !ok {
		return false
	}
	delete(s.live, v)
	return s.now().Sub(s.start) < exp
}

// NonceRecorder records redeemed nonces for the whole cluster; a second
// record of the same nonce fails with an error wrapping store.ErrConflict.
type NonceRecorder interface {
	// RecordNonce records nonce as redeemed until expires; an error
	// wrapping store.ErrConflict when it was redeemed before (RFC 8555
	// §6.5).
	RecordNonce(ctx context.Context, nonce string, expires time.Time) error
}

// ClusterNonces are nonces any node of a cluster accepts exactly once. A
// nonce is self-authenticating: 8 bytes of expiry (Unix seconds), 8 random
// bytes and the first 16 bytes of their HMAC-SHA256 under a key shared
// through the database, base64url (43 characters). Issuing one costs no
// storage; redeeming one inserts it into the used-nonce table, whose
// unique key makes a second redemption fail on every node. Expired
// records are pruned by the RA's sweep.
type ClusterNonces struct {
	key      []byte
	lifetime time.Duration
	now      func() time.Time
	rec      NonceRecorder
}

// NewClusterNonces returns cluster nonces signed with key (at least 32
// bytes), valid for lifetime, recorded through rec.
func NewClusterNonces(key []byte, lifetime time.Duration, now func() time.Time, rec NonceRecorder) (*ClusterNonces, error) {
	if len(key) < 32 {
		return nil, errors.New("nonce key must be at least 32 bytes")
	}
	return &ClusterNonces{key: key, lifetime: lifetime, now: now, rec: rec}, nil
}

func (c *ClusterNonces) mac(body []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(body)
	return m.Sum(nil)[:16]
}

// Issue implements Nonces.
func (c *ClusterNonces) Issue() string {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b, uint64(c.now().Add(c.lifetime).Unix()))
	if _, err := rand.Read(b[8:16]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	copy(b[16:], c.mac(b[:16]))
	return nonceEncoding.EncodeToString(b)
}

// Redeem implements Nonces: the nonce must be spelled exactly as Issue
// spells it (decodeNonce; it is recorded in that one form, so another
// spelling of the same bytes cannot be redeemed again), must carry a
// valid MAC, must not have expired, and must not have been recorded
// before by any node.
func (c *ClusterNonces) Redeem(ctx context.Context, nonce string) (bool, error) {
	var b [32]byte
	if !decodeNonce(b[:], nonce) || !hmac.Equal(b[16:], c.mac(b[:16])) {
		return false, nil
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(b[:])), 0)
	if !c.now().Before(exp) {
		return false, nil
	}
	if err := c.rec.RecordNonce(ctx, nonce, exp); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return false, nil
		}
		return false, fmt.Errorf("record nonce: %w", err)
	}
	return true, nil
}
