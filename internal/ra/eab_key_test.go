package ra

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/policy"
)

// TestNewEABKeyHMACNotOptionLike checks that no HMAC key NewEABKey makes
// begins with '-' in its base64url form, which certbot's argument parser
// reads as an option (`certbot: error: argument --eab-hmac-key: expected
// one argument`, 1 key in 64 before). 4,000 keys: with 1 in 64 such
// keys, all 4,000 would pass by chance with a probability under 1e-27.
func TestNewEABKeyHMACNotOptionLike(t *testing.T) {
	p := &policy.Profile{Name: "partners"}
	for range 4000 {
		k, err := NewEABKey(p, EABKeyRequest{}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(k.HMACKey) != EABKeySize {
			t.Fatalf("HMAC key of %d bytes, want %d", len(k.HMACKey), EABKeySize)
		}
		if enc := base64.RawURLEncoding.EncodeToString(k.HMACKey); strings.HasPrefix(enc, "-") {
			t.Fatalf("HMAC key %s begins with '-'", enc)
		}
	}
}
