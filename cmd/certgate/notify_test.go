package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/notify"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
)

// TestNotifyTest: `certgate notify test --channel webhook` posts a signed
// test document to a real receiver, with the secret from
// CERTGATE_NOTIFY_WEBHOOK_SECRET; a receiver answering 500 makes it fail
// with one line naming the status, and exit non-zero; an unconfigured
// channel is refused naming the settings.
func TestNotifyTest(t *testing.T) {
	const secret = "cli-test-secret-0123456789"
	var fail atomic.Bool
	var got atomic.Value
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !notify.VerifySignature([]byte(secret), body, r.Header.Get(notify.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if fail.Load() {
			http.Error(w, "receiver down", http.StatusInternalServerError)
			return
		}
		var m notify.Message
		_ = json.Unmarshal(body, &m)
		got.Store(m)
	}))
	defer hook.Close()
	t.Setenv("CERTGATE_NOTIFY_WEBHOOK_SECRET", secret)
	stdout, _, err := runCLI(t, nil, "notify", "test", "--channel", "webhook", "--notify-webhook-url", hook.URL)
	if err != nil || !strings.Contains(stdout, "test message sent over webhook") {
		t.Fatalf("notify test: %q %v", stdout, err)
	}
	if m, _ := got.Load().(notify.Message); m.Type != notify.TypeTest {
		t.Errorf("the receiver got %+v, want a %s document", m, notify.TypeTest)
	}
	fail.Store(true)
	_, _, err = runCLI(t, nil, "notify", "test", "--channel", "webhook", "--to", hook.URL)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), secret) {
		t.Errorf("notify test against a failing receiver: %v, want one line naming HTTP 500", err)
	}
	_, _, err = runCLI(t, nil, "notify", "test", "--channel", "email", "--to", "ops@example.com")
	if err == nil || !strings.Contains(err.Error(), "notify-smtp-server") {
		t.Errorf("notify test over an unconfigured channel: %v, want refused naming notify-smtp-server", err)
	}
}

