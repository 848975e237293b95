package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestPerspectiveResults: results are stored per attempt and perspective
// (an attempt run again replaces its rows), read back primary first, and
// deleted with their authorization.
func TestPerspectiveResults(t *testing.T) {
	for _, e := range storetest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			s := e.Open(t)
			ctx := context.Background()
			_, _, az := seed(t, s)
			bad := acme.NewProblem(acme.Connection, "refused")
			must(t, s.RecordPerspectives(ctx, az.ID, []store.PerspectiveResult{
				{Attempt: 0, Perspective: "primary", Status: "valid", CheckedAt: now},
				{Attempt: 0, Perspective: "zz", Status: "unreachable", Problem: bad, CheckedAt: now},
				{Attempt: 0, Perspective: "aa", Status: "valid", CheckedAt: now},
			}))
			must(t, s.RecordPerspectives(ctx, az.ID, []store.PerspectiveResult{
				{Attempt: 0, Perspective: "zz", Status: "valid", CheckedAt: now.Add(time.Second)},
				{Attempt: 1, Perspective: "primary", Status: "invalid", Problem: bad, CheckedAt: now.Add(time.Second)},
			}))
			got, err := s.AuthorizationPerspectives(ctx, az.ID)
			must(t, err)
			want := []string{"0 primary valid", "0 aa valid", "0 zz valid", "1 primary invalid"}
			if len(got) != len(want) {
				t.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
			}
			for i, r := range got {
				if s := string(rune('0'+r.Attempt)) + " " + r.Perspective + " " + r.Status; s != want[i] {
					t.Errorf("result %d = %q, want %q", i, s, want[i])
				}
			}
			if got[3].Problem == nil || got[3].Problem.Detail != "refused" || !got[2].CheckedAt.Equal(now.Add(time.Second)) {
				t.Errorf("problem or time not kept: %+v", got)
			}
			if _, _, err := s.DeleteStale(ctx, now.Add(30*24*time.Hour)); err != nil {
				t.Fatalf("deleting the authorization with its results: %v", err)
			}
			if got, err := s.AuthorizationPerspectives(ctx, az.ID); err != nil || len(got) != 0 {
				t.Fatalf("after deleting the authorization: %v, %v; want none", got, err)
			}
		})
	}
}
