package store

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// walFileSize returns the size of the store's WAL file (0 when there is
// none).
func walFileSize(t *testing.T, dbPath string) int64 {
	t.Helper()
	fi, err := os.Stat(dbPath + "-wal")
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestCheckpointsBoundWALWithReaders checks that under a steady stream of
// commits, with readers reading all the while, the background checkpoints
// (here every 10 ms) and the writer's catch-ups make the WAL start over
// instead of letting it grow with every commit (4,000 commits of ~2 KB
// rows write ~60 MiB of frames), far below the writer's own backstop.
func TestCheckpointsBoundWALWithReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certgate.db")
	s, err := openSQLite(context.Background(), path, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var n int
				if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings`).Scan(&n); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	val := strings.Repeat("x", 2000)
	var largest int64
	for i := range 4000 {
		if _, err := s.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, fmt.Sprint("k", i), val); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			largest = max(largest, walFileSize(t, path))
		}
	}
	cancel()
	wg.Wait()
	largest = max(largest, walFileSize(t, path))
	t.Logf("largest WAL file %.1f MiB; %d reads; %d background checkpoints, %d by the writer",
		float64(largest)/(1<<20), reads.Load(), s.wr.ckpt.checkpoints.Load(), s.wr.catchUps.Load())
	if reads.Load() == 0 {
		t.Fatal("no read ran during the writes")
	}
	// Room for a slow machine; far below the backstop (sqliteAutocheckpointPages).
	if bound := int64(8192) * 4096; largest > bound {
		t.Errorf("WAL file reached %d MiB, above %d MiB", largest>>20, bound>>20)
	}
}

// TestCheckpointsTrimWALAfterBurst checks that the writer connection has
// journal_size_limit walSizeLimit, and that with it (lowered here to 8 MiB
// so that the burst stays small) a WAL file a large transaction grew is
// truncated back to the limit when the WAL starts over after a checkpoint,
// instead of keeping its size for the life of the process.
func TestCheckpointsTrimWALAfterBurst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certgate.db")
	s, err := openSQLite(context.Background(), path, time.Hour) // checkpoints run by the test
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const limit = 8 << 20
	var got int64
	if err := s.wr.read(ctx, func(tx txConn) error {
		if err := tx.QueryRowContext(ctx, `PRAGMA journal_size_limit`).Scan(&got); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA journal_size_limit = %d`, limit))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got != walSizeLimit {
		t.Errorf("writer journal_size_limit %d, want %d", got, walSizeLimit)
	}
	val := strings.Repeat("y", 3900)
	if err := s.tx(ctx, func(tx txConn) error {
		for i := range 3000 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, fmt.Sprint("b", i), val); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if size := walFileSize(t, path); size <= limit {
		t.Fatalf("WAL file %d MiB after the burst, want over %d MiB", size>>20, limit>>20)
	}
	if _, _, err := s.wr.ckpt.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	s.wr.ckpt.caughtUp.Store(true)
	if err := s.tx(ctx, putSetting("after")); err != nil {
		t.Fatal(err)
	}
	if size := walFileSize(t, path); size > limit {
		t.Errorf("WAL file %d MiB after a checkpoint and a write, want at most %d MiB", size>>20, limit>>20)
	}
	if !hasSetting(t, s, "b2999") || !hasSetting(t, s, "after") {
		t.Error("rows missing after the checkpoint")
	}
}

// TestCheckpointerStopsOnClose checks that Close ends the checkpointer's
// goroutine (also while it waits for its next checkpoint), closes its connection,
// and still leaves a database whose WAL was checkpointed and removed by
// the last connection to close.
func TestCheckpointerStopsOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certgate.db")
	s, err := openSQLite(context.Background(), path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 50 {
		if err := s.tx(ctx, putSetting(fmt.Sprint("k", i))); err != nil {
			t.Fatal(err)
		}
	}
	c := s.wr.ckpt
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: the checkpointer did not stop")
	}
	select {
	case <-c.done:
	default:
		t.Error("the checkpointer's goroutine is still running after Close")
	}
	if n := c.db.Stats().OpenConnections; n != 0 {
		t.Errorf("the checkpointer holds %d connections after Close", n)
	}
	if size := walFileSize(t, path); size != 0 {
		t.Errorf("WAL file of %d bytes left after Close", size)
	}
	s, err = OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !hasSetting(t, s, "k49") {
		t.Error("the last row is missing after Close and reopen")
	}
}

// checkpointChildEnv names the database of TestKillDuringCheckpoints's
// child process.
const checkpointChildEnv = "CERTGATE_TEST_CHECKPOINT_CHILD"

