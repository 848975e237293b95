package certlint

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	_ "embed"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"github.com/titanous/rocacheck"
	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3/lint"
	zlintutil "github.com/zmap/zlint/v3/util"
)

//go:generate go run gen_smallkeys.go

// smallKeyLint is the zlint lint that a Linter runs with smallKeys
// instead of zlint's own implementation, for P-256 and P-384 keys.
const smallKeyLint = "e_ecdsa_small_private_key"

// smallKeyBits is the default Bits of smallKeyLint: it reports keys whose
// private scalar d, or its negation modulo the group order, satisfies
// 0 < d <= 2^16.
const smallKeyBits = 16

// Tables of the first four octets of the X coordinate of d*G for
// d = 1 .. 2^smallKeyBits, four octets per d in order of d, made by
// gen_smallkeys.go with crypto/ecdh. d*G and -d*G share their X
// coordinate, so one table lookup covers both signs.
var (
	//go:embed smallkeys_p256.bin
	smallKeysP256 string
	//go:embed smallkeys_p384.bin
	smallKeysP384 string
)

// smallKeyTable finds the small discrete logarithms of one curve's points.
type smallKeyTable struct {
	curve  ecdh.Curve
	size   int      // octets of a field element
	prefix string   // the embedded table
	byX    []uint32 // d-1 for every d, sorted by the X prefix of d*G
}

func newSmallKeyTable(curve ecdh.Curve, size int, prefix string) *smallKeyTable {
	t := &smallKeyTable{curve: curve, size: size, prefix: prefix, byX: make([]uint32, len(prefix)/4)}
	for i := range t.byX {
		t.byX[i] = uint32(i)
	}
	slices.SortFunc(t.byX, func(a, b uint32) int { return cmp.Compare(t.at(a), t.at(b)) })
	return t
}

// at returns the X prefix of (i+1)*G.
func (t *smallKeyTable) at(i uint32) uint32 {
	return binary.BigEndian.Uint32([]byte(t.prefix[4*i : 4*i+4]))
}

// find returns d in 1..2^smallKeyBits with d*G = ±P, or 0, where x is
// the big-endian X coordinate of P.
func (t *smallKeyTable) find(x []byte) uint32 {
	want := binary.BigEndian.Uint32(x)
	i, _ := slices.BinarySearchFunc(t.byX, want, func(e, w uint32) int { return cmp.Compare(t.at(e), w) })
	// A four-octet prefix is only a candidate: confirm each by computing
	// d*G and comparing the whole X coordinate.
	for ; i < len(t.byX) && t.at(t.byX[i]) == want; i++ {
		d := t.byX[i] + 1
		scalar := make([]byte, t.size)
		binary.BigEndian.PutUint32(scalar[t.size-4:], d)
		k, err := t.curve.NewPrivateKey(scalar)
		if err != nil {
			continue
		}
		if bytes.Equal(k.PublicKey().Bytes()[1:1+t.size], x) {
			return d
		}
	}
	return 0
}

// smallKeys runs smallKeyLint with precomputed tables: a binary search
// instead of zlint's baby-step giant-step walk (about 18 point additions
// through crypto/elliptic, 0.2 ms per P-256 certificate). Same result as
// the zlint lint with its default configuration: Error for 0 < d <= 2^16
// or its negation, Pass otherwise, NA when the key is not an ECDSA P-256
// or P-384 point. Safe for concurrent use; each curve's index is sorted on
// first use (a few milliseconds).
type smallKeys struct {
	p256, p384 func() *smallKeyTable
}

func newSmallKeys() *smallKeys {
	return &smallKeys{
		p256: sync.OnceValue(func() *smallKeyTable { return newSmallKeyTable(ecdh.P256(), 32, smallKeysP256) }),
		p384: sync.OnceValue(func() *smallKeyTable { return newSmallKeyTable(ecdh.P384(), 48, smallKeysP384) }),
	}
}

// table returns the table for c's key, or nil when c's key is not an
// ECDSA key on P-256 or P-384 (then zlint's lint must run).
func (s *smallKeys) table(c *zx509.Certificate) (*smallKeyTable, *ecdsa.PublicKey) {
	if c.PublicKeyAlgorithm != zx509.ECDSA {
		return nil, nil
	}
	var pub *ecdsa.PublicKey
	switch k := c.PublicKey.(type) {
	case *zx509.AugmentedECDSA:
		pub = k.Pub
	case *ecdsa.PublicKey:
		pub = k
	}
	if pub == nil {
		return nil, nil
	}
	switch pub.Curve {
	case elliptic.P256():
		return s.p256(), pub
	case elliptic.P384():
		return s.p384(), pub
	}
	return nil, nil
}

