package ra

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/store/storetest"
	"github.com/certgate/certgate/internal/testenv/testlog"
)

// slowOKVA passes every validation after 1.5 ms.
type slowOKVA struct{ okVA }

func (slowOKVA) Validate(context.Context, acme.Identifier, string, string, string) error {
	time.Sleep(1500 * time.Microsecond)
	return nil
}

// TestAttemptLogMilliseconds: the "validation attempt" log line gives its
// time in "ms" with microsecond precision (1.5 ms is 1.5xx), as the
// request lines and the VA's lines do; it gave whole milliseconds (1, and
// 0 for most attempts on a local network).
func TestAttemptLogMilliseconds(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	clk := &testClock{t: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var logs testlog.Buffer
	gate := make(chan struct{})
	r := New(Config{ValidationAttempts: 1, ResultWait: time.Hour}, st, gatedVA{slowOKVA{}, gate}, selfSigner{key: caKey}, clk.now,
		slog.New(slog.NewJSONHandler(&logs, nil)))
	defer r.Shutdown(ctx)
	acct, full := pendingAuthz(t, r, st, "a.test", clk.now())
	if c := handedBackEqualsStored(t, r, st, acct, full.Challenges[0].ID, gate); c.Status != acme.StatusValid {
		t.Fatalf("challenge %s, want valid", c.Status)
	}
	found := false
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != "validation attempt" {
			continue
		}
		found = true
		ms, ok := line["ms"].(float64)
		if !ok || ms < 1.5 || ms == math.Trunc(ms) {
			t.Errorf("validation attempt: ms = %v, want the milliseconds of a 1.5 ms attempt with their fraction: %s", line["ms"], sc.Text())
		}
	}
	if !found {
		t.Fatalf("no validation attempt line:\n%s", logs.String())
	}
}
