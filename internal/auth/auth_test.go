package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

func TestTokenLifecycle(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			st := eng.Open(t)
			now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			log := audit.New(st, clock)
			toks := auth.NewTokens(st, log, clock)

			tok, rec, err := toks.Create(ctx, auth.CreateRequest{Name: "ci", Role: auth.RoleOperator, TTL: 90 * 24 * time.Hour, Actor: "cli:alice"})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tok, "cgt_"+rec.ID+"_") || len(tok) != 4+16+1+43 {
				t.Fatalf("token %q", tok)
			}
			stored, err := st.GetAPIToken(ctx, rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(stored.SecretHash, tok[21:]) || len(stored.SecretHash) != 64 {
				t.Fatalf("stored secret hash %q", stored.SecretHash)
			}
			p, err := toks.Authenticate(ctx, tok)
			if err != nil || p.Role != auth.RoleOperator || p.TokenName != "ci" || p.Actor() != "token:ci#"+rec.ID {
				t.Fatalf("authenticate: %+v %v", p, err)
			}
			// A wrong secret with the right ID, garbage, and the empty string fail.
			last := "A"
			if strings.HasSuffix(tok, "A") {
				last = "B"
			}
			bad := tok[:len(tok)-1] + last
			for _, b := range []string{bad, "cgt_" + rec.ID, "Bearer " + tok, "", "cgt_0123456789abcdef_x"} {
				if _, err := toks.Authenticate(ctx, b); !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("authenticate %q: %v", b, err)
				}
			}
			if _, _, err := toks.Create(ctx, auth.CreateRequest{Name: "ci", Role: auth.RoleAdmin, Actor: "cli:alice"}); !errors.Is(err, auth.ErrNameTaken) {
				t.Fatalf("duplicate name: %v", err)
			}
			// Expiry.
			now = now.Add(90 * 24 * time.Hour)
			if _, err := toks.Authenticate(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("expired token: %v", err)
			}
			now = now.Add(-time.Hour)
			// Revocation by name, then the name is free again.
			if _, err := toks.Revoke(ctx, "ci", "cli:bob"); err != nil {
				t.Fatal(err)
			}
			if _, err := toks.Authenticate(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("revoked token: %v", err)
			}
			if _, err := toks.Revoke(ctx, rec.ID, "cli:bob"); !errors.Is(err, auth.ErrRevoked) {
				t.Fatalf("second revoke: %v", err)
			}
			if _, err := toks.Revoke(ctx, "nope", "cli:bob"); !errors.Is(err, auth.ErrNoToken) {
				t.Fatalf("unknown token: %v", err)
			}
			tok2, rec2, err := toks.Create(ctx, auth.CreateRequest{Name: "ci", Role: auth.RoleAuditor, Actor: "cli:alice"})
			if err != nil {
				t.Fatalf("name of a revoked token: %v", err)
			}
			// The new token of that name is another audit actor than the
			// revoked one (its ID tells them apart).
			p2, err := toks.Authenticate(ctx, tok2)
			if err != nil || p2.Actor() != "token:ci#"+rec2.ID || p2.Actor() == p.Actor() {
				t.Fatalf("actor of the new token named ci: %q (%v), the revoked one's: %q", p2.Actor(), err, p.Actor())
			}
			active, _ := toks.List(ctx, false)
			all, _ := toks.List(ctx, true)
			if len(active) != 1 || len(all) != 2 {
				t.Fatalf("list: %d active, %d all", len(active), len(all))
			}
			// Creation and revocation are audited, and the chain verifies.
			evs, err := st.ListAudit(ctx, store.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range evs {
				actions = append(actions, e.Actor+" "+e.Action+" "+e.ObjectID)
				if strings.Contains(e.After, tok) || strings.Contains(e.After, stored.SecretHash) {
					t.Fatalf("audit event holds the secret: %s", e.After)
				}
			}
			want := []string{"cli:alice token.create " + rec.ID, "cli:bob token.revoke " + rec.ID, "cli:alice token.create " + active[0].ID}
			if strings.Join(actions, "|") != strings.Join(want, "|") {
				t.Fatalf("audit: %q, want %q", actions, want)
			}
			if res, err := log.Verify(ctx); err != nil || !res.OK {
				t.Fatalf("verify: %+v %v", res, err)
			}
		})
	}
}

