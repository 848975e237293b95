// Package cluster holds crash and multi-node tests of the certgate binary
// (issue 4): three `certgate serve` processes on different loopback
// addresses share one PostgreSQL database behind a round-robin TCP proxy
// while an RFC 8555 client drives hundreds of issuance flows and one node
// is killed with SIGKILL and restarted (TestClusterKillNode); and one node
// on SQLite is killed under load and restarted (TestCrashSQLite). Both
// check afterwards that every flow completed, that the database holds
// exactly the certificates clients received, that no serial repeats, and
// that no order is left processing. TestCrashSQLiteRepeated kills a SQLite
// node eleven times, in chosen phases (finalize, validation, revokeCert,
// a certificate download, its own start) while certificates are also
// revoked through ACME and by the CLI beside it, and checks as well that
// each restart takes over at once what the kill left processing, that
// every acknowledged revocation is in the CRL and answered revoked by
// OCSP, and that the audit log's chain verifies. TestCrashRandomKills
// kills a SQLite and a PostgreSQL node at moments drawn from a seeded RNG
// (CERTGATE_CRASH_SEED replays a run; CERTGATE_CRASH_KILLS=40 makes a
// soak of it), during its start too, under flows, revocations and CRL
// fetches, and checks the same and that the audit log holds every
// issuance and revocation, that the CRL numbers never go back and that
// no challenge stays processing.
//
// Run them with `go test ./test/cluster/`. TestClusterKillNode needs
// PostgreSQL (see internal/store/storetest: CERTGATE_TEST_POSTGRES, default
// postgres://postgres@127.0.0.1:5432/postgres), and so does the
// postgres half of TestCrashRandomKills; they fail, saying how to start
// it, when the server is unreachable.
package cluster
