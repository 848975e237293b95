package ra

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestNormalizeContacts: account contacts (RFC 8555 §7.3) are mailto:
// addresses in ASCII (no SMTPUTF8, RFC 6531) within the RFC 5321 §4.5.3.1
// limits (local part ≤ 64 octets, domain ≤ 255, the address as a path ≤
// 254 between its angle brackets); anything else is invalidContact.
// Normalised, the scheme is "mailto:" and the domain lower case (both
// case-insensitive; the local part is kept as sent), and duplicates of
// the normalised form are removed, the first kept, in order.
func TestNormalizeContacts(t *testing.T) {
	local64, label63 := strings.Repeat("l", 64), strings.Repeat("d", 63)
	// A domain of 4 × 63 + 3 = 255 characters, over CheckDNSName's 253.
	longDomain := strings.Join([]string{label63, label63, label63, label63}, ".")
	// Local part of 64 and a domain of 189: 254 in all, the limit.
	domain189 := strings.Join([]string{label63, label63, strings.Repeat("e", 56), "test"}, ".")
	for _, tc := range []struct {
		in, want []string
	}{
		{[]string{"mailto:admin@example.com"}, []string{"mailto:admin@example.com"}},
		{[]string{"MAILTO:a.b+c@Sub.Example.ORG"}, []string{"mailto:a.b+c@sub.example.org"}},
		{[]string{"mailto:a@example.com", "mailto:b@example.com", "MailTo:a@EXAMPLE.com", "mailto:b@example.com"},
			[]string{"mailto:a@example.com", "mailto:b@example.com"}},
		{[]string{"mailto:A@example.com", "mailto:a@example.com"}, []string{"mailto:A@example.com", "mailto:a@example.com"}},
		{[]string{"mailto:" + local64 + "@" + domain189}, []string{"mailto:" + local64 + "@" + domain189}},
		{[]string{}, []string{}},
	} {
		got, err := NormalizeContacts(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("NormalizeContacts(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, c := range []string{
		"mailto:jösé@example.com",              // non-ASCII local part
		"mailto:a@exämple.com",                 // non-ASCII domain (U-label)
		"mailto:" + local64 + "l@example.com",  // local part of 65
		"mailto:a@" + longDomain,               // domain of 255
		"mailto:" + local64 + "@x" + domain189, // 255 in all
		"mailto:\"quoted local\"@example.com",  // quoted local part: not plain
	} {
		_, err := NormalizeContacts([]string{c})
		if p, _ := acme.AsProblem(err); p == nil || p.Type != acme.InvalidContact {
			t.Errorf("%q: got %v, want invalidContact", c, err)
		}
	}
}

// TestAccountContactsNormalized: on both engines, newAccount and an account
// update store the contacts normalised (NormalizeContacts): duplicates
// once, and the account the update returns shows them so.
func TestAccountContactsNormalized(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &testClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
		r := New(Config{}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		pub, tp := accountKey(t)
		a, _, err := r.NewAccount(ctx, tp, pub, acme.NewAccountRequest{Contact: []string{"mailto:ops@example.com", "MAILTO:ops@Example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"mailto:ops@example.com"}
		if stored, err := st.GetAccount(ctx, a.ID); err != nil || !slices.Equal(stored.Contact, want) {
			t.Fatalf("stored contacts after newAccount: %q, %v; want %q", stored.Contact, err, want)
		}
		upd := []string{"mailto:pki@example.com", "mailto:pki@example.com", "mailto:ops@example.com"}
		got, err := r.UpdateAccount(ctx, a, acme.AccountUpdateRequest{Contact: &upd})
		want = []string{"mailto:pki@example.com", "mailto:ops@example.com"}
		if err != nil || !slices.Equal(got.Contact, want) {
			t.Fatalf("update: %q, %v; want %q", got.Contact, err, want)
		}
		if stored, err := st.GetAccount(ctx, a.ID); err != nil || !slices.Equal(stored.Contact, want) {
			t.Fatalf("stored contacts after the update: %q, %v; want %q", stored.Contact, err, want)
		}
	})
}
