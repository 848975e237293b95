package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/notify"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/testenv"
	"github.com/certgate/certgate/internal/testenv/testlog"
)

// TestServeSendsExpiryNotifications: a server with a webhook rule reports
// a certificate imported while it runs, within a round of its notifier,
// to a real webhook receiver that verifies the signature, and counts it in
// certgate_notifications_sent_total.
func TestServeSendsExpiryNotifications(t *testing.T) {
	secret := "serve-test-webhook-secret-0123"
	var mu sync.Mutex
	got := make(chan notify.Message, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !notify.VerifySignature([]byte(secret), body, r.Header.Get(notify.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m notify.Message
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got <- m
	}))
	defer hook.Close()
	rules, err := notify.ParseRules([]string{"name=hook channel=webhook days=14"})
	if err != nil {
		t.Fatal(err)
	}
	env := testenv.NewWithOptions(t, testenv.Options{Metrics: true, Notify: config.Notify{Rules: rules, Interval: 100 * time.Millisecond,
		MaxAttempts: 3, RetryDelay: time.Minute, WebhookURL: hook.URL, WebhookSecret: secret, WebhookTimeout: 5 * time.Second}})
	now := time.Now().UTC()
	c := &store.Certificate{Serial: "abc123", Issuer: "CN=Other CA", DER: []byte("der"), ChainPEM: "pem", SANs: []string{"soon.example.com"},
		KeyType: "ECDSA P-256", FingerprintSHA256: "fp-abc123", NotBefore: now.Add(-80 * 24 * time.Hour), NotAfter: now.Add(10 * 24 * time.Hour),
		Status: acme.StatusValid, CreatedAt: now, Profile: store.DefaultProfile, Source: store.SourceImported}
	if err := env.Server.Store().InsertCertificates(context.Background(), []*store.Certificate{c}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if len(m.Certificates) != 1 || m.Certificates[0].Serial != "abc123" || m.Certificates[0].ThresholdDays != 14 {
			t.Fatalf("webhook document %+v, want abc123 at threshold 14", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no notification within 20 s")
	}
	// The delivery is recorded sent right after the answer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v := value(t, scrape(t, env), "certgate_notifications_sent_total", map[string]string{"channel": "webhook"}); v == 1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("certgate_notifications_sent_total{channel=webhook} = %v, want 1", v)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeWarnsOfUnknownRuleProfile: a notification rule whose profile=
// names no defined profile and no certificate's (a typo: "Web" for
// "web") is logged at start as selecting nothing, once, naming the rule;
// a rule naming the default profile is not. It used to be accepted without
// a word, and the rule never fired.
func TestServeWarnsOfUnknownRuleProfile(t *testing.T) {
	rules, err := notify.ParseRules([]string{"name=typo to=ops@example.com profile=Web", "name=ok to=ops@example.com profile=default"})
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	testenv.NewWithOptions(t, testenv.Options{Log: &logs, Notify: config.Notify{Rules: rules, Interval: time.Hour,
		SMTPServer: "127.0.0.1:1", SMTPFrom: "certgate@example.com"}})
	out := logs.String()
	if strings.Count(out, "notification rule names a profile that is not defined") != 1 || !strings.Contains(out, "rule=typo") || !strings.Contains(out, "profile=Web") {
		t.Errorf("start log does not warn once of rule typo's profile Web:\n%s", out)
	}
}
