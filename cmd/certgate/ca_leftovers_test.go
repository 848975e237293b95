package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/testenv/testca"
)

// TestCAImportRemovesLeftovers: `certgate ca import` killed before its
// rename leaves DATA/.ca.import-* (mode 0700, the bundle's private keys),
// and a first start killed the same way DATA/.ca.create-*; the next
// import removes both and says so on stderr, then imports.
func TestCAImportRemovesLeftovers(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var leftovers []string
	for _, name := range []string{".ca.import-4242", ".ca.create-77"} {
		d := filepath.Join(data, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "intermediate.key"), []byte("key"), 0o600); err != nil {
			t.Fatal(err)
		}
		leftovers = append(leftovers, d)
	}
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	interKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	out, stderr, err := runCLI(t, testca.Bundle(t, time.Now(), rootKey, interKey), "ca", "import", "--data", data)
	if err != nil || !strings.Contains(out, "imported the CA") {
		t.Fatalf("ca import: %v %q", err, out)
	}
	for _, d := range leftovers {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there (%v)", d, err)
		}
		if !strings.Contains(stderr, "removed "+d+", the leftover of an interrupted CA import or creation") {
			t.Errorf("removal of %s not reported: %q", d, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "ca", "intermediate.key")); err != nil {
		t.Errorf("imported CA: %v", err)
	}
}
