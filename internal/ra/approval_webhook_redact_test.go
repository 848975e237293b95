package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
)

// TestApprovalWebhookSecretNotLogged: when the approval-webhook, a
// Slack-style URL with its secret in the path and query, cannot be
// reached, the error logged names it as notify.Redact shows it, not with
// the secret (net/http's error carries the URL).
func TestApprovalWebhookSecretNotLogged(t *testing.T) {
	dead := httptest.NewServer(nil)
	hookURL := dead.URL + "/services/T000/B000/PATHSECRET?token=QUERYSECRET"
	dead.Close()
	p := policy.Profile{Name: "gated", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		Approval: &policy.Approval{Always: true, EscalateAfter: policy.Duration(time.Hour)}}
	e := newPolicyEnvWith(t, ra.Config{ApprovalWebhook: hookURL}, p)
	ctx := context.Background()
	a := e.account("gated", nil, nil)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o, azs := e.readyOrder(a, "gated", "w.pre.test")
	if _, err := e.ra.Finalize(ctx, a, o, azs, csrFor(t, key, "w.pre.test"), nil); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * time.Hour)
	if err := e.ra.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "approval webhook") || !strings.Contains(logs, "/services/…?token=… [sha256:") {
		t.Fatalf("no redacted approval webhook failure logged:\n%s", logs)
	}
	for _, secret := range []string{"PATHSECRET", "QUERYSECRET", "T000"} {
		if strings.Contains(logs, secret) {
			t.Errorf("%s logged:\n%s", secret, logs)
		}
	}
}
