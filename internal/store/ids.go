package store

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"
)

// Keys that start with their creation time.
//
// The primary keys of accounts, orders, authorizations, challenges and
// approvals, and the unique ID of an audit event, begin with the time they
// were made in Unix milliseconds (6 bytes, big-endian) and end with random
// bytes. Rows created together then sit next to each other in the B-tree
// indexes of both engines, so storing an order's rows touches the same few
// pages however many rows the database holds; with fully random keys every
// insert lands on a page of its own, which a large database no longer has
// in cache (docs/performance.md, "Large databases"). Nothing depends on an
// ID being secret: every ACME object is read with its account's signed
// request, and admin reads need a token.

// NewID returns an object ID made at t: 16 bytes (6 of time, 10 = 80 bits
// from crypto/rand) in base64url without padding, 22 characters. Times
// before 1970 count as 0. The first character is 'A' until the year 2109,
// so an ID never starts with '-' and never reads as a flag when given to
// the CLI. It panics only if crypto/rand fails.
func NewID(t time.Time) string {
	var b [16]byte
	putMillis(b[:6], t)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewEventID returns an audit event ID made at t: 14 bytes (6 of time, 8
// from crypto/rand) in lower-case hex, 28 characters. Errors: crypto/rand's.
func NewEventID(t time.Time) (string, error) {
	var b [14]byte
	putMillis(b[:6], t)
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("audit event id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// NewSerial returns a certificate serial made at t and its lower-case hex
// form: 20 octets (the RFC 5280 §4.1.2.2 maximum), the first 6 the time in
// Unix milliseconds (at least 1; 0x01 in the first octet until
// 2039-09-07, then 0x02 and up, below 0x10 until the year 2527, so the hex
// form is 39 digits long until then, and below 0x80, so the serial is
// positive, until the year 6429), the
// other 14 from crypto/rand: 112 bits, where CA/B BR §7.1 asks for at least
// 64 bits of CSPRNG output, and never sequential. The time first keeps the
// serials issued together next to each other in the indexes that start
// with the serial (serials, certificates, certificate_names). It panics
// only if crypto/rand fails.
func NewSerial(t time.Time) (*big.Int, string) {
	var b [20]byte
	putMillis(b[:6], t)
	if b[0]|b[1]|b[2]|b[3]|b[4]|b[5] == 0 {
		b[5] = 1
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	n := new(big.Int).SetBytes(b[:])
	return n, n.Text(16)
}

// putMillis writes t's Unix milliseconds (0 before 1970) big-endian into
// the 6 bytes of b.
func putMillis(b []byte, t time.Time) {
	ms := max(t.UnixMilli(), 0)
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
}