func TestCreateChecksInput(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	toks := auth.NewTokens(st, audit.New(st, nil), nil)
	for _, req := range []auth.CreateRequest{
		{Name: "", Role: auth.RoleAdmin},
		{Name: "has space", Role: auth.RoleAdmin},
		{Name: "x", Role: "root"},
		{Name: "x", Role: auth.RoleAdmin, TTL: -time.Hour},
		// A name shaped like a token ID would make "revoke REF" ambiguous.
		{Name: "3c59923287640515", Role: auth.RoleAdmin},
	} {
		if _, _, err := toks.Create(context.Background(), req); err == nil {
			t.Errorf("create %+v succeeded", req)
		}
	}
}

func TestPermissionTable(t *testing.T) {
	// Every permission has a row, admin holds all, auditor only reads.
	seen := map[auth.Permission]bool{}
	for _, g := range auth.Table() {
		if seen[g.Permission] {
			t.Errorf("permission %s listed twice", g.Permission)
		}
		seen[g.Permission] = true
		if !auth.Allowed(auth.RoleAdmin, g.Permission) {
			t.Errorf("admin lacks %s", g.Permission)
		}
		read := strings.HasSuffix(string(g.Permission), ":read")
		if auth.Allowed(auth.RoleAuditor, g.Permission) && !read {
			t.Errorf("auditor holds the write permission %s", g.Permission)
		}
	}
	if auth.Allowed("root", auth.PermTokensRead) || auth.Allowed(auth.RoleAdmin, "nothing:read") {
		t.Error("unknown role or permission allowed")
	}
	if auth.Allowed(auth.RoleOperator, auth.PermTokensWrite) || !auth.Allowed(auth.RoleOperator, auth.PermCertificatesRevoke) ||
		!auth.Allowed(auth.RoleApprover, auth.PermApprovalsDecide) || auth.Allowed(auth.RoleOperator, auth.PermApprovalsDecide) {
		t.Error("operator/approver grants differ from the documented table")
	}
}

// TestLongLifetimes: a token lifetime whose expiry the store holds
// (Unix nanoseconds, up to store.MaxTime in 2262) is kept as asked, up to
// one that ends exactly at store.MaxTime; a longer one (100000d, the
// longest time.Duration) is refused as invalid with a reason that states
// the latest expiry and the longest lifetime from now, and nothing is
// stored, instead of a token that expires earlier than asked. On both
// engines.
func TestLongLifetimes(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			st := eng.Open(t)
			now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			toks := auth.NewTokens(st, audit.New(st, clock), clock)
			longest := store.MaxTime().Sub(now)
			for _, ttl := range []time.Duration{100 * 365 * 24 * time.Hour, longest} {
				tok, rec, err := toks.Create(ctx, auth.CreateRequest{Name: fmt.Sprintf("long-%d", ttl), Role: auth.RoleAuditor, TTL: ttl})
				if err != nil {
					t.Fatalf("lifetime %v: %v", ttl, err)
				}
				if want := now.Add(ttl); !rec.ExpiresAt.Equal(want) {
					t.Errorf("lifetime %v: expires %v, want %v", ttl, rec.ExpiresAt, want)
				}
				if _, err := toks.Authenticate(ctx, tok); err != nil {
					t.Errorf("token with lifetime %v: %v", ttl, err)
				}
			}
			want := fmt.Sprintf("ends after 2262-04-11T23:47:16Z, the latest expiry certgate stores: at most %dd from now", longest/(24*time.Hour))
			for _, ttl := range []time.Duration{longest + time.Nanosecond, 100000 * 24 * time.Hour, time.Duration(1<<63 - 1)} {
				_, _, err := toks.Create(ctx, auth.CreateRequest{Name: fmt.Sprintf("too-long-%d", ttl), Role: auth.RoleAuditor, TTL: ttl})
				if !errors.Is(err, auth.ErrInvalid) || !strings.HasPrefix(err.Error(), "token lifetime ") || !strings.HasSuffix(err.Error(), want) {
					t.Errorf("lifetime %v: %v; want ErrInvalid ending %q", ttl, err, want)
				}
			}
			if _, _, err := toks.Create(ctx, auth.CreateRequest{Name: "days", Role: auth.RoleAuditor, TTL: 100000 * 24 * time.Hour}); err == nil ||
				!strings.HasPrefix(err.Error(), "token lifetime 100000d ends after") {
				t.Errorf("lifetime 100000d: %v", err)
			}
			recs, err := toks.List(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2 {
				t.Errorf("%d tokens stored, want the 2 accepted ones", len(recs))
			}
		})
	}
}

