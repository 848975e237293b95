package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPingNotWritable: Ping on SQLite fails, wrapping ErrNotDurable, once
// an fsync of the WAL has failed (and keeps failing: the failure is
// final), and, wrapping ErrNoSpace, while the file system has less than
// minFreeBytes free, answering again once space is back.
func TestPingNotWritable(t *testing.T) {
	ctx := context.Background()
	t.Run("no space", func(t *testing.T) {
		s := openWriterTest(t)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping with room: %v", err)
		}
		free := uint64(minFreeBytes - 4096)
		s.probe.statfs = func(path string, st *unix.Statfs_t) error {
			*st = unix.Statfs_t{Bsize: 4096, Bfree: free / 4096, Bavail: free / 4096}
			return nil
		}
		if err := s.Ping(ctx); !errors.Is(err, ErrNoSpace) {
			t.Errorf("Ping with %d bytes free = %v, want ErrNoSpace", free, err)
		}
		free = minFreeBytes
		if err := s.Ping(ctx); err != nil {
			t.Errorf("Ping with %d bytes free: %v", free, err)
		}
		s.probe.statfs = func(string, *unix.Statfs_t) error { return unix.EIO }
		if err := s.Ping(ctx); err == nil || errors.Is(err, ErrNoSpace) {
			t.Errorf("Ping when statfs fails = %v, want its error", err)
		}
	})
	t.Run("fsync failed", func(t *testing.T) {
		s := openWriterTest(t)
		s.wal.datasync = func(*os.File) error { return fmt.Errorf("input/output error (test)") }
		if err := s.tx(ctx, putSetting("x")); err == nil {
			t.Fatal("a durable commit whose fsync failed reported durable")
		}
		s.wal.datasync = datasync // the disk answers again: too late
		for range 2 {
			if err := s.Ping(ctx); !errors.Is(err, ErrNotDurable) {
				t.Errorf("Ping after a failed fsync = %v, want ErrNotDurable", err)
			}
		}
	})
}
