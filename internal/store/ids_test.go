package store

import (
	"encoding/base64"
	"math/big"
	"testing"
	"time"
)

// TestNewIDNeverLooksLikeAFlag checks that IDs never start with '-' or '_'
// (an ID is a CLI positional argument, and "-Wju…" was read by cobra as a
// flag: TestCustomAttributesEndToEnd failed in CI on such an account ID),
// are 22 characters and do not repeat.
func TestNewIDNeverLooksLikeAFlag(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 20000; i++ {
		id := NewID(time.Now())
		if len(id) != 22 {
			t.Fatalf("NewID = %q: %d characters, want 22", id, len(id))
		}
		if id[0] == '-' || id[0] == '_' {
			t.Fatalf("NewID = %q starts with %q", id, id[0])
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
	// Until 2109 the time prefix keeps the first character at 'A'.
	for _, at := range []time.Time{time.Unix(0, 0), time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), time.Date(2108, 12, 31, 0, 0, 0, 0, time.UTC)} {
		if id := NewID(at); id[0] != 'A' {
			t.Errorf("NewID(%s) = %q, want it to start with 'A'", at, id)
		}
	}
}

// TestNewIDTimePrefix checks the layout: the first 6 bytes are the Unix
// milliseconds, so IDs made within one millisecond share their first 8
// characters, and the last 10 bytes differ.
func TestNewIDTimePrefix(t *testing.T) {
	at := time.UnixMilli(1796000000123)
	a, b := NewID(at), NewID(at)
	if a[:8] != b[:8] || a == b {
		t.Fatalf("two IDs at one instant: %q and %q, want the same 8-character prefix and different IDs", a, b)
	}
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 16 {
		t.Fatalf("%q: %d bytes, %v", a, len(raw), err)
	}
	var ms int64
	for _, c := range raw[:6] {
		ms = ms<<8 | int64(c)
	}
	if ms != 1796000000123 {
		t.Errorf("time prefix %d, want 1796000000123", ms)
	}
}

// TestNewEventID checks the audit event ID's layout: 28 hex characters, the
// first 12 the Unix milliseconds.
func TestNewEventID(t *testing.T) {
	at := time.UnixMilli(1796000000123)
	a, err := NewEventID(at)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewEventID(at)
	if len(a) != 28 || a[:12] != "01a229f1287b" || a == b {
		t.Fatalf("NewEventID = %q and %q; want 28 hex characters starting 01a229f1287b, different", a, b)
	}
}

// TestNewSerial checks the serial layout: positive, 20 octets at most (RFC
// 5280 §4.1.2.2), the issuance time in milliseconds in the first 6 octets,
// 112 random bits after them (two serials of one instant differ), and a
// 39-digit hex form that sorts like the serials.
func TestNewSerial(t *testing.T) {
	at := time.UnixMilli(1796000000123)
	a, ahex := NewSerial(at)
	b, bhex := NewSerial(at)
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
	later, laterHex := NewSerial(at.Add(time.Millisecond))
	if later.Cmp(a) <= 0 || later.Cmp(b) <= 0 || laterHex <= ahex || laterHex <= bhex {
		t.Errorf("a serial a millisecond later (%s) does not sort after %s and %s", laterHex, ahex, bhex)
	}
	// The hex form keeps 39 digits past 2039-09-07, where the first octet
	// turns 0x02, until the year 2527.
	for _, at := range []time.Time{time.Date(2039, 9, 8, 0, 0, 0, 0, time.UTC), time.Date(2527, 6, 1, 0, 0, 0, 0, time.UTC)} {
		if n, h := NewSerial(at); len(h) != 39 || n.Sign() <= 0 {
			t.Errorf("serial at %s: %s (%d digits), want 39 digits, positive", at, h, len(h))
		}
	}
	// A zero clock still gives a positive serial.
	if z, _ := NewSerial(time.Time{}); z.Sign() <= 0 {
		t.Errorf("serial at the zero time is %s", z)
	}
}
