package certlint

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"math/big"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/testenv/testca"
)

// TestSmallKeyTables recomputes every 61st entry (and the last) of the
// embedded tables with crypto/ecdh: the X prefix of d*G.
func TestSmallKeyTables(t *testing.T) {
	for _, tc := range []struct {
		name  string
		curve ecdh.Curve
		size  int
		table string
	}{{"P-256", ecdh.P256(), 32, smallKeysP256}, {"P-384", ecdh.P384(), 48, smallKeysP384}} {
		if len(tc.table) != 4<<smallKeyBits {
			t.Fatalf("%s: table has %d octets, want %d", tc.name, len(tc.table), 4<<smallKeyBits)
		}
		for d := uint32(1); d <= 1<<smallKeyBits; d += 61 {
			if d > 1<<smallKeyBits-61 {
				d = 1 << smallKeyBits
			}
			scalar := make([]byte, tc.size)
			binary.BigEndian.PutUint32(scalar[tc.size-4:], d)
			k, err := tc.curve.NewPrivateKey(scalar)
			if err != nil {
				t.Fatal(err)
			}
			want := binary.BigEndian.Uint32(k.PublicKey().Bytes()[1:5])
			if got := binary.BigEndian.Uint32([]byte(tc.table[4*(d-1):])); got != want {
				t.Fatalf("%s: entry for d=%d is %08x, want %08x", tc.name, d, got, want)
			}
		}
	}
}

// TestKeyCheckerSmallECDSAKey: KeyChecker reports the keys the lint
// reports (d and its negation up to 2^16, P-256 and P-384) and no others.
func TestKeyCheckerSmallECDSAKey(t *testing.T) {
	kc := NewKeyChecker()
	for _, c := range []struct {
		curve elliptic.Curve
		d     *big.Int
		want  uint32
	}{
		{elliptic.P256(), big.NewInt(1), 1},
		{elliptic.P256(), big.NewInt(1 << 16), 1 << 16},
		{elliptic.P384(), big.NewInt(255), 255},
		{elliptic.P384(), new(big.Int).Sub(elliptic.P384().Params().N, big.NewInt(3)), 3},
		{elliptic.P256(), big.NewInt(1<<16 + 1), 0},
	} {
		key, err := ecdsa.ParseRawPrivateKey(c.curve, c.d.FillBytes(make([]byte, (c.curve.Params().BitSize+7)/8)))
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := kc.SmallECDSAKey(&key.PublicKey); d != c.want || ok != (c.want != 0) {
			t.Errorf("%s d=%v: %d, %v; want %d", c.curve.Params().Name, c.d, d, ok, c.want)
		}
	}
	p521, err := ecdsa.ParseRawPrivateKey(elliptic.P521(), big.NewInt(1).FillBytes(make([]byte, 66)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := kc.SmallECDSAKey(&p521.PublicKey); ok {
		t.Error("P-521 is not covered by the tables, yet reported")
	}
}

// TestKeyCheckerWeakRSA: Weak names RSA moduli with a factor below 752
// and moduli that Fermat's method factors at once, and passes a generated
// key.
func TestKeyCheckerWeakRSA(t *testing.T) {
	kc := NewKeyChecker()
	x, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 1024))
	if err != nil {
		t.Fatal(err)
	}
	x.SetBit(x, 1023, 1).SetBit(x, 0, 1)
	near := new(big.Int).Mul(x, new(big.Int).Add(x, big.NewInt(2))) // (x+1)² − 1
	small := new(big.Int).Mul(big.NewInt(751), x)
	for name, n := range map[string]*big.Int{"close factors": near, "factor 751": small} {
		if why := kc.Weak(&rsa.PublicKey{N: n, E: 65537}); why == "" {
			t.Errorf("%s: not reported", name)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if why := kc.Weak(&key.PublicKey); why != "" {
		t.Errorf("a generated key reported: %s", why)
	}
}

// TestKeyCheckerROCA: Weak names an RSA key with the ROCA fingerprint
// (CVE-2017-15361), which CA/B BR 6.1.1.3 requires refusing; the lint's
// checks (small factors, Fermat) do not find it.
func TestKeyCheckerROCA(t *testing.T) {
	key := testca.ROCAKey(t)
	why := NewKeyChecker().Weak(&key.PublicKey)
	if !strings.Contains(why, "ROCA") {
		t.Errorf("ROCA key: %q, want it named weak for ROCA", why)
	}
}
