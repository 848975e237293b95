package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// auditTxCase is one audited store method: setup prepares the store,
// change makes the change with the given audit events, state describes the
// part of the store the change touches.
type auditTxCase struct {
	name   string
	setup  func(t *testing.T, s *store.Store)
	change func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error
	state  func(ctx context.Context, s *store.Store) string
}

var errSealRefused = errors.New("seal refused")

// txEvent is an audit event for action; with fail, its Seal fails, as an
// append does whose event cannot be stored, after the change's own
// statements have run in the transaction.
func txEvent(action string, fail bool) *store.AuditAppend {
	return &store.AuditAppend{
		Record: store.AuditRecord{ID: "ev-" + action, Time: now, Actor: "cli:test", Action: action, ObjectType: "test", ObjectID: "x"},
		Seal: func(r *store.AuditRecord) error {
			if fail {
				return errSealRefused
			}
			r.Hash = audit.Hash(r)
			return nil
		},
	}
}

func auditTxCases() []auditTxCase {
	profile := func(spec string) *store.Profile {
		return &store.Profile{Name: "web", Spec: []byte(spec), CreatedAt: now, UpdatedAt: now}
	}
	profileState := func(ctx context.Context, s *store.Store) string {
		p, err := s.GetProfile(ctx, "web")
		if err != nil {
			return err.Error()
		}
		return string(p.Spec)
	}
	eab := &store.EABKey{KID: "kid-1", HMACKey: []byte("k"), Profile: "default", Status: store.EABActive, CreatedAt: now}
	eabState := func(ctx context.Context, s *store.Store) string {
		k, err := s.GetEABKey(ctx, "kid-1")
		if err != nil {
			return err.Error()
		}
		return k.Status
	}
	override := store.RateLimitOverride{Limit: "newOrdersPerAccount", Subject: "acct1", Count: 5, Period: time.Hour, CreatedAt: now}
	overrideState := func(ctx context.Context, s *store.Store) string {
		os, err := s.ListRateLimitOverrides(ctx)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(os)
	}
	accountState := func(ctx context.Context, s *store.Store) string {
		a, err := s.GetAccount(ctx, "acct1")
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(a.Status, a.Contact)
	}
	return []auditTxCase{
		{name: "PutProfile/insert",
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.PutProfile(ctx, profile(`{"name":"web"}`), false, ev)
			},
			state: profileState},
		{name: "PutProfile/update",
			setup: func(t *testing.T, s *store.Store) {
				must(t, s.PutProfile(context.Background(), profile(`{"name":"web"}`), false))
			},
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.PutProfile(ctx, profile(`{"name":"web","validity":"30d"}`), true, ev)
			},
			state: profileState},
		{name: "DeleteProfile",
			setup: func(t *testing.T, s *store.Store) {
				must(t, s.PutProfile(context.Background(), profile(`{"name":"web"}`), false))
			},
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.DeleteProfile(ctx, "web", ev)
			},
			state: profileState},
		{name: "CreateEABKey",
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				k := *eab
				return s.CreateEABKey(ctx, &k, ev)
			},
			state: eabState},
		{name: "RevokeEABKey",
			setup: func(t *testing.T, s *store.Store) {
				k := *eab
				must(t, s.CreateEABKey(context.Background(), &k))
			},
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				_, err := s.RevokeEABKey(ctx, "kid-1", ev)
				return err
			},
			state: eabState},
		{name: "SetAccountAttributes",
			setup: func(t *testing.T, s *store.Store) { createAccount(t, s, "acct1") },
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.SetAccountAttributes(ctx, "acct1", map[string]string{"team": "billing"}, ev)
			},
			state: func(ctx context.Context, s *store.Store) string {
				a, err := s.GetAccount(ctx, "acct1")
				if err != nil {
					return err.Error()
				}
				return fmt.Sprint(a.Attributes)
			}},
		{name: "SetRateLimitOverride",
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.SetRateLimitOverride(ctx, override, ev)
			},
			state: overrideState},
		{name: "DeleteRateLimitOverride",
			setup: func(t *testing.T, s *store.Store) { must(t, s.SetRateLimitOverride(context.Background(), override)) },
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.DeleteRateLimitOverride(ctx, override.Limit, override.Subject, ev)
			},
			state: overrideState},
		{name: "InsertCertificates",
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.InsertCertificates(ctx, []*store.Certificate{invCert("0a", 30, "a.example.com"), invCert("0b", 30, "b.example.com")}, ev)
			},
			state: func(ctx context.Context, s *store.Store) string {
				var out []string
				for _, serial := range []string{"0a", "0b"} {
					c, err := s.GetCertificate(ctx, serial)
					if err != nil {
						out = append(out, serial+": "+err.Error())
						continue
					}
					out = append(out, serial+": "+c.Status)
				}
				sort.Strings(out)
				return fmt.Sprint(out)
			}},
		{name: "CreateAccount",
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.CreateAccount(ctx, &store.Account{ID: "acct1", KeyThumbprint: "tp-acct1", JWK: []byte(`{}`), Status: "valid", CreatedAt: now}, ev)
			},
			state: accountState},
		{name: "CreateAccountEAB",
			setup: func(t *testing.T, s *store.Store) {
				k := *eab
				must(t, s.CreateEABKey(context.Background(), &k))
			},
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.CreateAccountEAB(ctx, &store.Account{ID: "acct1", KeyThumbprint: "tp-acct1", JWK: []byte(`{}`), Status: "valid",
					CreatedAt: now, EABKid: "kid-1"}, now, nil, ev)
			},
			state: func(ctx context.Context, s *store.Store) string {
				k, err := s.GetEABKey(ctx, "kid-1")
				if err != nil {
					return err.Error()
				}
				return accountState(ctx, s) + " bound to " + k.AccountID
			}},
		{name: "UpdateAccount",
			setup: func(t *testing.T, s *store.Store) { createAccount(t, s, "acct1") },
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.UpdateAccount(ctx, &store.Account{ID: "acct1", Status: "valid", Contact: []string{"mailto:new@example.test"}}, ev)
			},
			state: accountState},
		{name: "ChangeAccountKey",
			setup: func(t *testing.T, s *store.Store) { createAccount(t, s, "acct1") },
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				a, err := s.GetAccount(ctx, "acct1")
				if err != nil {
					return err
				}
				return s.ChangeAccountKey(ctx, "acct1", a.KeyThumbprint, "tp-new", []byte(`{"new":true}`), ev)
			},
			state: func(ctx context.Context, s *store.Store) string {
				a, err := s.GetAccount(ctx, "acct1")
				if err != nil {
					return err.Error()
				}
				return a.KeyThumbprint + " " + string(a.JWK)
			}},
		{name: "SetRenewalWindow",
			setup: func(t *testing.T, s *store.Store) {
				must(t, s.InsertCertificates(context.Background(), []*store.Certificate{invCert("0a", 30, "a.example.com")}))
			},
			change: func(ctx context.Context, s *store.Store, ev *store.AuditAppend) error {
				return s.SetRenewalWindow(ctx, "0a", now, now.Add(time.Hour), ev)
			},
			state: func(ctx context.Context, s *store.Store) string {
				start, end, err := s.RenewalWindow(ctx, "0a")
				if err != nil {
					return err.Error()
				}
				return fmt.Sprint(start.Unix(), end.Unix())
			}},
	}
}

