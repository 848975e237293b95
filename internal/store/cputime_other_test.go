//go:build !unix

package store_test

import (
	"testing"
	"time"
)

func reportCPU(*testing.B, time.Duration) {}

func processCPU() time.Duration { return 0 }
