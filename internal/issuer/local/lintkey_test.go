package local

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// TestLintKeySignatures checks that the lint key's fixed-nonce signatures
// verify with crypto/ecdsa for random digests and for digests whose value
// is at or above the group order, all share r, fit the 72 octets a P-256
// signature takes (e_mp_ecdsa_signature_encoding_correct judges the
// algorithm by the signature's length), and that other hashes are refused.
func TestLintKeySignatures(t *testing.T) {
	k, err := newLintKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := k.Public().(*ecdsa.PublicKey)
	digests := [][]byte{bytes.Repeat([]byte{0xff}, 32), k.n.FillBytes(make([]byte, 32)), make([]byte, 32)}
	for i := range 200 {
		d := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		digests = append(digests, d[:])
	}
	var firstR []byte
	for _, d := range digests {
		sig, err := k.Sign(rand.Reader, d, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if !ecdsa.VerifyASN1(pub, d, sig) {
			t.Fatalf("signature of %x does not verify", d)
		}
		if len(sig) > 72 {
			t.Errorf("signature of %d octets", len(sig))
		}
		r := sig[2 : 2+len(k.rDER)]
		if firstR == nil {
			firstR = r
		} else if !bytes.Equal(r, firstR) {
			t.Errorf("r differs between signatures")
		}
	}
	if _, err := k.Sign(rand.Reader, make([]byte, 48), crypto.SHA384); err == nil {
		t.Error("the lint key signed a SHA-384 digest")
	}
}

// BenchmarkLintKeySign compares a lint key signature with crypto/ecdsa's
// for the same key.
func BenchmarkLintKeySign(b *testing.B) {
	k, err := newLintKey()
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("tbs"))
	for _, s := range []struct {
		name string
		s    crypto.Signer
	}{{"lintKey", k}, {"crypto/ecdsa", k.key}} {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
