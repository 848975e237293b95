package wfe

import (
	"context"
	"strings"
	"testing"
	"time"

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
