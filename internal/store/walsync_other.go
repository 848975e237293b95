//go:build !linux

package store

import "os"

// datasync writes f's data out to disk (fsync where fdatasync is not
// available).
func datasync(f *os.File) error { return f.Sync() }
