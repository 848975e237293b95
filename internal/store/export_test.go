package store

// WriterCommits returns the transactions a SQLite store's writer has
// committed (0 on PostgreSQL), for tests and benchmarks.
func WriterCommits(s *Store) int64 {
	if s.wr == nil {
		return 0
	}
	return s.wr.commits.Load()
}
