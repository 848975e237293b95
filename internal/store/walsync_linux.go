package store

import (
	"os"
	"syscall"
)

// datasync writes f's data out to disk with fdatasync(2), as SQLite syncs
// its own files: unlike fsync it skips a journal commit for the file's
// times when its size did not change (a WAL that starts over is rewritten
// in place).
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
