package ra

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestChangeKeyToSameKey: on both engines, a keyChange (RFC 8555 §7.3.5)
// whose new key is the account's current key is malformed (400) with a
// detail saying so, not a 409 naming the account itself as the holder of
// the key; nothing is written or audited.
func TestChangeKeyToSameKey(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &testClock{t: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
		r := New(Config{}, st, failVA{}, nil, clk.now, slog.New(slog.DiscardHandler))
		defer r.Shutdown(ctx)
		pub, tp := accountKey(t)
		a, _, err := r.NewAccount(ctx, tp, pub, acme.NewAccountRequest{})
		if err != nil {
			t.Fatal(err)
		}
		err = r.ChangeKey(ctx, a, tp, pub)
		p, ok := acme.AsProblem(err)
		if !ok || p.Type != acme.Malformed || p.HTTPStatus() != http.StatusBadRequest || p.Location != "" {
			t.Fatalf("keyChange to the current key: %v (%+v), want malformed, 400, no Location", err, p)
		}
		if want := "the new key is the account's current key"; !strings.HasPrefix(p.Detail, want) {
			t.Errorf("detail %q, want it to start with %q", p.Detail, want)
		}
		got, err := st.GetAccount(ctx, a.ID)
		if err != nil || got.KeyThumbprint != tp {
			t.Fatalf("account after the refusal: %+v, %v", got, err)
		}
	})
}