// TestAuditedChangesCommitWithTheirEvent checks, for each store method
// that takes audit appends, on both engines: an append that fails rolls
// the change back (the store is as before, the log empty, and the same
// change then succeeds), and a good one is committed with the change as
// the chain's next event.
func TestAuditedChangesCommitWithTheirEvent(t *testing.T) {
	for _, c := range auditTxCases() {
		t.Run(c.name, func(t *testing.T) {
			storetest.EachStore(t, func(t *testing.T, s *store.Store) {
				ctx := context.Background()
				if c.setup != nil {
					c.setup(t, s)
				}
				before := c.state(ctx, s)

				err := c.change(ctx, s, txEvent("test.fail", true))
				if !errors.Is(err, errSealRefused) {
					t.Fatalf("change with a failing audit append = %v, want %v", err, errSealRefused)
				}
				if got := c.state(ctx, s); got != before {
					t.Fatalf("after the failed append the change is kept: state %q, want %q", got, before)
				}
				if seq, hash, err := s.AuditHead(ctx); err != nil || seq != 0 || hash != store.AuditGenesisHash {
					t.Fatalf("audit head after the failed append = %d %s %v, want 0 and genesis", seq, hash, err)
				}

				ev := txEvent("test.ok", false)
				must(t, c.change(ctx, s, ev))
				if got := c.state(ctx, s); got == before {
					t.Fatalf("change not made: state still %q", got)
				}
				evs, err := s.ListAudit(ctx, store.AuditFilter{})
				must(t, err)
				if len(evs) != 1 || evs[0].Action != "test.ok" || evs[0].Seq != 1 || evs[0].PrevHash != store.AuditGenesisHash ||
					evs[0].Hash != ev.Record.Hash || evs[0].Hash != audit.Hash(evs[0]) {
					t.Fatalf("audit events = %+v, want the one test.ok event sealed in the change's transaction", evs)
				}
				if seq, hash, err := s.AuditHead(ctx); err != nil || seq != 1 || hash != ev.Record.Hash {
					t.Fatalf("audit head = %d %s %v, want 1 %s", seq, hash, err, ev.Record.Hash)
				}
			})
		})
	}
}

