package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplaceFileMissingDirectory: `ca root --out DIR/FILE` into a
// directory that does not exist fails in one line naming the file and the
// directory, not the hidden temporary file the user never gave
// ("open DIR/.FILE.123: no such file or directory"); into one that exists
// it writes the file with the mode asked and leaves no temporary file.
func TestReplaceFileMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope", "root.pem")
	err := replaceFile(missing, []byte("x"), 0o644)
	want := "write " + missing + ": directory " + filepath.Dir(missing) + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("replaceFile into a missing directory: %v, want %q", err, want)
	}
	good := filepath.Join(dir, "root.pem")
	if err := replaceFile(good, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(good); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("written file: %v, %v", fi, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}
