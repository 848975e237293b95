package wfe

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

func TestNonceStoreSingleUse(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := NewNonceStore(2, time.Minute, clock)
	ctx := context.Background()
	a := s.Issue()
	if ok, _ := s.Redeem(ctx, a); !ok {
		t.Fatal("fresh nonce refused")
	}
	if ok, _ := s.Redeem(ctx, a); ok {
		t.Fatal("nonce accepted twice")
	}
	b, c, d := s.Issue(), s.Issue(), s.Issue() // capacity 2: b is dropped
	if ok, _ := s.Redeem(ctx, b); ok {
		t.Fatal("evicted nonce accepted")
	}
	if ok, _ := s.Redeem(ctx, c); !ok {
		t.Fatal("live nonce refused")
	}
	now = now.Add(2 * time.Minute)
	if ok, _ := s.Redeem(ctx, d); ok {
		t.Fatal("expired nonce accepted")
	}
}

// TestNonceStoreExactString: only the string that was issued is accepted,
// not another spelling of the same 16 bytes (the last character's unused
// low bits set), nor a prefix or extension of it.
func TestNonceStoreExactString(t *testing.T) {
	s := NewNonceStore(8, time.Minute, nil)
	ctx := context.Background()
	n := s.Issue()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, n[len(n)-1])
	if len(n) != 22 || last%16 != 0 {
		t.Fatalf("nonce %q is not 16 bytes in unpadded base64url", n)
	}
	for _, v := range []string{n[:len(n)-1] + string(alphabet[last+1]), n[:len(n)-1], n + "A", n + "=", "", strings.ToUpper(n)} {
		if v == n {
			continue
		}
		if ok, _ := s.Redeem(ctx, v); ok {
			t.Fatalf("%q accepted for the nonce %q", v, n)
		}
	}
	if ok, _ := s.Redeem(ctx, n); !ok {
		t.Fatal("the issued nonce was refused after refused variants")
	}
}

// TestClusterNoncesAcrossNodes: two nodes sharing a key and a database each
// accept the other's nonce, and only once between them.
func TestClusterNoncesAcrossNodes(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	now := time.Now()
	clock := func() time.Time { return now }
	key := []byte(strings.Repeat("k", 32))
	a, err := NewClusterNonces(key, time.Hour, clock, st)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewClusterNonces(key, time.Hour, clock, st)
	n := a.Issue()
	if len(n) != 43 {
		t.Fatalf("nonce %q has %d characters, want 43", n, len(n))
	}
	if ok, err := b.Redeem(ctx, n); !ok || err != nil {
		t.Fatalf("node b refused node a's nonce: %v", err)
	}
	if ok, _ := a.Redeem(ctx, n); ok {
		t.Fatal("nonce accepted a second time by another node")
	}
	other, _ := NewClusterNonces([]byte(strings.Repeat("x", 32)), time.Hour, clock, st)
	if ok, _ := other.Redeem(ctx, a.Issue()); ok {
		t.Fatal("nonce with a MAC under another key accepted")
	}
	tampered := []byte(a.Issue())
	tampered[3] ^= 1
	if ok, _ := b.Redeem(ctx, string(tampered)); ok {
		t.Fatal("tampered nonce accepted")
	}
	old := a.Issue()
	now = now.Add(2 * time.Hour)
	if ok, _ := b.Redeem(ctx, old); ok {
		t.Fatal("expired nonce accepted")
	}
	if _, err := NewClusterNonces([]byte("short"), time.Hour, clock, st); err == nil {
		t.Fatal("a short key was accepted")
	}
}