// TestAuditBatchWritesHeadOnce: several events appended in one transaction
// (an import's certificate.import events, one per certificate) form the
// chain's next links, and the audit_head row, whose lock serializes every
// audited change of every node, is written twice for the whole batch
// rather than twice per event: on PostgreSQL each write of the row in the
// transaction leaves a version that the next must step over, so per-event
// writes grow quadratically with the batch while the lock is held.
func TestAuditBatchWritesHeadOnce(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		must(t, s.AppendAudit(ctx, txEvent("test.first", false)))
		const n = 70 // more than one multi-row INSERT
		evs := make([]*store.AuditAppend, n)
		for i := range evs {
			evs[i] = txEvent(fmt.Sprintf("test.batch.%02d", i), false)
			evs[i].Record.ID = fmt.Sprintf("ev-%02d", i)
		}
		writes, err := store.AppendAuditBatch(ctx, s, evs)
		must(t, err)
		if writes > 2 {
			t.Errorf("audit_head written %d times for %d events, want at most 2", writes, n)
		}
		last := txEvent("test.last", false)
		last.Record.ID = "ev-last"
		must(t, s.AppendAudit(ctx, last))
		got, err := s.ListAudit(ctx, store.AuditFilter{Limit: 1000})
		must(t, err)
		if len(got) != n+2 {
			t.Fatalf("%d events, want %d", len(got), n+2)
		}
		prev := store.AuditGenesisHash
		for i, r := range got {
			if r.Seq != int64(i+1) || r.PrevHash != prev || r.Hash != audit.Hash(r) {
				t.Fatalf("event %d (%s): seq %d, prev %s, hash %s: not the chain's next link (prev %s)", i, r.Action, r.Seq, r.PrevHash, r.Hash, prev)
			}
			if i >= 1 && i <= n {
				if want := fmt.Sprintf("test.batch.%02d", i-1); r.Action != want || r.Hash != evs[i-1].Record.Hash {
					t.Fatalf("event %d is %s (hash %s), want %s as sealed (%s)", i, r.Action, r.Hash, want, evs[i-1].Record.Hash)
				}
			}
			prev = r.Hash
		}
		if seq, hash, err := s.AuditHead(ctx); err != nil || seq != int64(n+2) || hash != prev {
			t.Fatalf("audit head %d %s %v, want %d %s", seq, hash, err, n+2, prev)
		}
	})
}

