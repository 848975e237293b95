package store_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// posixLocks returns how many POSIX (fcntl) locks this process holds on
// the file at path, from /proc/locks (Linux).
func posixLocks(t *testing.T, path string) int {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	f, err := os.Open("/proc/locks")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: POSIX  ADVISORY  READ 11411 fe:00:10005068 1073741826 1073742335"
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "POSIX" || fields[4] != strconv.Itoa(os.Getpid()) {
			continue
		}
		dev := strings.Split(fields[5], ":")
		if dev[len(dev)-1] == strconv.FormatUint(ino, 10) {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPingKeepsSQLiteLocks: Ping (/readyz) leaves the POSIX locks that
// SQLite's connections hold on the database file. Ping opened the file and
// closed that descriptor, and closing any descriptor of a file drops every
// fcntl lock the process holds on it: after one /readyz the server held no
// lock, so another process closing the database (`sqlite3 .backup` as
// docs/operations.md advises) took itself for the last user and deleted
// the -wal and -shm files under the running server, which went on with the
// deleted ones; an API token created with the CLI afterwards was unknown
// to the server (401), and certificates it issued were missing from
// `certgate cert list` until it stopped.
func TestPingKeepsSQLiteLocks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/locks")
	}
	ctx := context.Background()
	path := storetest.SQLiteDSN(t)
	s := storetest.OpenDSN(t, path)
	must(t, s.InsertCertificates(ctx, []*store.Certificate{invCert("a", 1)}))
	if posixLocks(t, path) == 0 {
		t.Fatal("the open store holds no lock on the database file before Ping (the test's premise)")
	}
	for range 3 {
		must(t, s.Ping(ctx))
	}
	if n := posixLocks(t, path); n == 0 {
		t.Fatal("after Ping the store holds no lock on the database file: another process closing the database will delete its WAL")
	}

	// What it protects: another process that opens and closes the
	// database leaves the WAL alone and reads what the store writes next.
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Log("sqlite3 is not installed (Debian package sqlite3): not checking with another process")
		return
	}
	count := func() string {
		t.Helper()
		out, err := exec.Command("sqlite3", path, "SELECT COUNT(*) FROM certificates").CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := count(); got != "1" {
		t.Fatalf("sqlite3 counts %s certificates, want 1", got)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("after sqlite3 closed the database under the running store: %v (the store's WAL was deleted)", err)
	}
	must(t, s.InsertCertificates(ctx, []*store.Certificate{invCert("b", 2)}))
	if got := count(); got != "2" {
		t.Fatalf("sqlite3 counts %s certificates after the store stored a second one, want 2", got)
	}
}
