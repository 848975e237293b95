package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestUISessionsTokenAndSSO: on both engines, a session signed in with an
// API token comes back with its token, one signed in with OpenID Connect
// (no token) with its role, issuer, subject and display name and no
// token; a token session whose token is gone is not found; a session with
// both or neither a token and an SSO subject is refused; an SSO session is
// pruned and deleted as a token's.
func TestUISessionsTokenAndSSO(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Millisecond)
		must(t, s.CreateAPIToken(ctx, &store.APIToken{ID: "00000000000000aa", Name: "alice", Role: "operator", SecretHash: "th", CreatedAt: now,
			CreatedBy: "cli:test"}, nil))
		must(t, s.CreateUISession(ctx, &store.UISession{SecretHash: "h-token", ID: "0000000000000001", TokenID: "00000000000000aa",
			CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)}, nil))
		must(t, s.CreateUISession(ctx, &store.UISession{SecretHash: "h-sso", ID: "0000000000000002", Role: "admin",
			SSOIssuer: "https://idp.example.com", SSOSubject: "sub-1", DisplayName: "bob@example.com",
			CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)}, nil))
		must(t, s.CreateUISession(ctx, &store.UISession{SecretHash: "h-gone", ID: "0000000000000003", TokenID: "00000000000000bb",
			CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)}, nil))

		u, tok, err := s.GetUISession(ctx, "h-token")
		if err != nil || tok == nil || tok.Name != "alice" || tok.Role != "operator" || u.IsSSO() || u.Role != "" || u.SSOSubject != "" {
			t.Fatalf("token session: %+v %+v %v", u, tok, err)
		}
		u, tok, err = s.GetUISession(ctx, "h-sso")
		if err != nil || tok != nil || !u.IsSSO() || u.Role != "admin" || u.SSOIssuer != "https://idp.example.com" || u.SSOSubject != "sub-1" ||
			u.DisplayName != "bob@example.com" || u.ID != "0000000000000002" || !u.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("SSO session: %+v %+v %v", u, tok, err)
		}
		if _, _, err := s.GetUISession(ctx, "h-gone"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("session of a missing token: %v, want ErrNotFound", err)
		}
		for _, bad := range []*store.UISession{
			{SecretHash: "h-both", ID: "0000000000000004", TokenID: "00000000000000aa", SSOSubject: "sub", CreatedAt: now, LastSeen: now, ExpiresAt: now},
			{SecretHash: "h-none", ID: "0000000000000005", CreatedAt: now, LastSeen: now, ExpiresAt: now},
		} {
			if err := s.CreateUISession(ctx, bad, nil); err == nil {
				t.Errorf("session %s accepted", bad.SecretHash)
			}
		}

		must(t, s.TouchUISession(ctx, "h-sso", now.Add(time.Minute)))
		if n, err := s.PruneUISessions(ctx, now, now.Add(30*time.Second)); err != nil || n != 2 {
			t.Fatalf("PruneUISessions = %d, %v; want 2 (the token's and the gone token's, idle; the SSO one was touched)", n, err)
		}
		must(t, s.DeleteUISession(ctx, "h-sso", nil))
		if _, _, err := s.GetUISession(ctx, "h-sso"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted SSO session: %v, want ErrNotFound", err)
		}
	})
}