// TestAuditAppendWithoutSealRefused, on both engines: an audit append
// without Seal that is not marked HooksOnly fails the change it belongs to
// instead of being skipped (a caller that forgot Seal would lose the
// record); a HooksOnly one appends nothing and lets the change commit.
func TestAuditAppendWithoutSealRefused(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		seq0, _, err := s.AuditHead(ctx)
		must(t, err)
		if err := s.AppendAudit(ctx, &store.AuditAppend{Record: store.AuditRecord{Action: "x"}}); err == nil {
			t.Error("an append without Seal succeeded")
		}
		must(t, s.AppendAudit(ctx, &store.AuditAppend{HooksOnly: true}))
		seq1, _, err := s.AuditHead(ctx)
		must(t, err)
		if seq1 != seq0 {
			t.Errorf("audit head moved from %d to %d", seq0, seq1)
		}
	})
}

// TestChangeAccountKeyConflictWithEvent: on both engines, an audited key
// change to a key another account holds is ErrConflict (not a storage
// error: the unique violation inside the transaction) and appends nothing.
func TestChangeAccountKeyConflictWithEvent(t *testing.T) {
	eachEngine(t, func(t *testing.T, e storetest.Engine) {
		s := e.Open(t)
		ctx := context.Background()
		a1 := createAccount(t, s, "acct1")
		a2 := createAccount(t, s, "acct2")
		wantErr(t, "audited key change to a used key",
			s.ChangeAccountKey(ctx, a2.ID, a2.KeyThumbprint, a1.KeyThumbprint, []byte(`{}`), txEvent("account.key_change", false)), store.ErrConflict)
		wantErr(t, "audited key change from a stale key",
			s.ChangeAccountKey(ctx, a2.ID, "wrong-old", "tp3", []byte(`{}`), txEvent("account.key_change", false)), store.ErrStale)
		if seq, _, err := s.AuditHead(ctx); err != nil || seq != 0 {
			t.Fatalf("audit head seq %d (%v) after refused key changes, want 0", seq, err)
		}
	})
}

// TestUpdateAccountContactsAndUnchangedEvent, on both engines: an update
// without contacts (nil) keeps the stored ones rather than writing back
// the caller's copy; an event whose Replaced hook finds the row unchanged
// (audit.ErrUnchanged) appends nothing, and one that finds it changed is
// appended with the row the transaction read as before.
func TestUpdateAccountContactsAndUnchangedEvent(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		createAccount(t, s, "acct1") // contact mailto:acct1@example.test
		must(t, s.UpdateAccount(ctx, &store.Account{ID: "acct1", Status: "valid"}))
		a, err := s.GetAccount(ctx, "acct1")
		must(t, err)
		if fmt.Sprint(a.Contact) != "[mailto:acct1@example.test]" {
			t.Fatalf("contacts after an update without contacts: %v, want them kept", a.Contact)
		}
		log := audit.New(s, func() time.Time { return now })
		contactEvent := func(contact ...string) *store.AuditAppend {
			ev, err := log.Prepare(ctx, audit.Event{Actor: "acme-account:acct1", Action: "account.update", ObjectType: "account", ObjectID: "acct1",
				Replaced: func(old any) (any, any, error) {
					if o := old.(*store.Account); fmt.Sprint(o.Contact) != fmt.Sprint(contact) {
						return o.Contact, contact, nil
					}
					return nil, nil, audit.ErrUnchanged
				}})
			must(t, err)
			return ev
		}
		must(t, s.UpdateAccount(ctx, &store.Account{ID: "acct1", Status: "valid", Contact: []string{"mailto:acct1@example.test"}},
			contactEvent("mailto:acct1@example.test")))
		if seq, _, err := s.AuditHead(ctx); err != nil || seq != 0 {
			t.Fatalf("audit head after an unchanged update: %d %v, want 0", seq, err)
		}
		must(t, s.UpdateAccount(ctx, &store.Account{ID: "acct1", Status: "valid", Contact: []string{}}, contactEvent()))
		evs, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, err)
		if len(evs) != 1 || evs[0].Before != `["mailto:acct1@example.test"]` || evs[0].After != `null` && evs[0].After != `[]` {
			t.Fatalf("events %+v, want one with the stored contacts as before", evs)
		}
		a, err = s.GetAccount(ctx, "acct1")
		must(t, err)
		if len(a.Contact) != 0 {
			t.Fatalf("contacts %v, want none", a.Contact)
		}
	})
}
