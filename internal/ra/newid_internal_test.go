package ra

import "testing"

// TestNewIDNeverLooksLikeAFlag draws IDs until both '-' and '_' would have
// led many of them (1 in 64 each), and checks that none does: an ID is a
// CLI positional argument, and "-Wju…" was read by cobra as a flag
// (regression: TestCustomAttributesEndToEnd failed in CI on such an
// account ID).
func TestNewIDNeverLooksLikeAFlag(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 20000; i++ {
		id := newID()
		if len(id) != 22 {
			t.Fatalf("newID() = %q: %d characters, want 22", id, len(id))
		}
		if id[0] == '-' || id[0] == '_' {
			t.Fatalf("newID() = %q starts with %q", id, id[0])
		}
		if seen[id] {
			t.Fatalf("newID() repeated %q", id)
		}
		seen[id] = true
	}
}
