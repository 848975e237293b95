package ra

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ratelimit"
	"github.com/certgate/certgate/internal/store/storetest"
)

// errVA fails every validation with err.
type errVA struct{ err error }

func (v errVA) Validate(context.Context, acme.Identifier, string, string, string) error { return v.err }
func (errVA) CheckCAA(context.Context, acme.Identifier, bool, string, []string) error {
	return nil
}

// TestFailedValidationChargeIsClientAttributable: a challenge that ends
// invalid because of the server's own error (serverInternal: an error that
// is not a problem, or a serverInternal problem) is not charged to the
// account's failed-validations limit; one the client's answer failed is.
// With a limit of 1, the former code refused the next newOrder after an
// internal failure.
func TestFailedValidationChargeIsClientAttributable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		charged bool
	}{
		{"error", errors.New("store exploded"), false},
		{"serverInternal problem", acme.NewProblem(acme.ServerInternal, "internal error during validation"), false},
		{"incorrectResponse", acme.NewProblem(acme.IncorrectResponse, "wrong answer"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := failOneValidation(t, errVA{tc.err})
			if tc.charged {
				rateLimitedAfter(t, err, time.Hour)
			} else if err != nil {
				t.Fatalf("newOrder after a %s failure: %v; want it not charged", tc.name, err)
			}
		})
	}
}

// failOneValidation opens a store with a failed-validations limit of 1
// per hour, makes an RA over it with va (one attempt per challenge),
// creates an account, lets the challenge of one order fail validation and
// returns the error of the account's next newOrder: rateLimited when that
// failure was charged to the limit.
func failOneValidation(t *testing.T, va Validator) error {
	t.Helper()
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	cfg := Config{ValidationAttempts: 1, RateLimits: ratelimit.Config{
		FailedValidationsPerAccount: ratelimit.Rate{Count: 1, Period: time.Hour},
	}}
	r := New(cfg, st, va, nil, nil, slog.New(slog.DiscardHandler))
	defer r.Shutdown(ctx)
	acct, az := pendingAuthz(t, r, st, "a.one.test", time.Now())
	c := az.Challenges[0]
	if _, err := r.RespondChallenge(ctx, acct, az, &c); err != nil {
		t.Fatal(err)
	}
	r.jobs.Wait()
	if cur, err := st.GetChallenge(ctx, c.ID); err != nil || cur.Status != acme.StatusInvalid {
		t.Fatalf("challenge %+v, %v; want invalid", cur, err)
	}
	_, err := r.NewOrder(ctx, acct, acme.NewOrderRequest{Identifiers: dnsIDs("b.one.test")})
	return err
}
