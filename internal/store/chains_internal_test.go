package store

import (
	"bytes"
	"encoding/pem"
	"testing"
)

// TestLeafPEM: leafPEM writes exactly what pem.EncodeToMemory writes for a
// CERTIFICATE block, whatever the length (full and partial last lines,
// padding, empty), so that a chain read back equals the chain stored.
func TestLeafPEM(t *testing.T) {
	der := make([]byte, 1500)
	for i := range der {
		der[i] = byte(i*7 + i>>8)
	}
	for n := 0; n <= len(der); n++ {
		want := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der[:n]})
		if got := leafPEM(der[:n], 0); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: leafPEM =\n%s\nwant\n%s", n, got, want)
		}
	}
}
