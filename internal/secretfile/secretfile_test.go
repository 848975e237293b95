package secretfile_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/secretfile"
)

// TestWarnIfExposed: a file whose group or others have any access is
// reported in one WARN naming the setting, the file and chmod 600; one
// of mode 0600 or 0400, a missing one and an unset path are not.
func TestWarnIfExposed(t *testing.T) {
	dir := t.TempDir()
	for mode, want := range map[os.FileMode]bool{0o600: false, 0o400: false, 0o640: true, 0o604: true, 0o660: true, 0o602: true} {
		path := filepath.Join(dir, "s-"+mode.String())
		if err := os.WriteFile(path, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		got := secretfile.WarnIfExposed(context.Background(), slog.New(slog.NewTextHandler(&log, nil)), "tls-key", path)
		if got != want || strings.Count(log.String(), "level=WARN") != map[bool]int{true: 1}[want] {
			t.Errorf("mode %v: warned %v, log %q; want %v", mode, got, log.String(), want)
		}
		if want && (!strings.Contains(log.String(), "setting=tls-key") || !strings.Contains(log.String(), `fix="chmod 600 `+path+`"`)) {
			t.Errorf("mode %v: log %q lacks the setting or the fix", mode, log.String())
		}
	}
	var log bytes.Buffer
	l := slog.New(slog.NewTextHandler(&log, nil))
	if secretfile.WarnIfExposed(context.Background(), l, "tls-key", filepath.Join(dir, "missing")) || secretfile.WarnIfExposed(context.Background(), l, "tls-key", "") || log.Len() != 0 {
		t.Errorf("a missing or unset file was reported: %q", log.String())
	}
}
