package mpic

import (
	"context"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// meetVA's Validate and CheckCAA each wait until the other has started:
// run one after the other, they wait until the context ends.
type meetVA struct {
	validateStarted, caaStarted chan struct{}
	validateErr, caaErr         error
	caaCtxErr                   chan error
}

func newMeetVA(validateErr, caaErr error) *meetVA {
	return &meetVA{validateStarted: make(chan struct{}), caaStarted: make(chan struct{}),
		validateErr: validateErr, caaErr: caaErr, caaCtxErr: make(chan error, 1)}
}

func (m *meetVA) Validate(ctx context.Context, _ acme.Identifier, _, _, _ string) error {
	close(m.validateStarted)
	select {
	case <-m.caaStarted:
		return m.validateErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *meetVA) CheckCAA(ctx context.Context, _ acme.Identifier, _ bool, _ string, _ []string) error {
	close(m.caaStarted)
	select {
	case <-m.validateStarted:
	case <-ctx.Done():
		m.caaCtxErr <- ctx.Err()
		return ctx.Err()
	}
	if m.validateErr != nil {
		<-ctx.Done() // cancelled once the challenge failed
		m.caaCtxErr <- ctx.Err()
		return acme.NewProblem(acme.Connection, "validation cancelled while looking up CAA")
	}
	m.caaCtxErr <- nil
	return m.caaErr
}

// TestLocalChecksConcurrently: a perspective runs the challenge and the
// CAA check at the same time, as the primary without perspectives does
// (ra.validateAndCheckCAA), so that one check takes the longer of the two
// (each at most the validation timeout, 10 s), not their sum, which could
// exceed perspective-timeout (20 s) and count the perspective as
// unreachable. The outcome is that of running them in order: the
// challenge's problem (the CAA check cancelled), else CAA's.
func TestLocalChecksConcurrently(t *testing.T) {
	req := Request{Identifier: acme.Identifier{Type: "dns", Value: "x.test"}, Type: "http-01"}
	challengeErr := acme.NewProblem(acme.IncorrectResponse, "wrong key authorization")
	caaErr := acme.NewProblem(acme.CAA, "CAA records forbid")
	for _, tc := range []struct {
		name       string
		va         *meetVA
		status     string
		problem    acme.ProblemType
		caaRefused bool
	}{
		{"both pass", newMeetVA(nil, nil), StatusValid, "", false},
		{"CAA refuses", newMeetVA(nil, caaErr), StatusInvalid, acme.CAA, true},
		{"challenge fails, CAA cancelled", newMeetVA(challengeErr, nil), StatusInvalid, acme.IncorrectResponse, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res := Local{Perspective: "p", VA: tc.va}.Check(ctx, req)
			if ctx.Err() != nil {
				t.Fatal("the checks ran one after the other")
			}
			if res.Status != tc.status || res.CAARefused != tc.caaRefused || (tc.problem == "") != (res.Problem == nil) ||
				res.Problem != nil && res.Problem.Type != tc.problem {
				t.Fatalf("result %+v, want %s %q caaRefused=%v", res, tc.status, tc.problem, tc.caaRefused)
			}
			if tc.va.validateErr != nil {
				if err := <-tc.va.caaCtxErr; err == nil {
					t.Fatal("the CAA check was not cancelled after the challenge failed")
				}
			}
		})
	}
}
