package ra

import (
	"net"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/va/mpic"
)

// TestUnreachablePerspectiveNotCharged: a challenge that ends invalid
// because a remote perspective could not be reached (a real one on a
// loopback port nobody listens on) while the primary succeeded is the
// CA's failure: it is not charged to the account's failed-validations
// limit (with a limit of 1 the next newOrder was refused); one that a
// perspective saw fail still is.
func TestUnreachablePerspectiveNotCharged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	secret := []byte("0123456789abcdef0123456789abcdef")
	down := mpic.NewRemote("dead", "https://"+deadAddr, secret, 5*time.Second, nil)
	bad := mpic.Local{Perspective: "far", VA: errVA{acme.NewProblem(acme.IncorrectResponse, "wrong answer")}}
	for _, tc := range []struct {
		name    string
		remote  mpic.Checker
		charged bool
	}{
		{"unreachable", down, false},
		{"disagreeing", bad, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary := errVA{nil} // the primary's own checks pass
			v := &mpic.PrimaryValidator{Validator: primary, Corroborator: &mpic.Corroborator{
				Primary: mpic.Local{Perspective: mpic.PrimaryName, VA: primary}, Remotes: []mpic.Checker{tc.remote},
				Policy: mpic.Policy{Unreachable: mpic.UnreachableFail, MaxDisagree: -1}}}
			err := failOneValidation(t, v)
			if tc.charged {
				rateLimitedAfter(t, err, time.Hour)
			} else if err != nil {
				t.Fatalf("newOrder after a quorum failed by an unreachable perspective: %v; want it not charged", err)
			}
		})
	}
}
