package ra

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
	jose "github.com/go-jose/go-jose/v4"
)

// accountKey returns a new P-256 account key's public JWK (JSON) and its
// RFC 7638 thumbprint (base64url).
func accountKey(t testing.TB) (pub []byte, tp string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk := jose.JSONWebKey{Key: key.Public()}
	pub, _ = jwk.MarshalJSON()
	tpb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return pub, base64.RawURLEncoding.EncodeToString(tpb)
}

// auditEvents returns the stored events with action, oldest first.
func auditEvents(t *testing.T, st *store.Store, action string) []*store.AuditRecord {
	t.Helper()
	evs, err := st.ListAudit(context.Background(), store.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// verifyChain checks the whole audit chain as `certgate audit verify`
// does.
func verifyChain(t *testing.T, st *store.Store) *audit.VerifyResult {
	t.Helper()
	res, err := audit.New(st, nil).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("audit verify: %s", res.Error())
	}
	return res
}

// TestAccountCreateAudited: on both engines, newAccount (RFC 8555 §7.3)
// records one account.create event, by the new account, in the
// transaction that stores it, with what an auditor needs: the account,
// its key's thumbprint, the contacts as given, the directory's profile,
// the EAB key (§7.3.4) and the client's address. A newAccount that gets
// an existing account back (same key, onlyReturnExisting, an EAB retry,
// a retry that lost the race for a single-use EAB key) records nothing,
// and neither does a refused one.
func TestAccountCreateAudited(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := WithClientAddr(context.Background(), "192.0.2.7:4711")
		clk := &testClock{t: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
		r := New(Config{Audit: audit.New(st, clk.now)}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		const url = "https://ca.test/acme/new-account"

		// Without EAB.
		pub, tp := accountKey(t)
		contact := []string{"mailto:ops@example.com", "mailto:pki@example.com"}
		a, created, err := r.NewAccountIn(ctx, "", url, tp, pub, acme.NewAccountRequest{Contact: contact, TermsOfServiceAgreed: true})
		if err != nil || !created {
			t.Fatalf("newAccount: created %v, %v", created, err)
		}
		if _, created, err := r.NewAccountIn(ctx, "", url, tp, pub, acme.NewAccountRequest{Contact: []string{"mailto:x@example.com"}}); err != nil || created {
			t.Fatalf("newAccount again with the same key: created %v, %v; want the account back", created, err)
		}
		if _, created, err := r.NewAccountIn(ctx, "", url, tp, pub, acme.NewAccountRequest{OnlyReturnExisting: true}); err != nil || created {
			t.Fatalf("onlyReturnExisting: created %v, %v", created, err)
		}
		pub2, tp2 := accountKey(t)
		if _, _, err := r.NewAccountIn(ctx, "", url, tp2, pub2, acme.NewAccountRequest{OnlyReturnExisting: true}); err == nil {
			t.Fatal("onlyReturnExisting without an account succeeded")
		}
		if _, _, err := r.NewAccountIn(ctx, "", url, tp2, pub2, acme.NewAccountRequest{Contact: []string{"tel:+1555"}}); err == nil {
			t.Fatal("newAccount with a tel: contact succeeded")
		}

		// With EAB, retried with the same key and binding, and by a
		// second node that lost the race for the single-use key.
		hmacKey := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
		if err := st.CreateEABKey(ctx, &store.EABKey{KID: "kid-once", HMACKey: hmacKey, Profile: "default", Owner: "team-payments",
			SingleUse: true, Status: store.EABActive, CreatedAt: clk.now()}); err != nil {
			t.Fatal(err)
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		epub, etp, eab := eabBinding(t, key, "kid-once", hmacKey, url)
		b, created, err := r.NewAccountIn(ctx, "", url, etp, epub, acme.NewAccountRequest{ExternalAccountBinding: eab})
		if err != nil || !created {
			t.Fatalf("EAB newAccount: created %v, %v", created, err)
		}
		if again, created, err := r.NewAccountIn(ctx, "", url, etp, epub, acme.NewAccountRequest{ExternalAccountBinding: eab}); err != nil || created || again.ID != b.ID {
			t.Fatalf("EAB retry: %v, created %v, %v; want account %s back", again, created, err, b.ID)
		}
		loser := New(Config{Audit: audit.New(st, clk.now)}, &lateLookupStore{Store: st}, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
		defer loser.Shutdown(ctx)
		if again, created, err := loser.NewAccountIn(ctx, "", url, etp, epub, acme.NewAccountRequest{ExternalAccountBinding: eab}); err != nil || created || again.ID != b.ID {
			t.Fatalf("EAB retry that lost the race: %v, created %v, %v; want account %s back", again, created, err, b.ID)
		}

		evs := auditEvents(t, st, audit.ActionAccountCreate)
		if len(evs) != 2 {
			t.Fatalf("%d account.create events, want 2 (one per account created)", len(evs))
		}
		type createdEv struct {
			ID            string   `json:"id"`
			Status        string   `json:"status"`
			KeyThumbprint string   `json:"key_thumbprint"`
			Contact       []string `json:"contact"`
			TOSAgreed     bool     `json:"terms_of_service_agreed"`
			Profile       string   `json:"profile"`
			EABKid        string   `json:"eab_kid"`
			EABProfile    string   `json:"eab_profile"`
			EABOwner      string   `json:"eab_owner"`
		}
		for i, want := range []createdEv{
			{ID: a.ID, Status: "valid", KeyThumbprint: tp, Contact: contact, TOSAgreed: true, Profile: "default"},
			{ID: b.ID, Status: "valid", KeyThumbprint: etp, Contact: []string{}, Profile: "default", EABKid: "kid-once", EABProfile: "default", EABOwner: "team-payments"},
		} {
			ev := evs[i]
			if ev.Actor != "acme-account:"+want.ID || ev.ObjectType != "account" || ev.ObjectID != want.ID || ev.Source != "192.0.2.7:4711" || ev.Before != "" {
				t.Errorf("event %d: %+v", i, ev)
			}
			var got createdEv
			if err := json.Unmarshal([]byte(ev.After), &got); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) || got.Contact == nil {
				t.Errorf("event %d after = %s, want %+v", i, ev.After, want)
			}
		}
		verifyChain(t, st)
	})
}

// TestAccountUpdateAudited: on both engines, a contact change (RFC 8555
// §7.3.2) records one account.update event with the contacts the update
// replaced, as the transaction read them (not as the caller last saw
// them), and the new ones; an update that leaves them as stored records
// nothing, also when the caller's copy of the account is older.
func TestAccountUpdateAudited(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := WithClientAddr(context.Background(), "198.51.100.9:443")
		clk := &testClock{t: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
		r := New(Config{Audit: audit.New(st, clk.now)}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		pub, tp := accountKey(t)
		a, _, err := r.NewAccountIn(ctx, "", "https://ca.test/acme/new-account", tp, pub, acme.NewAccountRequest{Contact: []string{"mailto:a@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		update := func(acct *store.Account, contact ...string) *store.Account {
			t.Helper()
			got, err := r.UpdateAccount(ctx, acct, acme.AccountUpdateRequest{Contact: &contact})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		b := update(a, "mailto:b@example.com", "mailto:c@example.com")
		update(b, "mailto:b@example.com", "mailto:c@example.com")                       // unchanged
		update(a, "mailto:b@example.com", "mailto:c@example.com")                       // unchanged; a is an older copy
		update(a, "mailto:d@example.com")                                               // a is an older copy: before is b's contacts
		if _, err := r.UpdateAccount(ctx, a, acme.AccountUpdateRequest{}); err != nil { // POST {}: nothing to change
			t.Fatal(err)
		}
		update(a) // no contacts at all
		update(a) // unchanged
		if _, err := r.UpdateAccount(ctx, a, acme.AccountUpdateRequest{Status: acme.StatusValid}); err != nil {
			t.Fatal(err)
		}

		evs := auditEvents(t, st, audit.ActionAccountUpdate)
		want := []string{
			`{"contact":["mailto:a@example.com"]} -> {"contact":["mailto:b@example.com","mailto:c@example.com"]}`,
			`{"contact":["mailto:b@example.com","mailto:c@example.com"]} -> {"contact":["mailto:d@example.com"]}`,
			`{"contact":["mailto:d@example.com"]} -> {"contact":[]}`,
		}
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Before+" -> "+ev.After)
			if ev.Actor != "acme-account:"+a.ID || ev.ObjectType != "account" || ev.ObjectID != a.ID || ev.Source != "198.51.100.9:443" {
				t.Errorf("event %+v", ev)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("account.update events:\n%s\nwant\n%s", got, want)
		}
		stored, err := st.GetAccount(ctx, a.ID)
		if err != nil || len(stored.Contact) != 0 {
			t.Fatalf("stored account %+v %v, want no contacts", stored, err)
		}

		// Contacts and deactivation in one request: both are recorded,
		// in the same transaction; a deactivated account's update is
		// refused and records nothing.
		contact := []string{"mailto:last@example.com"}
		if _, err := r.UpdateAccount(ctx, a, acme.AccountUpdateRequest{Contact: &contact, Status: acme.StatusDeactivated}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.UpdateAccount(ctx, a, acme.AccountUpdateRequest{Contact: &[]string{"mailto:late@example.com"}}); err == nil {
			t.Fatal("update of a deactivated account succeeded")
		}
		if n := len(auditEvents(t, st, audit.ActionAccountUpdate)); n != 4 {
			t.Errorf("%d account.update events, want 4", n)
		}
		if n := len(auditEvents(t, st, audit.ActionAccountDeactivate)); n != 1 {
			t.Errorf("%d account.deactivate events, want 1", n)
		}
		verifyChain(t, st)
	})
}

// TestAccountDeactivateAuditsStoredRow: on both engines, an ACME
// account's deactivation records in account.deactivate the account as its
// transaction read it, not as the caller's copy has it: on a cluster the
// copy is the front end's cache, which may predate a contact change made
// through another node. A deactivation that also sets contacts records
// them as after.
func TestAccountDeactivateAuditsStoredRow(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &testClock{t: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
		r := New(Config{Audit: audit.New(st, clk.now)}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		var want []string
		for i, set := range [][]string{nil, {"mailto:new@example.com"}} {
			pub, tp := accountKey(t)
			cached, _, err := r.NewAccountIn(ctx, "", "https://ca.test/acme/new-account", tp, pub, acme.NewAccountRequest{Contact: []string{"mailto:cached@example.com"}})
			if err != nil {
				t.Fatal(err)
			}
			// Another node changes the contacts; cached is older.
			stored := []string{fmt.Sprintf("mailto:stored%d@example.com", i)}
			if _, err := r.UpdateAccount(ctx, cached, acme.AccountUpdateRequest{Contact: &stored}); err != nil {
				t.Fatal(err)
			}
			req := acme.AccountUpdateRequest{Status: acme.StatusDeactivated}
			after := stored
			if set != nil {
				req.Contact, after = &set, set
			}
			if _, err := r.UpdateAccount(ctx, cached, req); err != nil {
				t.Fatal(err)
			}
			row, err := st.GetAccount(ctx, cached.ID)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(newAccountRecord(row, acme.StatusValid, stored, ""))
			a, _ := json.Marshal(newAccountRecord(row, acme.StatusDeactivated, after, ""))
			want = append(want, string(b)+" -> "+string(a))
		}
		var got []string
		for _, ev := range auditEvents(t, st, audit.ActionAccountDeactivate) {
			got = append(got, ev.Before+" -> "+ev.After)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("account.deactivate events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		verifyChain(t, st)
	})
}

// TestAccountCreateAuditedTwoNodes: two nodes (two stores, two RAs) on
// one PostgreSQL database create accounts at once. Each creation now
// takes the audit head's row lock, which serializes appends across the
// cluster: every creation succeeds, each has its one account.create
// event, and the chain verifies.
func TestAccountCreateAuditedTwoNodes(t *testing.T) {
	storetest.RequirePostgres(t)
	dsn := storetest.PostgresDSN(t)
	clk := &testClock{t: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)}
	var nodes []*RA
	var stores []*store.Store
	for range 2 {
		st := storetest.OpenDSN(t, dsn)
		r := New(Config{Audit: audit.New(st, clk.now)}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
		t.Cleanup(func() { r.Shutdown(context.Background()) })
		nodes, stores = append(nodes, r), append(stores, st)
	}
	const perNode, workers = 24, 4
	var wg sync.WaitGroup
	ids := make(chan string, 2*perNode)
	errs := make(chan error, 2*perNode)
	for n, r := range nodes {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perNode / workers {
					pub, tp := accountKey(t)
					ctx := WithClientAddr(context.Background(), fmt.Sprintf("192.0.2.%d:%d", n+1, 1000+w*100+i))
					a, created, err := r.NewAccountIn(ctx, "", "https://ca.test/acme/new-account", tp, pub,
						acme.NewAccountRequest{Contact: []string{fmt.Sprintf("mailto:n%d-%d-%d@example.com", n, w, i)}})
					if err != nil || !created {
						errs <- fmt.Errorf("node %d: created %v, %w", n, created, err)
						continue
					}
					ids <- a.ID
				}
			}()
		}
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var want []string
	for id := range ids {
		want = append(want, id)
	}
	if len(want) != 2*perNode {
		t.Fatalf("%d accounts created, want %d", len(want), 2*perNode)
	}
	var got []string
	for _, ev := range auditEvents(t, stores[1], audit.ActionAccountCreate) {
		got = append(got, ev.ObjectID)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("account.create events for %v, want one for each of %v", got, want)
	}
	if res := verifyChain(t, stores[0]); res.Events != 2*perNode {
		t.Fatalf("audit verify: %d events, want %d", res.Events, 2*perNode)
	}
}
