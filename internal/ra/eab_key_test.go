package ra

import (
	"encoding/base64"
	"errors"
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

// TestNewEABKeyAllowOfProfileTypes: an EAB key's allow rule of an
// identifier type its profile does not allow can match no name the key
// could order, and is refused (it was stored, and every newOrder refused).
func TestNewEABKeyAllowOfProfileTypes(t *testing.T) {
	p := &policy.Profile{Name: "devices", IdentifierTypes: []string{"ip"}}
	_, err := NewEABKey(p, EABKeyRequest{Allow: []string{"10.0.0.0/8", "*.example.com"}}, time.Now())
	if err == nil || !strings.Contains(err.Error(), `identifier rule "*.example.com" can match no name: it matches dns identifiers, and the profile's identifierTypes allow only ip`) {
		t.Fatalf("NewEABKey: %v, want the dns rule refused", err)
	}
	var fe *policy.FieldError
	if !errors.As(err, &fe) || fe.Field != "[1]" {
		t.Errorf("error %v does not name allow[1]", err)
	}
	if _, err := NewEABKey(p, EABKeyRequest{Allow: []string{"10.0.0.0/8"}}, time.Now()); err != nil {
		t.Errorf("NewEABKey with an ip rule: %v", err)
	}
}