// execute is smallKeyLint on c's key with table t.
func (t *smallKeyTable) execute(pub *ecdsa.PublicKey) *lint.LintResult {
	point, err := pub.Bytes() // 0x04 || X || Y
	if err != nil || len(point) != 1+2*t.size {
		return &lint.LintResult{Status: lint.NA} // not a point on the curve
	}
	d := t.find(point[1 : 1+t.size])
	if d == 0 {
		return &lint.LintResult{Status: lint.Pass}
	}
	return &lint.LintResult{
		Status: lint.Error,
		Details: fmt.Sprintf("the ECDSA private key is %s, or its negation modulo the group order, and so can be trivially recovered by anyone",
			new(big.Int).SetUint64(uint64(d))),
	}
}

// KeyChecker finds the certificate public keys that the issuance lint
// refuses because anyone can recover their private key, so that a
// certificate request with one can be refused before anything is signed:
// ECDSA P-256 and P-384 keys whose private scalar or its negation is at
// most 2^16 (e_ecdsa_small_private_key, same tables as a Linter's), RSA
// moduli with a prime factor below 752 (w_rsa_mod_factors_smaller_than_752)
// and RSA moduli whose factors are close enough for Fermat's method to find
// them in 100 steps (e_rsa_fermat_factorization with zlint's default
// rounds); and, beyond the lint, RSA moduli with the ROCA fingerprint
// (CVE-2017-15361: Infineon's key generation, whose keys can be factored),
// which CA/B BR 6.1.1.3 requires refusing. Safe for concurrent use.
type KeyChecker struct {
	keys *smallKeys
}

// fermatRounds is e_rsa_fermat_factorization's default number of steps.
const fermatRounds = 100

// NewKeyChecker returns a KeyChecker; each curve's table is indexed on
// first use.
func NewKeyChecker() *KeyChecker { return &KeyChecker{keys: newSmallKeys()} }

// Weak returns why pub's private key can be recovered by anyone, or ""
// for a key none of the checks above finds (including key types they do
// not cover).
func (k *KeyChecker) Weak(pub crypto.PublicKey) string {
	switch pk := pub.(type) {
	case *ecdsa.PublicKey:
		if d, ok := k.SmallECDSAKey(pk); ok {
			return fmt.Sprintf("its ECDSA private key is %d (or its negation)", d)
		}
	case *rsa.PublicKey:
		if !zlintutil.PrimeNoSmallerThan752(pk.N) {
			return "its RSA modulus has a prime factor smaller than 752"
		}
		if fermatFactors(pk.N, fermatRounds) {
			return "its RSA modulus factors by Fermat's method (its two primes are too close)"
		}
		if rocacheck.IsWeak(pk) {
			return "its RSA modulus has the ROCA fingerprint (CVE-2017-15361: made by Infineon's vulnerable key generation, it can be factored)"
		}
	}
	return ""
}

// SmallECDSAKey returns the private key d (1 ≤ d ≤ 2^16; the key's scalar
// is d or its negation) when pub is a P-256 or P-384 key anyone can
// recover that way, and ok true; 0, false for any other key.
func (k *KeyChecker) SmallECDSAKey(pub *ecdsa.PublicKey) (d uint32, ok bool) {
	var t *smallKeyTable
	switch pub.Curve {
	case elliptic.P256():
		t = k.keys.p256()
	case elliptic.P384():
		t = k.keys.p384()
	default:
		return 0, false
	}
	point, err := pub.Bytes()
	if err != nil || len(point) != 1+2*t.size {
		return 0, false
	}
	d = t.find(point[1 : 1+t.size])
	return d, d != 0
}

// fermatFactors reports whether n = a² − b² for an integer b with a one of
// the rounds integers from ⌈√n⌉ on: then n = (a+b)(a−b), found at once when
// the two factors are close.
func fermatFactors(n *big.Int, rounds int) bool {
	a := new(big.Int).Sqrt(n)
	if new(big.Int).Mul(a, a).Cmp(n) != 0 {
		a.Add(a, big.NewInt(1))
	}
	b2 := new(big.Int).Sub(new(big.Int).Mul(a, a), n)
	root := new(big.Int)
	for range rounds {
		if root.Sqrt(b2); new(big.Int).Mul(root, root).Cmp(b2) == 0 {
			return true
		}
		// (a+1)² − n = a² − n + 2a + 1
		b2.Add(b2, a).Add(b2, a).Add(b2, big.NewInt(1))
		a.Add(a, big.NewInt(1))
	}
	return false
}
