package notify_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/notify"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestRedactHidesWebhookSecrets: Redact shows a webhook URL without the
// path segments after the first, query values or password, which carry
// Slack/Teams-style secrets, plus a SHA-256 prefix telling two apart;
// email addresses and URLs with nothing to hide are shown as they are.
func TestRedactHidesWebhookSecrets(t *testing.T) {
	slack := "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
	if got := notify.Redact(slack); !strings.HasPrefix(got, "https://hooks.slack.com/services/… [sha256:") || strings.Contains(got, "XXXXSECRET") || strings.Contains(got, "T000") {
		t.Errorf("Redact(%q) = %q", slack, got)
	}
	other := strings.Replace(slack, "XXXXSECRET", "YYYYSECRET", 1)
	if notify.Redact(other) == notify.Redact(slack) {
		t.Errorf("two webhook URLs shown alike: %q", notify.Redact(other))
	}
	for in, want := range map[string]string{
		"https://hooks.example.com/hook?token=QSECRET&x=1": "https://hooks.example.com/hook?token=…&x=… [sha256:",
		"https://u:PSECRET@hooks.example.com/a":            "https://u:xxxxx@hooks.example.com/a [sha256:",
		"https://USECRET@hooks.example.com/a":              "https://xxxxx@hooks.example.com/a [sha256:",
		"https://hooks.example.com/certgate":               "https://hooks.example.com/certgate",
		"ops@example.com":                                  "ops@example.com",
	} {
		if got := notify.Redact(in); !strings.HasPrefix(got, want) || strings.Contains(got, "SECRET") {
			t.Errorf("Redact(%q) = %q, want %q…", in, got, want)
		}
	}
}

// TestMessageTextEscapesControlCharacters: names, subjects and
// attributes a certificate brings (a scan reaches any server) are shown
// with their control characters escaped, so a SAN holding CR LF cannot
// start lines of its own in the email's text or subject.
func TestMessageTextEscapesControlCharacters(t *testing.T) {
	m := &notify.Message{Type: notify.TypeExpiry, Recipient: "ops@example.com", Certificates: []notify.CertSummary{{
		Serial: "01", Subject: "CN=a\rb", Names: []string{"evil.example\r\nbcc: x@evil.example", "ok.example"},
		NotAfter: time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC), DaysLeft: 5, ThresholdDays: 7, Rule: "ops", Profile: "default",
		Issuer: "CN=Issuer\n", Source: "discovered", Attributes: map[string]string{"team": "a\nfrom: b"}}}}
	text := m.Text()
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "bcc:") || strings.HasPrefix(line, "from:") || strings.Contains(line, "\r") {
			t.Errorf("line %q in the text:\n%s", line, text)
		}
	}
	if !strings.Contains(text, `names:      evil.example\r\nbcc: x@evil.example, ok.example`) || !strings.Contains(text, `attribute:  team=a\nfrom: b`) {
		t.Errorf("text does not show the names and attribute escaped:\n%s", text)
	}
	if subj := m.Subject(); strings.ContainsAny(subj, "\r\n") {
		t.Errorf("subject %q holds a line break", subj)
	}
}

// TestWebhookSecretNotShown: on both engines, a delivery to a webhook
// URL with its secret in the path and query reaches that URL unchanged,
// but neither the log, the notification.fail/send audit events, the
// delivery listing nor a failed attempt's error shows the secret, also
// when the connection fails (net/http's error names the URL).
func TestWebhookSecretNotShown(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		h := startHook(t, hookSecret)
		secretURL := h.url + "/T000/B000/PATHSECRET?token=QUERYSECRET"
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("s1", t0.Add(10*day), nil)}))
		e := newNode(t, st, clk, rules(t, "name=hook channel=webhook"), webhookChannel(t, secretURL))
		h.failNext(1)
		runOnce(t, e.n)
		clk.advance(time.Hour)
		if res := runOnce(t, e.n); res.Sent != 1 {
			t.Fatalf("second attempt: %+v, want sent", res)
		}
		if docs, _ := h.received(); len(docs) != 1 {
			t.Fatalf("the hook received %d messages, want 1", len(docs))
		}

		dead := httptest.NewServer(nil)
		deadURL := dead.URL + "/services/T1/B1/DEADSECRET"
		dead.Close()
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("s2", clk.now().Add(10*day), nil)}))
		e2 := newNode(t, st, clk, rules(t, "name=dead channel=webhook"), webhookChannel(t, deadURL))
		if res := runOnce(t, e2.n); res.Failed == 0 {
			t.Fatalf("attempt to a closed port: %+v, want failed", res)
		}

		shown := e.log.String() + e2.log.String()
		evs, err := audit.New(st, nil).List(ctx, store.AuditFilter{ObjectType: audit.ObjectNotification, Limit: 10})
		must(t, err)
		for _, ev := range evs {
			shown += fmt.Sprintf("%+v\n", *ev)
		}
		list, err := st.ListNotifications(ctx, store.NotificationFilter{Limit: 10})
		must(t, err)
		for _, n := range list {
			shown += fmt.Sprintf("%+v\n", notify.NewDelivery(n))
		}
		for _, secret := range []string{"PATHSECRET", "QUERYSECRET", "DEADSECRET", "T000"} {
			if strings.Contains(shown, secret) {
				t.Errorf("%s shown:\n%s", secret, shown)
			}
		}
		if !strings.Contains(shown, "/certgate/…?token=… [sha256:") || !strings.Contains(shown, "/services/… [sha256:") {
			t.Errorf("redacted URLs not shown:\n%s", shown)
		}
	})
}