// TestKillDuringCheckpoints SIGKILLs a process that commits rows from
// four goroutines while checkpoints run back to back (one every
// millisecond, and the writer's catch-up after each, so that the kill
// lands during one), three times on one
// database, and checks that every row whose commit the process reported
// is there afterwards and that the database passes integrity_check.
func TestKillDuringCheckpoints(t *testing.T) {
	if path := os.Getenv(checkpointChildEnv); path != "" {
		checkpointChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "certgate.db")
	var acked []string
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestKillDuringCheckpoints$")
		cmd.Env = append(os.Environ(), checkpointChildEnv+"="+path, "CERTGATE_TEST_CHECKPOINT_ROUND="+strconv.Itoa(round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a number of commits that differs per round, once
		// the child has run checkpoints.
		killAt := 1500 + 700*round
		var checkpoints int
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			if c, ok := strings.CutPrefix(line, "checkpoints "); ok {
				checkpoints, _ = strconv.Atoi(c)
				continue
			}
			acked = append(acked, line)
			if n++; n >= killAt && checkpoints > 0 {
				break
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for sc.Scan() { // commits reported before the kill
			if line := sc.Text(); !strings.HasPrefix(line, "checkpoints ") {
				acked = append(acked, line)
			}
		}
		_ = cmd.Wait()
		if n < killAt {
			t.Fatalf("round %d: the child stopped after %d commits", round, n)
		}
		t.Logf("round %d: killed after %d commits, %d checkpoints", round, n, checkpoints)
	}
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	missing := 0
	for _, name := range acked {
		if !hasSetting(t, s, name) {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d committed rows missing after the kills", missing, len(acked))
	}
	var integrity string
	if err := s.r.QueryRowContext(context.Background(), `PRAGMA integrity_check`).Scan(&integrity); err != nil || integrity != "ok" {
		t.Errorf("integrity_check: %q %v", integrity, err)
	}
}

// checkpointChild is TestKillDuringCheckpoints's child: it commits rows
// until killed, writing each committed row's name, and every 200 commits
// the checkpoints run so far, to stdout.
func checkpointChild(t *testing.T, path string) {
	s, err := openSQLite(context.Background(), path, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	round := os.Getenv("CERTGATE_TEST_CHECKPOINT_ROUND")
	val := strings.Repeat("z", 1500)
	var mu sync.Mutex
	var n int
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("r%s-g%d-%d", round, g, i)
				if _, err := s.exec(context.Background(), `INSERT INTO settings (name, value) VALUES (?, ?)`, name, val); err != nil {
					fmt.Fprintln(os.Stderr, "child:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(os.Stdout, name)
				if n++; n%200 == 0 {
					fmt.Fprintln(os.Stdout, "checkpoints", s.wr.ckpt.checkpoints.Load())
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCheckpointRoundLeavesWriterLittle checks that a round's second
// checkpoint copies into the database file the frames committed while its
// first ran (here: between the two), so that the writer's catch-up before
// its next write does not have them to copy; as a control, that after one
// checkpoint such frames are still only in the WAL. What the database file
// holds is read from a copy of that file alone, without the WAL.
func TestCheckpointRoundLeavesWriterLittle(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "certgate.db")
	s, err := openSQLite(context.Background(), path, time.Hour) // rounds run when the test asks
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	commit := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			if err := s.tx(ctx, putSetting(fmt.Sprint(prefix, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// inFile reports whether the database file, without the WAL, holds the
	// setting name.
	copies := 0
	inFile := func(name string) bool {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		copies++
		cp := filepath.Join(dir, fmt.Sprintf("copy%d.db", copies))
		if err := os.WriteFile(cp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", cp)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM settings WHERE name = ?`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	c := s.wr.ckpt
	commit("a", 100)

	// Control: commits after a checkpoint are in the WAL only, until the
	// writer's catch-up copies them.
	if _, _, err := c.checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	commit("b", 50)
	if !inFile("a99") || inFile("b49") {
		t.Fatal("after a checkpoint and 50 commits: want the earlier rows in the database file and not the 50")
	}
	c.caughtUp.Store(true)
	commit("c", 1)
	if !inFile("b49") {
		t.Fatal("the writer's catch-up did not copy the 50 commits into the database file")
	}

	// A round during which 50 commits land.
	commit("d", 100)
	between := make(chan struct{})
	c.between = func() {
		defer close(between)
		commit("e", 50)
	}
	catchUps := s.wr.catchUps.Load()
	c.request() // the kick orders the write of between before the round reads it
	deadline := time.Now().Add(10 * time.Second)
	for !c.caughtUp.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the round did not finish")
		}
		time.Sleep(time.Millisecond)
	}
	<-between
	if n := s.wr.catchUps.Load(); n != catchUps {
		t.Fatalf("the writer caught up before the test's read (%d catch-ups, want %d)", n, catchUps)
	}
	if !inFile("d99") || !inFile("e49") {
		t.Error("after a round, the commits made during it are not in the database file: the writer's catch-up would copy them")
	}
	commit("f", 1)
	for _, name := range []string{"a99", "b49", "c0", "d99", "e49", "f0"} {
		if !hasSetting(t, s, name) {
			t.Errorf("setting %s missing", name)
		}
	}
}
