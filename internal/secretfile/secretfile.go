// Package secretfile checks the permissions of files that hold secrets
// (private keys, HMAC keys, passwords) named by settings.
package secretfile

import (
	"context"
	"log/slog"
	"os"
)

// WarnIfExposed logs one WARN on log when the file at path, named by
// setting (e.g. "tls-key") and holding a secret, may be read by users
// other than its owner: its mode grants its group or others any access
// (mode & 0o077 != 0). The line names the setting, the file, its mode
// and the fix (chmod 600). It reports whether it warned. A path that is
// empty or cannot be examined (the reader of the file reports that) is
// not reported; nothing is refused.
func WarnIfExposed(ctx context.Context, log *slog.Logger, setting, path string) bool {
	if path == "" || log == nil {
		return false
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return false
	}
	log.WarnContext(ctx, "secret file readable by others", "setting", setting, "file", path, "mode", fi.Mode().Perm().String(),
		"fix", "chmod 600 "+path)
	return true
}
