package store_test

// Benchmarks of the storage writes of one issuance flow on SQLite (issue 3),
// through the exported API only: per flow CreateOrder (1 authorization, 3
// challenges), StartChallenge, FinishChallenge, StartIssuance (order
// pending→processing and serial reservation) and FinishOrder, for one
// account created up front. Besides ns/op (one op = one flow) it reports
// the mean time of each call (…-µs), the process CPU time per flow
// (cpu-µs/op, which waiting for a shared core or the disk does not
// inflate) and the database growth per flow (db-B/flow: the main file
// after Close checkpointed the WAL). With several goroutines it also
// reports the 99th percentile and the maximum of the calls' wall times
// (call-p99-µs, call-max-µs: a checkpoint on the writer goroutine delays
// every call queued meanwhile), the size of the WAL file before Close
// (wal-MiB: its high-water mark, as SQLite reuses the file from its start
// without shrinking it), and the time the writer spent checkpointing per
// flow (writer-ckpt-µs/flow: the rest runs on the checkpointer's own
// connection).
//
//	go test -run '^$' -bench StoreFlow -benchmem ./internal/store/

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"

	"github.com/certgate/certgate/internal/cputime"
)

// Sizes of a real ec256 flow's certificate as certgate issues it: the leaf
// DER and the DER of the P-256 intermediate. The PEM chain is the leaf's
// PEM block, then the intermediate's (stored once, chains.go).
const (
	benchDERSize          = 700
	benchIntermediateSize = 560
)

var benchStepNames = [...]string{"createorder", "startchallenge", "finishchallenge", "startissuance", "finishorder"}

type benchStepTimes [len(benchStepNames)]atomic.Int64

// benchLatencies records the wall time of each store call of a parallel
// run.
type benchLatencies struct {
	n  atomic.Int64
	ns []int64
}

func (l *benchLatencies) add(d time.Duration) {
	if i := l.n.Add(1) - 1; i < int64(len(l.ns)) {
		l.ns[i] = int64(d)
	}
}

func (l *benchLatencies) report(b *testing.B) {
	ns := l.ns[:min(l.n.Load(), int64(len(l.ns)))]
	if len(ns) == 0 {
		return
	}
	slices.Sort(ns)
	b.ReportMetric(float64(ns[len(ns)*99/100])/1e3, "call-p99-µs")
	b.ReportMetric(float64(ns[len(ns)-1])/1e3, "call-max-µs")
}

func (t *benchStepTimes) report(b *testing.B) {
	for i, n := range benchStepNames {
		b.ReportMetric(float64(t[i].Load())/float64(b.N)/1e3, n+"-µs")
	}
}

func benchRandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)[:n]
}

