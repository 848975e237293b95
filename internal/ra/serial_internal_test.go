package ra

import (
	"math/big"
	"testing"
	"time"
)

// TestNewSerial checks the serial layout: positive, 20 octets at most (RFC
// 5280 §4.1.2.2), the issuance time in milliseconds in the first 6 octets,
// 112 random bits after them (two serials of one instant differ), and a
// 39-digit hex form that sorts like the serials.
func TestNewSerial(t *testing.T) {
	at := time.UnixMilli(1796000000123)
	a, ahex := newSerial(at)
	b, bhex := newSerial(at)
	if a.Sign() <= 0 || len(a.Bytes()) > 20 {
		t.Fatalf("serial %x: want positive, at most 20 octets", a)
	}
	if a.Cmp(b) == 0 {
		t.Fatalf("two serials at one instant are equal: %s", ahex)
	}
	if got := new(big.Int).Rsh(a, 112).Int64(); got != 1796000000123 {
		t.Errorf("time prefix %d, want 1796000000123", got)
	}
	if len(ahex) != 39 || len(bhex) != 39 || ahex != a.Text(16) {
		t.Errorf("hex forms %q, %q: want 39 digits each", ahex, bhex)
	}
	later, laterHex := newSerial(at.Add(time.Millisecond))
	if later.Cmp(a) <= 0 || later.Cmp(b) <= 0 || laterHex <= ahex || laterHex <= bhex {
		t.Errorf("a serial a millisecond later (%s) does not sort after %s and %s", laterHex, ahex, bhex)
	}
	// A zero clock still gives a positive serial.
	if z, _ := newSerial(time.Time{}); z.Sign() <= 0 {
		t.Errorf("serial at the zero time is %s", z)
	}
}
