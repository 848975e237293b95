package acmeupstream

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/issuer"
)

// TestEABHMACFileReadableByOthersWarned: loading an issuer whose
// eabHmacFile its group or others may read logs one WARN naming the file
// and chmod 600, and the issuer still loads; a file of mode 0600 is not
// reported.
func TestEABHMACFileReadableByOthersWarned(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o600, false}} {
		hmac := filepath.Join(dir, "eab-"+tc.mode.String()+".key")
		if err := os.WriteFile(hmac, []byte("c2VjcmV0LWhtYWMta2V5"), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(hmac, tc.mode); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "issuers.yaml")
		body := "issuers:\n  - name: up\n    type: acme\n    directory: https://ca.example.test/dir\n    eabKid: k\n    eabHmacFile: " + hmac + "\n"
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		if _, err := issuer.Load(path, issuer.Env{Data: filepath.Join(dir, "data"), Log: slog.New(slog.NewTextHandler(&log, nil))}, Connector()); err != nil {
			t.Fatalf("mode %v: %v", tc.mode, err)
		}
		got := strings.Count(log.String(), "level=WARN")
		if tc.warn && (got != 1 || !strings.Contains(log.String(), "file="+hmac) || !strings.Contains(log.String(), "chmod 600 "+hmac)) {
			t.Errorf("mode %v: log %q; want one WARN naming %s and chmod 600", tc.mode, log.String(), hmac)
		}
		if !tc.warn && got != 0 {
			t.Errorf("mode %v: log %q; want no warning", tc.mode, log.String())
		}
	}
}
