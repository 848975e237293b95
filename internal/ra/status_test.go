package ra

import (
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

func TestOrderStatus(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	later := now.Add(time.Hour)
	earlier := now.Add(-time.Hour)
	az := func(status string, exp time.Time) *store.Authorization {
		return &store.Authorization{Status: status, Expires: exp}
	}
	tests := []struct {
		name   string
		stage  string
		exp    time.Time
		authzs []*store.Authorization
		want   string
	}{
		{"all pending", "pending", later, []*store.Authorization{az("pending", later), az("pending", later)}, "pending"},
		{"one valid one pending", "pending", later, []*store.Authorization{az("valid", later), az("pending", later)}, "pending"},
		{"all valid", "pending", later, []*store.Authorization{az("valid", later), az("valid", later)}, "ready"},
		{"one invalid", "pending", later, []*store.Authorization{az("valid", later), az("invalid", later)}, "invalid"},
		{"one deactivated", "pending", later, []*store.Authorization{az("deactivated", later)}, "invalid"},
		{"authz expired", "pending", later, []*store.Authorization{az("valid", earlier)}, "invalid"},
		{"order expired", "pending", earlier, []*store.Authorization{az("valid", later)}, "invalid"},
		{"processing stays", "processing", earlier, []*store.Authorization{az("valid", earlier)}, "processing"},
		{"valid stays after expiry", "valid", earlier, []*store.Authorization{az("valid", earlier)}, "valid"},
		{"stored invalid", "invalid", later, []*store.Authorization{az("valid", later)}, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &store.Order{Status: tt.stage, Expires: tt.exp}
			if got := OrderStatus(o, tt.authzs, now); got != tt.want {
				t.Fatalf("OrderStatus = %s, want %s", got, tt.want)
			}
			if got := OrderError(o, tt.authzs, now); (got != nil) != (tt.want == acme.StatusInvalid) {
				t.Fatalf("OrderError = %v for status %s", got, tt.want)
			}
		})
	}
}

func TestAuthorizationStatusExpiry(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ stored, want string }{
		{"pending", "expired"}, {"valid", "expired"}, {"invalid", "invalid"}, {"deactivated", "deactivated"},
	} {
		a := &store.Authorization{Status: tt.stored, Expires: now}
		if got := AuthorizationStatus(a, now); got != tt.want {
			t.Errorf("stored %s at expiry: got %s, want %s", tt.stored, got, tt.want)
		}
	}
}
