package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/testenv"
)

// TestSecretFilesReadableByOthersWarned: at start the server logs one
// WARN for each secret file its group or others may read (tls-key,
// notify-*-secret/password files), naming the file and chmod 600, and
// starts anyway; a file of mode 0600 is not reported.
func TestSecretFilesReadableByOthersWarned(t *testing.T) {
	ca := server.NewTestTLSCA(t)
	dir := t.TempDir()
	cert, key, _ := ca.ValidPair(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	hookFile, smtpFile := filepath.Join(dir, "webhook.secret"), filepath.Join(dir, "smtp.password")
	for _, f := range []struct {
		path string
		b    []byte
		mode os.FileMode
	}{{certFile, cert, 0o644}, {keyFile, key, 0o640}, {hookFile, []byte("0123456789abcdef0123"), 0o604}, {smtpFile, []byte("pw"), 0o600}} {
		if err := os.WriteFile(f.path, f.b, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.path, f.mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	log := newLineLog()
	testenv.NewWithOptions(t, testenv.Options{TLSCert: certFile, TLSKey: keyFile, Log: log,
		Notify: config.Notify{WebhookSecretFile: hookFile, SMTPPasswordFile: smtpFile}})
	var warned []string
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "secret file readable by others") {
			warned = append(warned, line)
		}
	}
	if len(warned) != 2 {
		t.Fatalf("%d warnings, want 2 (tls-key, notify-webhook-secret-file):\n%s", len(warned), strings.Join(warned, "\n"))
	}
	for i, want := range []struct{ setting, file string }{{"tls-key", keyFile}, {"notify-webhook-secret-file", hookFile}} {
		if l := warned[i]; !strings.Contains(l, "level=WARN") || !strings.Contains(l, "setting="+want.setting) || !strings.Contains(l, "file="+want.file) ||
			!strings.Contains(l, `"chmod 600 `+want.file+`"`) {
			t.Errorf("warning %q: want WARN naming %s, %s and chmod 600", l, want.setting, want.file)
		}
	}
}
