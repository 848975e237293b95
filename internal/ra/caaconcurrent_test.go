package ra

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store"
)

// meetVA is a Validator whose Validate and CheckCAA each wait until the
// other has started, so an attempt that ran them one after the other
// would never finish; validateErr and caaErr are what they then return,
// and caaCtxErr receives the context error CheckCAA ended with.
type meetVA struct {
	validateStarted, caaStarted chan struct{}
	validateErr, caaErr         error
	caaWaitsForCancel           bool
	caaCtxErr                   chan error
}

func newMeetVA(validateErr, caaErr error, caaWaitsForCancel bool) *meetVA {
	return &meetVA{validateStarted: make(chan struct{}), caaStarted: make(chan struct{}),
		validateErr: validateErr, caaErr: caaErr, caaWaitsForCancel: caaWaitsForCancel, caaCtxErr: make(chan error, 1)}
}

func (v *meetVA) Validate(ctx context.Context, _ acme.Identifier, _, _, _ string) error {
	close(v.validateStarted)
	select {
	case <-v.caaStarted:
	case <-ctx.Done():
		return ctx.Err()
	}
	return v.validateErr
}

func (v *meetVA) CheckCAA(ctx context.Context, _ acme.Identifier, _ bool, _ string, _ []string) error {
	close(v.caaStarted)
	select {
	case <-v.validateStarted:
	case <-ctx.Done():
		v.caaCtxErr <- ctx.Err()
		return ctx.Err()
	}
	if v.caaWaitsForCancel {
		<-ctx.Done()
		v.caaCtxErr <- ctx.Err()
		return acme.NewProblem(acme.CAA, "lookup cancelled")
	}
	v.caaCtxErr <- ctx.Err()
	return v.caaErr
}

// TestValidateAndCheckCAAConcurrently checks that an attempt runs the
// challenge validation and the CAA check at the same time (each fake
// waits for the other to start; run one after the other they would wait
// out the test's deadline), with the outcome of running them in order: the
// challenge's error first and then no CAA refusal (the CAA check is
// cancelled), else the CAA check's error as a CAA refusal.
func TestValidateAndCheckCAAConcurrently(t *testing.T) {
	challengeErr := acme.NewProblem(acme.Unauthorized, "wrong key authorization")
	caaErr := acme.NewProblem(acme.CAA, "CAA records at example.com do not authorize this CA")
	cases := []struct {
		name          string
		va            *meetVA
		want          error
		wantRefused   bool
		wantCancelled bool
	}{
		{"both pass", newMeetVA(nil, nil, false), nil, false, false},
		{"CAA refuses", newMeetVA(nil, caaErr, false), caaErr, true, false},
		{"challenge fails, CAA cancelled", newMeetVA(challengeErr, nil, true), challengeErr, false, true},
	}
	r := &RA{}
	az := &store.Authorization{ID: "az", AccountID: "acct", Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "www.example.com"}}
	ch := &store.Challenge{Type: acme.ChallengeHTTP01, Token: "tok"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err, refused := r.validateAndCheckCAA(ctx, tc.va, az, ch, "tok.thumb")
			if ctx.Err() != nil {
				t.Fatal("the challenge and the CAA check did not run at the same time (the attempt waited out its deadline)")
			}
			if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
				t.Errorf("error %v, want %v", err, tc.want)
			}
			if refused != tc.wantRefused {
				t.Errorf("caaRefused %v, want %v", refused, tc.wantRefused)
			}
			// The CAA check has ended by the time the attempt returns.
			select {
			case cerr := <-tc.va.caaCtxErr:
				if cancelled := errors.Is(cerr, context.Canceled); cancelled != tc.wantCancelled {
					t.Errorf("CAA check's context error %v, want cancelled %v", cerr, tc.wantCancelled)
				}
			default:
				t.Error("the CAA check was still running when the attempt returned")
			}
		})
	}
}