// respellings are other spellings of nonce n that a lax base64url decoder
// reads as the same bytes: CR and LF inserted (the decoder skips them) and
// the last character's unused low bits set.
func respellings(t *testing.T, n string) []string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, n[len(n)-1])
	unused := 4 // 16 bytes: 22 characters, 4 bits unused
	if len(n)%4 == 3 {
		unused = 2 // 32 bytes: 43 characters, 2 bits unused
	}
	if last < 0 || last%(1<<unused) != 0 {
		t.Fatalf("nonce %q does not end in a canonical character", n)
	}
	vs := []string{n + "\n", "\r" + n, n + "\r\n", n[:10] + "\n" + n[10:], n[:10] + "\r\n" + n[10:],
		n[:len(n)-1] + "\n" + n[len(n)-1:], "\n" + n[:len(n)-1] + "\n" + n[len(n)-1:]}
	for low := 1; low < 1<<unused; low++ {
		vs = append(vs, n[:len(n)-1]+string(alphabet[last+low]))
	}
	return vs
}

// mapRecorder is a NonceRecorder in memory that refuses a nonce recorded
// before (store.ErrConflict), as the used-nonce table's unique key does.
type mapRecorder struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *mapRecorder) RecordNonce(_ context.Context, nonce string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen[nonce] {
		return fmt.Errorf("nonce %q: %w", nonce, store.ErrConflict)
	}
	m.seen[nonce] = true
	return nil
}

// TestNoncesRespelled: on both nonce stores a nonce is redeemed once only,
// whatever its spelling (RFC 8555 §6.5): after it was redeemed no
// respelling of it (CR or LF inserted, the last character's unused low
// bits set) is accepted again, and before it was none is accepted in its
// stead nor consumes it. ClusterNonces are tested with an in-memory
// recorder and with the store of each engine (PostgreSQL with
// CERTGATE_TEST_POSTGRES).
func TestNoncesRespelled(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	check := func(t *testing.T, ns Nonces) {
		t.Helper()
		ctx := context.Background()
		used := ns.Issue()
		if ok, err := ns.Redeem(ctx, used); !ok || err != nil {
			t.Fatalf("fresh nonce refused: %v", err)
		}
		for _, v := range respellings(t, used) {
			if ok, err := ns.Redeem(ctx, v); ok || err != nil {
				t.Errorf("respelling %q of the redeemed nonce %q: accepted %v, error %v", v, used, ok, err)
			}
		}
		fresh := ns.Issue()
		for _, v := range respellings(t, fresh) {
			if ok, err := ns.Redeem(ctx, v); ok || err != nil {
				t.Errorf("respelling %q of the fresh nonce %q: accepted %v, error %v", v, fresh, ok, err)
			}
		}
		if ok, err := ns.Redeem(ctx, fresh); !ok || err != nil {
			t.Fatalf("fresh nonce refused after its respellings: %v", err)
		}
	}
	t.Run("NonceStore", func(t *testing.T) { check(t, NewNonceStore(8, time.Hour, nil)) })
	t.Run("ClusterNonces/memory", func(t *testing.T) {
		c, err := NewClusterNonces(key, time.Hour, time.Now, &mapRecorder{seen: map[string]bool{}})
		if err != nil {
			t.Fatal(err)
		}
		check(t, c)
	})
	t.Run("ClusterNonces", func(t *testing.T) {
		storetest.EachStore(t, func(t *testing.T, st *store.Store) {
			c, err := NewClusterNonces(key, time.Hour, time.Now, st)
			if err != nil {
				t.Fatal(err)
			}
			check(t, c)
		})
	})
}

// FuzzDecodeNonce: decodeNonce accepts a string only when it is the
// canonical encoding of the bytes it decodes to, so that no two strings
// redeem the same nonce.
func FuzzDecodeNonce(f *testing.F) {
	for _, s := range []string{"AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAB", "AAAAAAAAAA\nAAAAAAAAAAA",
		strings.Repeat("_", 43), strings.Repeat("_", 42) + "w", strings.Repeat("A", 42) + "\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range []int{16, 32} {
			dst := make([]byte, n)
			if decodeNonce(dst, s) {
				if c := nonceEncoding.EncodeToString(dst); c != s {
					t.Fatalf("%q accepted as the %d bytes whose encoding is %q", s, n, c)
				}
			}
		}
	})
}