// TestNotifyList: `certgate notify list` prints the deliveries with their
// status, filters by status and serial (as openssl prints it), and
// prints the admin API's JSON with --format json.
func TestNotifyList(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	initDataDir(t, data)
	ctx := context.Background()
	st, err := store.Open(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var certs []*store.Certificate
	for _, s := range []string{"0a01", "0a02"} {
		certs = append(certs, &store.Certificate{Serial: s[1:], Issuer: "CN=CA", DER: []byte(s), ChainPEM: s, KeyType: "ECDSA P-256", FingerprintSHA256: "fp" + s,
			NotBefore: now, NotAfter: now.Add(5 * 24 * time.Hour), Status: acme.StatusValid, CreatedAt: now, Profile: store.DefaultProfile, Source: store.SourceImported})
	}
	if err := st.InsertCertificates(ctx, certs); err != nil {
		t.Fatal(err)
	}
	added, err := st.AddNotifications(ctx, []*store.Notification{
		{Serial: "a01", ThresholdDays: 7, Channel: "email", Recipient: "ops@example.com", Rule: "ops", NextAttemptAt: now},
		{Serial: "a02", ThresholdDays: 7, Channel: "email", Recipient: "ops@example.com", Rule: "ops", NextAttemptAt: now}}, now)
	if err != nil || len(added) != 2 {
		t.Fatalf("add: %v %v", added, err)
	}
	claimed, err := st.ClaimNotifications(ctx, "node1", now, now, now.Add(time.Minute), 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := st.FinishNotification(ctx, claimed[0].ID, "node1", claimed[0].Rule, store.NotificationSent, "", now, now); err != nil {
		t.Fatal(err)
	}
	st.Close()

	stdout, _, err := runCLI(t, nil, "notify", "list", "--data", data)
	if err != nil || !strings.Contains(stdout, "STATUS") || !strings.Contains(stdout, "sent") || !strings.Contains(stdout, "pending") {
		t.Fatalf("notify list: %v\n%s", err, stdout)
	}
	stdout, _, err = runCLI(t, nil, "notify", "list", "--data", data, "--status", "sent", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Items []notify.Delivery `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &page); err != nil || len(page.Items) != 1 || page.Items[0].Serial != claimed[0].Serial || page.Items[0].SentAt == nil {
		t.Errorf("notify list --status sent --format json: %v %s", err, stdout)
	}
	other := "a01"
	if claimed[0].Serial == "a01" {
		other = "a02"
	}
	stdout, _, err = runCLI(t, nil, "notify", "list", "--data", data, "--serial", "0A:"+strings.ToUpper(other[1:]), "--format", "csv")
	if err != nil || strings.Count(stdout, "\n") != 2 || !strings.Contains(stdout, other+",7d,email,ops@example.com,ops,pending,0,") {
		t.Errorf("notify list --serial: %v\n%s", err, stdout)
	}
	if _, _, err := runCLI(t, nil, "notify", "list", "--data", data, "--status", "done"); err == nil || !strings.Contains(err.Error(), "pending, sending, sent") {
		t.Errorf("notify list --status done: %v, want refused naming the statuses", err)
	}
	// Paging: --limit 1 names the next page's --before; a delivery ID that
	// does not exist is refused in one line (it listed nothing, as if the
	// last page had been reached).
	_, stderr, err := runCLI(t, nil, "notify", "list", "--data", data, "--limit", "1")
	next := strings.TrimSpace(strings.TrimPrefix(stderr, "more deliveries: add --before "))
	if err != nil || next == "" || next == strings.TrimSpace(stderr) {
		t.Fatalf("notify list --limit 1: %v, stderr %q; want the next page's --before", err, stderr)
	}
	if stdout, _, err := runCLI(t, nil, "notify", "list", "--data", data, "--before", next); err != nil || strings.Count(stdout, "\n") != 2 {
		t.Errorf("notify list --before %s: %v\n%s; want the older delivery", next, err, stdout)
	}
	if _, _, err := runCLI(t, nil, "notify", "list", "--data", data, "--before", "nosuchdelivery"); err == nil ||
		strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `--before "nosuchdelivery": no delivery has that ID`) {
		t.Errorf("notify list --before an unknown ID: %v, want refused in one line", err)
	}

	// A discovered certificate keyed SERIAL-FINGERPRINT16 (its serial a01
	// is taken) with a webhook delivery whose URL holds a token: --serial
	// takes the key ("not hexadecimal" before) and the serial matches both;
	// the table and CSV show the recipient redacted, as JSON did (they
	// printed the whole URL).
	if st, err = store.Open(ctx, server.DSN(data, "")); err != nil {
		t.Fatal(err)
	}
	const key, hook = "a01-0123456789abcdef", "https://hooks.example.test/services/T000/B000/SECRETTOKEN"
	if err := st.InsertCertificates(ctx, []*store.Certificate{{Serial: key, Issuer: "CN=Other CA", DER: []byte("k"), ChainPEM: "k", KeyType: "ECDSA P-256", FingerprintSHA256: "fpk",
		NotBefore: now, NotAfter: now.Add(5 * 24 * time.Hour), Status: acme.StatusValid, CreatedAt: now, Profile: store.DefaultProfile, Source: store.SourceDiscovered}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddNotifications(ctx, []*store.Notification{{Serial: key, ThresholdDays: 7, Channel: "webhook", Recipient: hook, Rule: "hooks", NextAttemptAt: now}}, now); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, format := range []string{"table", "csv"} {
		stdout, _, err := runCLI(t, nil, "notify", "list", "--data", data, "--format", format)
		if err != nil || strings.Contains(stdout, "SECRETTOKEN") || !strings.Contains(stdout, "https://hooks.example.test/services/…") {
			t.Errorf("notify list --format %s: %v\n%s; want the webhook URL redacted", format, err, stdout)
		}
	}
	stdout, _, err = runCLI(t, nil, "notify", "list", "--data", data, "--serial", strings.ToUpper(key), "--format", "csv")
	if err != nil || strings.Count(stdout, "\n") != 2 || !strings.Contains(stdout, key+",7d,webhook,") {
		t.Errorf("notify list --serial KEY: %v\n%s; want the keyed certificate's delivery alone", err, stdout)
	}
	stdout, _, err = runCLI(t, nil, "notify", "list", "--data", data, "--serial", "a01", "--format", "csv")
	if err != nil || strings.Count(stdout, "\n") != 3 || !strings.Contains(stdout, key+",7d,webhook,") {
		t.Errorf("notify list --serial a01: %v\n%s; want a01's delivery and its key's", err, stdout)
	}
}
