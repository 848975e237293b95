package local

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadDanglingKeyLink: a CA file that is a symbolic link to a file
// that does not exist (a key kept on a mount that is not there) is refused
// saying the link dangles and naming its target, for a required file and
// the optional root key alike; it was reported as missing ("lacks
// intermediate.key"), or for the root key ignored.
func TestLoadDanglingKeyLink(t *testing.T) {
	for _, name := range []string{IntermediateKeyFile, RootKeyFile} {
		t.Run(name, func(t *testing.T) {
			_, dir := newTestCA(t, Options{})
			target := filepath.Join(t.TempDir(), "gone", name)
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreate(dir, Options{})
			if !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), "dangling symbolic link") ||
				!strings.Contains(err.Error(), target) || strings.Contains(err.Error(), "lacks") {
				t.Fatalf("LoadOrCreate = %v, want ErrInvalidCA saying %s dangles to %s", err, name, target)
			}
			if _, _, _, err := Export(dir); !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), target) {
				t.Fatalf("Export = %v, want ErrInvalidCA naming %s", err, target)
			}
		})
	}
}
