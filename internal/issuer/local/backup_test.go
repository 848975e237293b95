package local

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckBackupNoCA: a backup's CA directory that does not exist, or
// holds no CA file, was reported by Restore as "directory is partially
// initialised: DIR has  but lacks root.crt, ...; restore the missing
// files or empty the directory" (an empty list; no such directory).
// CheckBackup (and Restore) say it holds no CA, wrapping fs.ErrNotExist.
func TestCheckBackupNoCA(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "ca"), t.TempDir()} {
		_, err := CheckBackup(dir)
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrPartialCA) || !strings.Contains(err.Error(), dir+" holds no CA (no root.crt, intermediate.crt, intermediate.key)") {
			t.Errorf("CheckBackup(%s): %v, want \"holds no CA\" wrapping fs.ErrNotExist", dir, err)
		}
		if _, err := Restore(filepath.Join(t.TempDir(), "ca"), dir); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrPartialCA) {
			t.Errorf("Restore from %s: %v, want \"holds no CA\"", dir, err)
		}
	}
}
