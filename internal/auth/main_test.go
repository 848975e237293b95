package auth_test

import (
	"os"
	"testing"

	"github.com/certgate/certgate/internal/store/storetest"
)

// TestMain gives the tests stores cloned from a database migrated once
// (storetest.Main) rather than migrating one per test.
func TestMain(m *testing.M) {
	os.Exit(storetest.Main(m))
}
