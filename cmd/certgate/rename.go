package main

import (
	"errors"
	"os"
	"syscall"
)

// renameError is the error of renaming a temporary file over a path the
// user gave, without the *os.LinkError's "rename TMP PATH: " prefix: the
// caller names the path, and the temporary file is none of the user's. A
// path that is a directory says so (rename says "file exists" for a
// directory that is not empty).
func renameError(err error) error {
	le := (*os.LinkError)(nil)
	if !errors.As(err, &le) {
		return err
	}
	if fi, serr := os.Stat(le.New); serr == nil && fi.IsDir() {
		return syscall.EISDIR
	}
	return le.Err
}
