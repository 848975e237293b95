// Package duration parses the durations of every user-facing setting of
// certgate: serve's flags, variables and YAML file, profile fields, the
// admin API's, the CLI's (token and EAB lifetimes, report windows) and
// rate limit periods. It is a leaf package so that packages below
// internal/config (internal/ratelimit) can use it too.
package duration

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Day and Week are the units Parse adds to Go's.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// Syntax is the form Parse takes, for error messages.
const Syntax = "90d, 2w, 36h, 1d12h"

// Parse parses a duration written as optional whole weeks ("2w"), then
// optional whole days ("90d"), then an optional Go duration
// (time.ParseDuration: "36h", "1h30m", "500ms"), at least one of them:
// "2w", "1w3d", "1d12h", "2w12h", "36h". "0" is zero. The counts of weeks
// and days are non-negative whole numbers, weeks before days; a Go part
// may be negative ("1d-5h"). A duration longer than time.Duration holds
// (about 292 years, 106751 days) is an error, never a wrapped value.
func Parse(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for _, u := range []struct {
		sep  string
		unit time.Duration
	}{{"w", Week}, {"d", Day}} {
		i := strings.Index(rest, u.sep)
		if i <= 0 {
			continue
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < 0 {
			return 0, invalid(s)
		}
		if int64(n) > (math.MaxInt64-int64(total))/int64(u.unit) {
			return 0, tooLong(s)
		}
		total += time.Duration(n) * u.unit
		rest = rest[i+1:]
		if rest == "" {
			return total, nil
		}
	}
	v, err := time.ParseDuration(rest)
	if err != nil {
		return 0, invalid(s)
	}
	if v > 0 && total > math.MaxInt64-v {
		return 0, tooLong(s)
	}
	return total + v, nil
}

func invalid(s string) error {
	return fmt.Errorf("invalid duration %q (use e.g. %s)", s, Syntax)
}

// ErrTooLong is the error (wrapped) of Parse for a duration longer than
// time.Duration holds.
var ErrTooLong = errors.New("too long")

func tooLong(s string) error {
	return fmt.Errorf("duration %q is %w (at most 106751d, about 292 years)", s, ErrTooLong)
}