// TestAuthenticateMalformedOnEveryEngine: a bearer value that is not shaped
// like a token certgate makes is ErrUnauthenticated (401) on both engines,
// never another error (500): an ID of invalid UTF-8 reached PostgreSQL,
// whose text type refused it ("invalid byte sequence for encoding UTF8"),
// so that anyone could make the API answer 500 and log an error.
func TestAuthenticateMalformedOnEveryEngine(t *testing.T) {
	for _, eng := range storetest.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			ctx := context.Background()
			st := eng.Open(t)
			toks := auth.NewTokens(st, audit.New(st, nil), nil)
			tok, rec, err := toks.Create(ctx, auth.CreateRequest{Name: "ci", Role: auth.RoleAuditor, Actor: "cli:alice"})
			if err != nil {
				t.Fatal(err)
			}
			secret := tok[21:]
			for _, b := range []string{
				"cgt_" + strings.Repeat("\xff", 16) + "_" + secret,          // invalid UTF-8 ID
				"cgt_00000000000000\xc3\xa9_" + secret,                      // 16 bytes, not hex
				"cgt_" + strings.ToUpper(rec.ID) + "_" + secret,             // upper-case hex
				"cgt_" + rec.ID + "_" + secret + "A",                        // too long
				"cgt_" + rec.ID + "_" + secret[:42],                         // too short
				"cgt_" + rec.ID + "_" + secret[:42] + "=",                   // not base64url
				"cgt_" + rec.ID + "_" + secret + strings.Repeat("x", 1<<16), // oversized
			} {
				if _, err := toks.Authenticate(ctx, b); !errors.Is(err, auth.ErrUnauthenticated) {
					t.Errorf("authenticate %q: %v, want ErrUnauthenticated", b, err)
				}
			}
			if p, err := toks.Authenticate(ctx, tok); err != nil || p.TokenID != rec.ID {
				t.Fatalf("the token itself: %+v %v", p, err)
			}
		})
	}
}

// TestRevocationOnOtherNode: a token created through one store (node) is
// accepted by another store on the same database at once, and refused by
// it at once after the first revoked it: nothing caches tokens. On
// SQLite the second store stands for a CLI process beside the server.
func TestRevocationOnOtherNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteDSN}, {"postgres", storetest.PostgresDSN}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := tc.dsn(t)
			a, b := storetest.OpenDSN(t, dsn), storetest.OpenDSN(t, dsn)
			ta := auth.NewTokens(a, audit.New(a, nil), nil)
			tb := auth.NewTokens(b, audit.New(b, nil), nil)
			tok, rec, err := ta.Create(ctx, auth.CreateRequest{Name: "ci", Role: auth.RoleOperator, Actor: "cli:alice"})
			if err != nil {
				t.Fatal(err)
			}
			if p, err := tb.Authenticate(ctx, tok); err != nil || p.TokenID != rec.ID || p.Role != auth.RoleOperator {
				t.Fatalf("other node before revocation: %+v %v", p, err)
			}
			if _, err := ta.Revoke(ctx, "ci", "cli:alice"); err != nil {
				t.Fatal(err)
			}
			if _, err := tb.Authenticate(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("other node after revocation: %v, want ErrUnauthenticated", err)
			}
		})
	}
}
