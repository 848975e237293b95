package audit_test

import (
	"context"
	"testing"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store/storetest"
)

// BenchmarkRecord is the cost of appending one event in its own
// transaction (head row lock, insert, head update) on each engine:
//
//	go test -run '^$' -bench Record ./internal/audit/
func BenchmarkRecord(b *testing.B) {
	for _, eng := range storetest.Engines() {
		b.Run(eng.Name, func(b *testing.B) {
			l := audit.New(eng.Open(b), nil)
			ctx := context.Background()
			ev := audit.Event{Actor: "token:bench", Action: audit.ActionCertificateRevoke, ObjectType: audit.ObjectCertificate,
				ObjectID: "1f", Before: map[string]string{"status": "valid"}, After: map[string]string{"status": "revoked"}}
			b.ResetTimer()
			for b.Loop() {
				if err := l.Record(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecordParallel appends from 8 goroutines per CPU at once: appends
// are serialized (one chain), so this measures how many events per second
// the log takes in total (ns/op is wall time per event).
func BenchmarkRecordParallel(b *testing.B) {
	for _, eng := range storetest.Engines() {
		b.Run(eng.Name, func(b *testing.B) {
			l := audit.New(eng.Open(b), nil)
			ctx := context.Background()
			ev := audit.Event{Actor: "token:bench", Action: audit.ActionCertificateRevoke, ObjectType: audit.ObjectCertificate, ObjectID: "1f"}
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Record(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