// benchFlow runs the store calls of flow n for account acct.
func benchFlow(ctx context.Context, st *store.Store, acct string, n int64, der []byte, chain string, times *benchStepTimes, lat *benchLatencies) error {
	now := time.Now().UTC()
	id := strconv.FormatInt(n, 36)
	name := "f" + id + ".bench.test"
	az := &store.Authorization{ID: "az" + id + benchRandomHex(12), AccountID: acct, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: name},
		Status: acme.StatusPending, Expires: now.Add(7 * 24 * time.Hour), CreatedAt: now}
	for _, typ := range []string{acme.ChallengeHTTP01, acme.ChallengeDNS01, acme.ChallengeTLSALPN01} {
		az.Challenges = append(az.Challenges, store.Challenge{ID: "ch" + id + typ[:3] + benchRandomHex(12), AuthzID: az.ID, Type: typ,
			Token: benchRandomHex(43), Status: acme.StatusPending, UpdatedAt: now})
	}
	o := &store.Order{ID: "or" + id + benchRandomHex(12), AccountID: acct, Status: acme.StatusPending, Expires: now.Add(7 * 24 * time.Hour),
		Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
	serial := fmt.Sprintf("%x", n) + benchRandomHex(30)
	keyHash := make([]byte, 32) // the certificate's key (its DER is random bytes): FinishOrder reads its block
	rand.Read(keyHash)
	steps := [...]func() error{
		func() error { return st.CreateOrder(ctx, o, []*store.Authorization{az}) },
		func() error { return st.StartChallenge(ctx, az.Challenges[0].ID, now) },
		func() error {
			return st.FinishChallenge(ctx, &az.Challenges[0], nil, now, now.Add(30*24*time.Hour))
		},
		func() error { return st.StartIssuance(ctx, o.ID, serial, now) },
		func() error {
			return st.FinishOrder(ctx, o.ID, &store.Certificate{Serial: serial, Issuer: "local", OrderID: o.ID, AccountID: acct,
				DER: der, ChainPEM: chain, SANs: []string{name}, KeyType: "ECDSA P-256", FingerprintSHA256: benchRandomHex(64),
				NotBefore: now.Add(-time.Minute), NotAfter: now.Add(90 * 24 * time.Hour), Status: acme.StatusValid, CreatedAt: now,
				KeyHash: keyHash}, now,
				benchAuditEvent(serial, now))
		},
	}
	for i, step := range steps {
		t0 := time.Now()
		if err := step(); err != nil {
			return fmt.Errorf("%s: %w", benchStepNames[i], err)
		}
		d := time.Since(t0)
		times[i].Add(int64(d))
		if lat != nil {
			lat.add(d)
		}
	}
	return nil
}

func benchFileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

func BenchmarkStoreFlowWrites(b *testing.B) {
	// parallel: 0 one flow at a time; n: n goroutines per GOMAXPROCS (8
	// on 2 cores, as `certgate bench acme -c 8`).
	for _, parallel := range []int{0, 1, 4} {
		name := "sqlite"
		if parallel > 0 {
			name = fmt.Sprintf("sqlite/parallel%d", parallel)
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			path := filepath.Join(b.TempDir(), "certgate.db")
			st, err := store.OpenSQLite(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			acct := &store.Account{ID: "bench-account", KeyThumbprint: "bench-thumbprint",
				JWK:    []byte(`{"crv":"P-256","kty":"EC","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`),
				Status: acme.StatusValid, CreatedAt: time.Now().UTC()}
			if err := st.CreateAccount(ctx, acct); err != nil {
				b.Fatal(err)
			}
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
			size0 := benchFileSize(b, path)
			if st, err = store.OpenSQLite(ctx, path); err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			der := make([]byte, benchDERSize)
			rand.Read(der)
			inter := make([]byte, benchIntermediateSize)
			rand.Read(inter)
			chain := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) +
				string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: inter}))
			var times benchStepTimes
			var seq atomic.Int64
			var lat *benchLatencies
			if parallel > 0 {
				lat = &benchLatencies{ns: make([]int64, b.N*len(benchStepNames))}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Process()
			commits0 := store.WriterCommits(st)
			if parallel > 0 {
				b.SetParallelism(parallel)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := benchFlow(ctx, st, acct.ID, seq.Add(1), der, chain, &times, lat); err != nil {
							panic(err)
						}
					}
				})
			} else {
				for i := 0; i < b.N; i++ {
					if err := benchFlow(ctx, st, acct.ID, seq.Add(1), der, chain, &times, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			cputime.ReportPerOp(b, cpu0)
			b.ReportMetric(float64(store.WriterCommits(st)-commits0)/float64(b.N), "commits/flow")
			if parallel == 0 {
				times.report(b) // wall time per call; with RunParallel it would overlap
			} else {
				lat.report(b)
				b.ReportMetric(float64(benchFileSize(b, path+"-wal"))/(1<<20), "wal-MiB")
			}
			c := store.Checkpoints(st)
			b.ReportMetric(float64(c.WriterCatchUpTime.Microseconds())/float64(b.N), "writer-ckpt-µs/flow")
			b.Logf("%d flows: %d background checkpoints, %d by the writer (%v), largest WAL %d pages",
				b.N, c.Checkpoints, c.WriterCatchUps, c.WriterCatchUpTime, c.MaxWALPages)
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(benchFileSize(b, path)-size0)/float64(b.N), "db-B/flow")
		})
	}
}

