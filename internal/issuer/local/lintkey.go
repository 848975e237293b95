package local

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// lintKey is the throwaway ECDSA P-256 key that signs the pre-issuance
// lint copy of every leaf. It signs with one fixed nonce k, so that a
// signature is s = k⁻¹·(e + r·d) mod n, two multiplications modulo n,
// instead of a scalar multiplication of the base point and the nonce
// derivation (FIPS 186-5 §6.4.1) that crypto/ecdsa does for each one.
//
// A fixed nonce gives the private key away to anyone who sees two
// signatures. That is harmless here: the key exists only in this process,
// is made anew at every start, certifies nothing anybody trusts (the lint
// copy's issuer is a copy of the intermediate with this key in place of
// the intermediate's), and the lint copies it signs are never stored,
// logged or sent. x509.CreateCertificate still verifies every signature
// it makes with crypto/ecdsa, so an arithmetic mistake here fails the
// lint-signing instead of producing a lint copy with a bad signature.
// Safe for concurrent use.
type lintKey struct {
	key  *ecdsa.PrivateKey // the key pair; signs when s would be 0
	n    *big.Int          // order of the base point
	r    *big.Int          // x(k·G) mod n
	rd   *big.Int          // r·d mod n
	kInv *big.Int          // k⁻¹ mod n
	rDER []byte            // r as a DER INTEGER, the first half of every signature
}

// newLintKey makes a fresh P-256 key and nonce.
func newLintKey() (*lintKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("local CA: generate lint key: %w", err)
	}
	// The nonce pair (k, k·G) is made like a key pair, from the same
	// CSPRNG; only its scalar and the X coordinate of its point are kept.
	nonce, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("local CA: generate lint nonce: %w", err)
	}
	dBytes, err := key.Bytes()
	if err != nil {
		return nil, fmt.Errorf("local CA: lint key: %w", err)
	}
	kBytes, err := nonce.Bytes()
	if err != nil {
		return nil, fmt.Errorf("local CA: lint nonce: %w", err)
	}
	point, err := nonce.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return nil, fmt.Errorf("local CA: lint nonce: %w", err)
	}
	n := elliptic.P256().Params().N
	d, k := new(big.Int).SetBytes(dBytes), new(big.Int).SetBytes(kBytes)
	r := new(big.Int).SetBytes(point[1:33])
	r.Mod(r, n)
	kInv := new(big.Int).ModInverse(k, n)
	if r.Sign() == 0 || kInv == nil {
		return nil, errors.New("local CA: lint nonce unusable") // probability about 2⁻²⁵⁶
	}
	rd := new(big.Int).Mul(r, d)
	rd.Mod(rd, n)
	var b cryptobyte.Builder
	b.AddASN1BigInt(r)
	rDER, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("local CA: lint nonce: %w", err)
	}
	return &lintKey{key: key, n: n, r: r, rd: rd, kInv: kInv, rDER: rDER}, nil
}

// Public implements crypto.Signer.
func (k *lintKey) Public() crypto.PublicKey { return k.key.Public() }

// Sign implements crypto.Signer for SHA-256 digests and returns an
// ASN.1 DER ECDSA-Sig-Value (RFC 5480 §2.2.3 / RFC 3279 §2.2.3).
func (k *lintKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.SHA256 || len(digest) != 32 {
		return nil, fmt.Errorf("local CA: lint key signs SHA-256 digests only, got %v", opts.HashFunc())
	}
	// The digest is as long as n (256 bits), so e is the digest itself
	// (FIPS 186-5 §6.4.1 step 4, bits2int without truncation).
	s := new(big.Int).SetBytes(digest)
	s.Add(s, k.rd)
	s.Mul(s, k.kInv)
	s.Mod(s, k.n)
	if s.Sign() == 0 {
		return ecdsa.SignASN1(rand.Reader, k.key, digest)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(k.rDER)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}
