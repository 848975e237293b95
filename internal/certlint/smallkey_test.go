package certlint

import (
	"crypto/ecdh"
	"encoding/binary"
	"testing"
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