// benchAuditEvent is a certificate.issue audit event like the one issuance
// appends in FinishOrder's transaction, sealed with internal/audit's hash.
func benchAuditEvent(serial string, now time.Time) *store.AuditAppend {
	return &store.AuditAppend{
		Record: store.AuditRecord{ID: "ev" + serial, Time: now, Actor: "acme-account:bench-account", Action: "certificate.issue",
			ObjectType: "certificate", ObjectID: serial, After: `{"serial":"` + serial + `"}`},
		Seal: func(r *store.AuditRecord) error {
			r.Hash = audit.Hash(r)
			return nil
		},
	}
}

// BenchmarkFinishOrderKeyCheck measures FinishOrder alone on each engine
// (PostgreSQL at storetest.PostgresServer), with the certificate's key
// hash (keyhash: on PostgreSQL the key's advisory lock, then the point
// read of blocked_keys and the key_hash index entry) and without one
// (nohash: a record whose DER does not parse, which FinishOrder checks
// nothing for): the difference is the cost of the check. Each op is one
// FinishOrder; the order it finishes is created and started outside the
// timer.
//
//	go test -run '^$' -bench FinishOrderKeyCheck ./internal/store/
func BenchmarkFinishOrderKeyCheck(b *testing.B) {
	for _, e := range storetest.Engines() {
		for _, withHash := range []bool{false, true} {
			name := e.Name + "/nohash"
			if withHash {
				name = e.Name + "/keyhash"
			}
			b.Run(name, func(b *testing.B) {
				if e.Name == store.EnginePostgres {
					storetest.RequirePostgres(b)
				}
				ctx := context.Background()
				st := e.Open(b)
				acct := &store.Account{ID: "bench-account", KeyThumbprint: "bench-thumbprint", JWK: []byte(`{}`), Status: acme.StatusValid, CreatedAt: time.Now().UTC()}
				if err := st.CreateAccount(ctx, acct); err != nil {
					b.Fatal(err)
				}
				der := make([]byte, benchDERSize)
				rand.Read(der)
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					now := time.Now().UTC()
					id := strconv.Itoa(i)
					az := &store.Authorization{ID: "az" + id, AccountID: acct.ID, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "f" + id + ".bench.test"},
						Status: acme.StatusValid, Expires: now.Add(time.Hour), ValidatedAt: now, CreatedAt: now}
					o := &store.Order{ID: "or" + id, AccountID: acct.ID, Status: acme.StatusPending, Expires: now.Add(time.Hour),
						Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, CreatedAt: now, UpdatedAt: now}
					serial := fmt.Sprintf("%x", i+1) + benchRandomHex(30)
					if err := st.CreateOrder(ctx, o, []*store.Authorization{az}); err != nil {
						b.Fatal(err)
					}
					if err := st.StartIssuance(ctx, o.ID, serial, now); err != nil {
						b.Fatal(err)
					}
					c := &store.Certificate{Serial: serial, Issuer: "local", OrderID: o.ID, AccountID: acct.ID, DER: der, ChainPEM: "chain",
						SANs: []string{az.Identifier.Value}, KeyType: "ECDSA P-256", FingerprintSHA256: benchRandomHex(64),
						NotBefore: now, NotAfter: now.Add(90 * 24 * time.Hour), Status: acme.StatusValid, CreatedAt: now}
					if withHash {
						c.KeyHash = make([]byte, 32)
						rand.Read(c.KeyHash)
					}
					b.StartTimer()
					if err := st.FinishOrder(ctx, o.ID, c, now, benchAuditEvent(serial, now)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
