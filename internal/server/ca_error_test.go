package server

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/testenv/testlog"
)

// TestStartCAErrorPrefixOnce: a start refused for the built-in CA's files
// says "built-in CA: " once, without the local CA package's own "local CA: "
// after it ("built-in CA: local CA: directory is partially initialised"),
// and the error still wraps the package's (errors.Is).
func TestStartCAErrorPrefixOnce(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if _, err := local.LoadOrCreate(CADir(data), local.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(CADir(data), local.IntermediateKeyFile)); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), testServeConfig(data), Options{}, slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil)))
	if err == nil || !strings.HasPrefix(err.Error(), "built-in CA: directory is partially initialised: ") ||
		strings.Contains(err.Error(), "local CA:") || !errors.Is(err, local.ErrPartialCA) {
		t.Fatalf("New = %v, want one \"built-in CA: \" prefix wrapping ErrPartialCA", err)
	}
}
