package inventory_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
)

// TestParseDurationBounds: a day or week count beyond 100 years or that
// is not a number ("NaNd") is refused as invalid; "20000w" overflowed
// time.Duration into a negative window and "NaNd" into an arbitrary one,
// which the reports then refused as "must be positive".
func TestParseDurationBounds(t *testing.T) {
	for _, bad := range []string{"NaNd", "nanw", "20000w", "5300w", "36501d", "+Infd"} {
		if d, err := inventory.ParseDuration(bad); !errors.Is(err, inventory.ErrInvalid) {
			t.Errorf("ParseDuration(%q) = %v, %v; want ErrInvalid", bad, d, err)
		}
	}
	// A window is positive: zero read as "no window" listed every
	// certificate; each bound is named.
	for bad, hint := range map[string]string{"0": "use a positive one", "0d": "use a positive one", "-0.5w": "use a positive one",
		"-5h": "use a positive one", "-2d": "use a positive one", "900000h": "at most 100 years", "3650000h": "at most 100 years",
		"99999999999d": "at most 100 years", "NaNd": "use e.g. 30d",
		// Go's number syntax, which strconv.ParseFloat took: a count is
		// a plain decimal.
		"-Infd": "use e.g. 30d", "+Infd": "use e.g. 30d", "1_0d": "use e.g. 30d", "0x1p4d": "use e.g. 30d", "1e3d": "use e.g. 30d"} {
		if d, err := inventory.ParseDuration(bad); !errors.Is(err, inventory.ErrInvalid) || !strings.Contains(err.Error(), hint) {
			t.Errorf("ParseDuration(%q) = %v, %v; want ErrInvalid saying %q", bad, d, err, hint)
		}
	}
	for in, want := range map[string]time.Duration{"1s": time.Second, "0.5d": 12 * time.Hour, ".5d": 12 * time.Hour, "2.w": 14 * 24 * time.Hour, "36500d": 36500 * 24 * time.Hour, "5214w": 5214 * 7 * 24 * time.Hour} {
		if got, err := inventory.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
