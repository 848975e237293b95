package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/notify"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

const day = 24 * time.Hour

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// clock is the notifiers' injectable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// certRec is an imported certificate record expiring at notAfter.
func certRec(serial string, notAfter time.Time, attrs map[string]string) *store.Certificate {
	if attrs == nil {
		attrs = map[string]string{}
	}
	return &store.Certificate{Serial: serial, Issuer: "CN=Test CA", DER: []byte("der-" + serial), ChainPEM: "pem-" + serial,
		SANs: []string{serial + ".example.test"}, KeyType: "ECDSA P-256", KeyBits: 256, SignatureAlgorithm: "ECDSA-SHA256",
		FingerprintSHA256: "fp-" + serial, NotBefore: notAfter.Add(-90 * day), NotAfter: notAfter, Status: acme.StatusValid,
		CreatedAt: t0, Profile: store.DefaultProfile, Source: store.SourceImported, Attributes: attrs}
}

func rules(t *testing.T, specs ...string) []notify.Rule {
	t.Helper()
	rs, err := notify.ParseRules(specs)
	must(t, err)
	return rs
}

// env is one node's notifier over st with email to mb and webhooks
// signed with secret.
type env struct {
	n   *notify.Notifier
	log *bytes.Buffer
}

func newNode(t *testing.T, st *store.Store, clk *clock, rs []notify.Rule, chans ...notify.Channel) env {
	t.Helper()
	var buf bytes.Buffer
	m := map[string]notify.Channel{}
	for _, c := range chans {
		m[c.Name()] = c
	}
	n, err := notify.New(st, notify.Config{Rules: rs, Channels: m, Now: clk.now, RetryDelay: 10 * time.Minute, MaxAttempts: 3,
		Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug})), Audit: audit.New(st, clk.now)})
	must(t, err)
	return env{n: n, log: &buf}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func emailChannel(t *testing.T, mb *mailbox) *notify.SMTP {
	t.Helper()
	c, err := notify.NewSMTP(notify.SMTPConfig{Server: mb.addr, From: "certgate@example.test", Username: mb.user, Password: mb.pass,
		RootCAs: mb.pool, RequireTLS: mb.pool != nil, Timeout: 10 * time.Second})
	must(t, err)
	return c
}

var hookSecret = []byte("webhook-secret-0123456789abcdef")

func webhookChannel(t *testing.T, url string) *notify.Webhook {
	t.Helper()
	c, err := notify.NewWebhook(notify.WebhookConfig{URL: url, Secret: hookSecret, Timeout: 5 * time.Second})
	must(t, err)
	return c
}

func runOnce(t *testing.T, n *notify.Notifier) notify.Result {
	t.Helper()
	res, err := n.RunOnce(context.Background())
	must(t, err)
	return res
}

// certsOf lists "serial@threshold" of every certificate a mailbox's
// messages named, by their webhook-style summary lines.
func thresholdsIn(msgs []received) []string {
	var out []string
	for _, m := range msgs {
		for _, line := range strings.Split(m.Body, "\n") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), "serial:"); ok {
				out = append(out, strings.TrimSpace(s))
			}
		}
	}
	return out
}

// TestThresholdsFireOnceEach: on both engines, over a real SMTP server, a
// certificate is mailed once per threshold it crosses (30, then 14), a
// second round at the same time sends nothing, a jump past several
// thresholds (14 → 1 day left) sends one message (the 1-day one, not the
// 7-day one too), a certificate first seen 5 days before expiry gets the
// 7-day message only, and certificates crossing together for one
// recipient arrive in one message.
func TestThresholdsFireOnceEach(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		mb := startMailbox(t, false)
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("a1", t0.Add(40*day), nil), certRec("b1", t0.Add(5*day), nil), certRec("c1", t0.Add(6*day), nil)}))
		e := newNode(t, st, clk, rules(t, "name=ops to=ops@example.test days=30,14,7,1"), emailChannel(t, mb))

		if res := runOnce(t, e.n); res.Sent != 2 || res.Added != 2 {
			t.Fatalf("first round: %+v, want b1 and c1 added and sent", res)
		}
		msgs := mb.messages()
		if len(msgs) != 1 || msgs[0].To != "ops@example.test" || !strings.Contains(msgs[0].Msg.Header.Get("Subject"), "2 certificates expire") {
			t.Fatalf("first round: %d messages %+v, want one to ops@example.test naming 2 certificates", len(msgs), msgs)
		}
		if got := thresholdsIn(msgs); !slices.Equal(got, []string{"b1", "c1"}) {
			t.Errorf("first message names %v, want b1 then c1", got)
		}
		if !strings.Contains(msgs[0].Body, "threshold 7 days") || strings.Contains(msgs[0].Body, "threshold 30 days") {
			t.Errorf("certificates first seen 5 and 6 days before expiry: want the 7-day threshold only:\n%s", msgs[0].Body)
		}
		if res := runOnce(t, e.n); res.Sent != 0 || res.Added != 0 {
			t.Errorf("second round at the same time: %+v, want nothing", res)
		}

		clk.advance(11 * day) // a1: 29 days left
		runOnce(t, e.n)
		clk.advance(16 * day) // a1: 13 days left
		runOnce(t, e.n)
		runOnce(t, e.n)
		clk.advance(12*day + 12*time.Hour) // a1: 12 hours left
		runOnce(t, e.n)
		msgs = mb.messages()
		if len(msgs) != 4 {
			t.Fatalf("%d messages, want 4 (the first, then a1 at 30, 14 and 1 days)", len(msgs))
		}
		for i, want := range []string{"threshold 30 days", "threshold 14 days", "threshold 1 day)"} {
			if b := msgs[i+1].Body; !strings.Contains(b, "a1.example.test") || !strings.Contains(b, want) {
				t.Errorf("message %d: want a1 with %q:\n%s", i+2, want, b)
			}
		}
		list, err := st.ListNotifications(ctx, store.NotificationFilter{Serial: "a1", Limit: 10})
		must(t, err)
		var ths []int
		for _, n := range list {
			if n.Status != store.NotificationSent || n.Attempts != 1 {
				t.Errorf("delivery %+v: want sent after 1 attempt", n)
			}
			ths = append(ths, n.ThresholdDays)
		}
		if slices.Sort(ths); !slices.Equal(ths, []int{1, 14, 30}) {
			t.Errorf("a1's deliveries at thresholds %v, want [1 14 30]", ths)
		}
	})
}

// TestRestartDoesNotResend: on both engines, a new notifier (a restarted
// server: another node ID, the same database) sends nothing already sent.
func TestRestartDoesNotResend(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		h := startHook(t, hookSecret)
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("r1", t0.Add(3*day), nil)}))
		rs := rules(t, "name=hook channel=webhook")
		first := newNode(t, st, clk, rs, webhookChannel(t, h.url))
		if res := runOnce(t, first.n); res.Sent != 1 {
			t.Fatalf("first start: %+v, want 1 sent", res)
		}
		clk.advance(time.Hour)
		second := newNode(t, st, clk, rs, webhookChannel(t, h.url))
		if res := runOnce(t, second.n); res.Sent != 0 || res.Added != 0 {
			t.Errorf("after the restart: %+v, want nothing", res)
		}
		docs, bad := h.received()
		if len(docs) != 1 || bad != 0 {
			t.Fatalf("webhook received %d verified documents and %d badly signed, want 1 and 0", len(docs), bad)
		}
		d := docs[0]
		if d.Type != notify.TypeExpiry || d.Recipient != h.url || len(d.Certificates) != 1 || d.Certificates[0].Serial != "r1" ||
			d.Certificates[0].ThresholdDays != 7 || d.Certificates[0].DaysLeft != 3 || d.Certificates[0].Rule != "hook" {
			t.Errorf("webhook document %+v: want r1, threshold 7, 3 days left, rule hook", d)
		}
	})
}

// TestTwoNodesSendOnce: two nodes (two connection pools) on one
// PostgreSQL database run their rounds at the same moment, several
// times: every certificate is reported exactly once in all.
func TestTwoNodesSendOnce(t *testing.T) {
	storetest.RequirePostgres(t)
	dsn := storetest.PostgresDSN(t)
	stA, stB := storetest.OpenDSN(t, dsn), storetest.OpenDSN(t, dsn)
	ctx := context.Background()
	var certs []*store.Certificate
	for i := range 40 {
		certs = append(certs, certRec(fmt.Sprintf("n%02d", i), t0.Add(time.Duration(1+i%20)*day), map[string]string{"owner": fmt.Sprintf("o%d@example.test", i%5)}))
	}
	must(t, stA.InsertCertificates(ctx, certs))
	clk := &clock{t: t0}
	h := startHook(t, hookSecret)
	mb := startMailbox(t, false)
	rs := rules(t, "name=owners to=attribute:owner", "name=hook channel=webhook days=30")
	nodes := []env{newNode(t, stA, clk, rs, emailChannel(t, mb), webhookChannel(t, h.url)),
		newNode(t, stB, clk, rs, emailChannel(t, mb), webhookChannel(t, h.url))}
	for range 3 {
		var wg sync.WaitGroup
		for _, e := range nodes {
			wg.Go(func() {
				if _, err := e.n.RunOnce(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	seen := map[string]int{}
	for _, m := range mb.messages() {
		for _, s := range thresholdsIn([]received{m}) {
			seen["email "+s]++
		}
	}
	docs, _ := h.received()
	for _, d := range docs {
		for _, c := range d.Certificates {
			seen["webhook "+c.Serial]++
		}
	}
	if len(seen) != 80 {
		t.Errorf("%d certificates reported, want 40 by email and 40 by webhook", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s reported %d times", k, n)
		}
	}
}

// TestFailureRetriedThenSent: on both engines, a webhook answering 503
// fails the delivery, which stays pending (attempts 1, the error
// recorded), is not tried again before its back-off, fails again, and is
// sent at the third attempt; each failure and the send are audit events.
// A delivery that fails every attempt (MaxAttempts 3) ends failed.
func TestFailureRetriedThenSent(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		h := startHook(t, hookSecret)
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("f1", t0.Add(10*day), nil)}))
		e := newNode(t, st, clk, rules(t, "name=hook channel=webhook"), webhookChannel(t, h.url))
		h.failNext(2)
		if res := runOnce(t, e.n); res.Failed != 1 || res.Sent != 0 {
			t.Fatalf("first attempt: %+v, want 1 failed", res)
		}
		d := onlyDelivery(t, st)
		if d.Status != store.NotificationPending || d.Attempts != 1 || !strings.Contains(d.LastError, "HTTP 503") || !d.NextAttemptAt.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("after a failure: %+v, want pending, 1 attempt, HTTP 503, next in 10 minutes", d)
		}
		clk.advance(9 * time.Minute)
		if res := runOnce(t, e.n); res.Failed+res.Sent != 0 {
			t.Errorf("before the back-off: %+v, want no attempt", res)
		}
		clk.advance(time.Minute)
		if res := runOnce(t, e.n); res.Failed != 1 {
			t.Fatalf("second attempt: %+v, want 1 failed", res)
		}
		if d := onlyDelivery(t, st); !d.NextAttemptAt.Equal(clk.now().Add(20 * time.Minute)) {
			t.Errorf("second back-off until %v, want doubled to 20 minutes", d.NextAttemptAt)
		}
		clk.advance(20 * time.Minute)
		if res := runOnce(t, e.n); res.Sent != 1 {
			t.Fatalf("third attempt: %+v, want sent", res)
		}
		if d := onlyDelivery(t, st); d.Status != store.NotificationSent || d.Attempts != 3 || !d.SentAt.Equal(clk.now()) {
			t.Errorf("after the third attempt: %+v, want sent after 3 attempts", d)
		}
		var actions []string
		evs, err := audit.New(st, nil).List(ctx, store.AuditFilter{ObjectType: audit.ObjectNotification, Limit: 10})
		must(t, err)
		for _, ev := range evs {
			actions = append(actions, ev.Action)
		}
		if want := []string{audit.ActionNotificationFail, audit.ActionNotificationFail, audit.ActionNotificationSend}; !slices.Equal(actions, want) {
			t.Errorf("audit events %v, want %v", actions, want)
		}

		// Given up: every attempt fails.
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("f2", clk.now().Add(10*day), nil)}))
		h.failNext(100)
		for range 3 {
			runOnce(t, e.n)
			clk.advance(time.Hour)
		}
		list, err := st.ListNotifications(ctx, store.NotificationFilter{Serial: "f2", Limit: 5})
		must(t, err)
		if len(list) != 1 || list[0].Status != store.NotificationFailed || list[0].Attempts != 3 {
			t.Fatalf("f2's delivery %+v: want failed after 3 attempts", list)
		}
		if res := runOnce(t, e.n); res.Failed != 0 {
			t.Errorf("a given-up delivery was tried again: %+v", res)
		}
	})
}

func onlyDelivery(t *testing.T, st *store.Store) *store.Notification {
	t.Helper()
	list, err := st.ListNotifications(context.Background(), store.NotificationFilter{Limit: 10})
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("%d deliveries, want 1", len(list))
	}
	return list[0]
}

// TestRevokedAndRenewedNotAlerted: on both engines, of certificates
// expiring in 5 days only the one neither revoked nor renewed (its RFC
// 9773 replacement issued) is reported; one renewed but whose
// replacement was revoked still is; a delivery recorded before its
// certificate was revoked is skipped, not sent.
func TestRevokedAndRenewedNotAlerted(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		mb := startMailbox(t, false)
		var certs []*store.Certificate
		for _, s := range []string{"plain", "revoked", "renewed", "renewedrevoked", "late"} {
			certs = append(certs, certRec(s, t0.Add(5*day), nil))
		}
		must(t, st.InsertCertificates(ctx, certs))
		must(t, st.RevokeCertificate(ctx, "revoked", 4, t0))
		acct := &store.Account{ID: "acct1", KeyThumbprint: "tp1", JWK: []byte(`{"kty":"EC"}`), Status: acme.StatusValid, CreatedAt: t0}
		must(t, st.CreateAccount(ctx, acct))
		renew := func(serial string) {
			az := &store.Authorization{ID: "az-" + serial, AccountID: acct.ID, Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: serial + ".example.test"},
				Status: acme.StatusPending, Expires: t0.Add(time.Hour), CreatedAt: t0}
			o := &store.Order{ID: "o-" + serial, AccountID: acct.ID, Status: acme.StatusPending, Expires: t0.Add(time.Hour), CreatedAt: t0, UpdatedAt: t0,
				Identifiers: []acme.Identifier{az.Identifier}, AuthzIDs: []string{az.ID}, Replaces: "AKI." + serial}
			must(t, st.CreateReplacementOrder(ctx, o, []*store.Authorization{az}, serial, ""))
			must(t, st.SetOrderStatus(ctx, o.ID, acme.StatusPending, acme.StatusProcessing, nil, t0))
			must(t, st.ReserveSerial(ctx, "new"+serial, t0))
			c := certRec("new"+serial, t0.Add(90*day), nil)
			c.Source, c.OrderID, c.AccountID = store.SourceIssued, o.ID, acct.ID
			must(t, st.FinishOrder(ctx, o.ID, c, t0))
		}
		renew("renewed")
		renew("renewedrevoked")
		must(t, st.RevokeCertificate(ctx, "newrenewedrevoked", 4, t0))

		e := newNode(t, st, clk, rules(t, "to=ops@example.test"), emailChannel(t, mb))
		if _, err := e.n.Scan(ctx); err != nil {
			t.Fatal(err)
		}
		must(t, st.RevokeCertificate(ctx, "late", 5, t0)) // after the scan, before the send
		res, err := e.n.Deliver(ctx)
		must(t, err)
		if res.Sent != 2 || res.Skipped != 1 {
			t.Errorf("deliver: %+v, want 2 sent and late skipped", res)
		}
		msgs := mb.messages()
		if got := thresholdsIn(msgs); len(msgs) != 1 || !slices.Equal(got, []string{"plain", "renewedrevoked"}) {
			t.Errorf("reported %v in %d messages, want [plain renewedrevoked] in one", got, len(msgs))
		}
		list, err := st.ListNotifications(ctx, store.NotificationFilter{Serial: "late", Limit: 5})
		must(t, err)
		if len(list) != 1 || list[0].Status != store.NotificationSkipped {
			t.Errorf("late's delivery %+v, want skipped", list)
		}
	})
}

// TestRecipientFromAttribute: on both engines, a rule sending to the
// certificate's "owner" attribute mails each owner their certificates,
// and the fallback address those without a usable owner; a rule's
// profile and attribute filters select only matching certificates.
func TestRecipientFromAttribute(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		mb := startMailbox(t, false)
		web := certRec("web1", t0.Add(3*day), map[string]string{"owner": "carol@example.test", "team": "payments"})
		web.Profile = "web"
		must(t, st.InsertCertificates(ctx, []*store.Certificate{
			certRec("al1", t0.Add(3*day), map[string]string{"owner": "alice@example.test"}),
			certRec("al2", t0.Add(4*day), map[string]string{"owner": "alice@example.test"}),
			certRec("bo1", t0.Add(3*day), map[string]string{"owner": "bob@example.test"}),
			certRec("none", t0.Add(3*day), nil),
			certRec("junk", t0.Add(3*day), map[string]string{"owner": "not an address"}),
			web,
		}))
		e := newNode(t, st, clk, rules(t, "name=owners to=attribute:owner fallback=pki@example.test days=7",
			"name=payments to=payments@example.test profile=web attribute=team=payments days=7"), emailChannel(t, mb))
		runOnce(t, e.n)
		got := map[string][]string{}
		for _, m := range mb.messages() {
			got[m.To] = append(got[m.To], thresholdsIn([]received{m})...)
		}
		want := map[string][]string{"alice@example.test": {"al1", "al2"}, "bob@example.test": {"bo1"}, "carol@example.test": {"web1"},
			"pki@example.test": {"junk", "none"}, "payments@example.test": {"web1"}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("messages by recipient %v, want %v", got, want)
		}
	})
}

// TestSTARTTLSAuthAndSecretsNotLogged: on SQLite, mail goes over
// STARTTLS with AUTH PLAIN to a real SMTP server that requires both; a
// webhook signed with another secret is refused (401) and recorded as a
// failure; neither the SMTP password, the webhook secret nor the password
// of the webhook URL appears in the log, in the deliveries' errors or in
// the audit log.
func TestSTARTTLSAuthAndSecretsNotLogged(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	ctx := context.Background()
	clk := &clock{t: t0}
	mb := startMailbox(t, true)
	h := startHook(t, []byte("the-receiver-expects-another-secret"))
	must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("s1", t0.Add(2*day), nil)}))
	withPassword := strings.Replace(h.url, "http://", "http://hookuser:url-password-42@", 1)
	e := newNode(t, st, clk, rules(t, "name=mail to=ops@example.test", "name=hook channel=webhook"), emailChannel(t, mb), webhookChannel(t, withPassword))
	res := runOnce(t, e.n)
	if res.Sent != 1 || res.Failed != 1 {
		t.Fatalf("round: %+v, want the email sent and the webhook failed", res)
	}
	msgs := mb.messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].AuthUser != "notifier" {
		t.Fatalf("messages %+v: want one, over STARTTLS, authenticated as notifier", msgs)
	}
	if _, bad := h.received(); bad != 1 {
		t.Errorf("the receiver saw %d badly signed requests, want 1", bad)
	}
	list, err := st.ListNotifications(ctx, store.NotificationFilter{Limit: 5})
	must(t, err)
	var texts []string
	for _, n := range list {
		texts = append(texts, n.LastError)
	}
	evs, err := audit.New(st, nil).List(ctx, store.AuditFilter{Limit: 10})
	must(t, err)
	for _, ev := range evs {
		texts = append(texts, ev.After)
	}
	texts = append(texts, e.log.String())
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "HTTP 401") {
		t.Errorf("the webhook failure is not recorded:\n%s", all)
	}
	for _, secret := range []string{mb.pass, string(hookSecret), "url-password-42"} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q appears in the log, deliveries or audit:\n%s", secret, all)
		}
	}
}

// TestRequireTLSRefusesPlainServer: with RequireTLS, a server that does
// not offer STARTTLS gets no message; the test message fails with one
// line saying why.
func TestRequireTLSRefusesPlainServer(t *testing.T) {
	mb := startMailbox(t, false)
	c, err := notify.NewSMTP(notify.SMTPConfig{Server: mb.addr, From: "certgate@example.test", RequireTLS: true, Timeout: 5 * time.Second})
	must(t, err)
	err = notify.Test(context.Background(), c, "ops@example.test", t0)
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Test = %v, want one line saying the server does not offer STARTTLS", err)
	}
	if len(mb.messages()) != 0 {
		t.Error("a message was delivered without TLS")
	}
}

// TestUsernameWithoutServerAUTH: with notify-smtp-username set, a server
// that offers no AUTH gets no message; the test message fails with one
// line that says what to change.
func TestUsernameWithoutServerAUTH(t *testing.T) {
	mb := startMailbox(t, false) // no STARTTLS, so no AUTH either
	c, err := notify.NewSMTP(notify.SMTPConfig{Server: mb.addr, From: "certgate@example.test", Username: "notifier", Password: "pw",
		Timeout: 5 * time.Second})
	must(t, err)
	err = notify.Test(context.Background(), c, "ops@example.test", t0)
	if err == nil || !strings.Contains(err.Error(), "does not offer AUTH") || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "leave notify-smtp-username empty") {
		t.Errorf("Test = %v, want one line saying the server offers no AUTH and what to change", err)
	}
	if len(mb.messages()) != 0 {
		t.Error("a message was delivered without the configured authentication")
	}
}

// TestSMTPTemporaryFailureRetried: on SQLite, a real SMTP server's 451 at
// DATA fails the attempt (recorded with the server's reply) and the next
// attempt, after the back-off, delivers the message.
func TestSMTPTemporaryFailureRetried(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	clk := &clock{t: t0}
	mb := startMailbox(t, false)
	must(t, st.InsertCertificates(context.Background(), []*store.Certificate{certRec("t1", t0.Add(2*day), nil)}))
	e := newNode(t, st, clk, rules(t, "to=ops@example.test"), emailChannel(t, mb))
	mb.failNext(1)
	if res := runOnce(t, e.n); res.Failed != 1 {
		t.Fatalf("first round: %+v, want a failed attempt", res)
	}
	if d := onlyDelivery(t, st); d.Status != store.NotificationPending || !strings.Contains(d.LastError, "451") {
		t.Fatalf("after the 451: %+v, want pending with the server's reply", d)
	}
	clk.advance(10 * time.Minute)
	if res := runOnce(t, e.n); res.Sent != 1 || len(mb.messages()) != 1 {
		t.Fatalf("second round: %+v, %d messages, want the message delivered", res, len(mb.messages()))
	}
}

// TestAttributeRecipientsAllowed: a recipient taken from a certificate
// attribute (which an ACME client may set in its newOrder) is used only
// when the rule's allow= admits it. A webhook rule on an attribute is
// refused without allow=; URLs outside the allowed prefix (another host or
// port, a path beside it, dot segments, a user part) go to the fallback,
// and nothing is POSTed to them. An email rule's allow= admits only its
// domains.
func TestAttributeRecipientsAllowed(t *testing.T) {
	for _, spec := range []string{
		"channel=webhook to=attribute:hook",
		"channel=webhook to=attribute:hook allow=https://u:p@hooks.example.test/",
		"channel=webhook to=attribute:hook allow=https://hooks.example.test/a/../b",
		"channel=email to=attribute:owner allow=a@example.test",
		"channel=email to=attribute:owner allow=*.example.test",
		"channel=email to=ops@example.test allow=example.test",
	} {
		if _, err := notify.ParseRule(spec, 0); err == nil || !strings.Contains(err.Error(), "allow") {
			t.Errorf("ParseRule(%q) = %v, want an error naming allow", spec, err)
		}
	}

	st := storetest.Engines()[0].Open(t)
	ctx := context.Background()
	clk := &clock{t: t0}
	h := startHook(t, hookSecret)
	var probed sync.Map // requests reaching the server that no rule allows
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probed.Store(r.URL.String(), true)
	}))
	t.Cleanup(other.Close)
	hookURL, _ := url.Parse(h.url) // http://127.0.0.1:PORT/certgate
	base := "http://" + hookURL.Host
	must(t, st.InsertCertificates(ctx, []*store.Certificate{
		certRec("ok", t0.Add(3*day), map[string]string{"hook": base + "/certgate/team-a", "owner": "a@example.test"}),
		certRec("host", t0.Add(3*day), map[string]string{"hook": other.URL + "/certgate/x", "owner": "b@evil.test"}),
		certRec("beside", t0.Add(3*day), map[string]string{"hook": base + "/certgate-admin"}),
		certRec("dots", t0.Add(3*day), map[string]string{"hook": base + "/certgate/%2e%2e/admin"}),
		certRec("semi", t0.Add(3*day), map[string]string{"hook": base + "/certgate/..;/admin"}),
		certRec("bslash", t0.Add(3*day), map[string]string{"hook": base + "/certgate/..%5cadmin"}),
		certRec("user", t0.Add(3*day), map[string]string{"hook": "http://" + hookURL.Host + "@" + strings.TrimPrefix(other.URL, "http://") + "/certgate/"}),
	}))
	mb := startMailbox(t, false)
	e := newNode(t, st, clk, rules(t,
		"name=hooks channel=webhook to=attribute:hook allow="+base+"/certgate/ fallback="+h.url+"/fallback days=7",
		"name=owners to=attribute:owner allow=EXAMPLE.test days=7"),
		webhookChannel(t, ""), emailChannel(t, mb))
	runOnce(t, e.n)
	docs, _ := h.received()
	if len(docs) != 2 {
		t.Fatalf("%d webhook documents, want 2 (team-a and the fallback)", len(docs))
	}
	var got []string
	for _, d := range docs {
		for _, c := range d.Certificates {
			got = append(got, c.Serial)
		}
	}
	slices.Sort(got)
	if want := []string{"beside", "bslash", "dots", "host", "ok", "semi", "user"}; !slices.Equal(got, want) {
		t.Errorf("certificates reported %v, want %v", got, want)
	}
	probed.Range(func(k, _ any) bool {
		t.Errorf("a request reached a URL no rule allows: %v", k)
		return true
	})
	var to []string
	for _, m := range mb.messages() {
		to = append(to, m.To)
	}
	if !slices.Equal(to, []string{"a@example.test"}) {
		t.Errorf("mail to %v, want only a@example.test (b@evil.test is not in allow=)", to)
	}
}

// TestNarrowedAllowSkipsPendingDelivery: a delivery to an attribute's URL,
// recorded and pending a retry, is skipped (not sent) once the rule's
// allow= no longer admits that URL: an operator tightening the rule stops
// the deliveries already recorded.
func TestNarrowedAllowSkipsPendingDelivery(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	ctx := context.Background()
	clk := &clock{t: t0}
	h := startHook(t, hookSecret)
	hookURL, _ := url.Parse(h.url)
	base := "http://" + hookURL.Host
	must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("p1", t0.Add(3*day), map[string]string{"hook": base + "/certgate/old"})}))
	wide := newNode(t, st, clk, rules(t, "name=hooks channel=webhook to=attribute:hook allow="+base+"/ days=7"), webhookChannel(t, ""))
	h.failNext(1)
	if res := runOnce(t, wide.n); res.Failed != 1 {
		t.Fatalf("first attempt: %+v, want 1 failed", res)
	}
	narrow := newNode(t, st, clk, rules(t, "name=hooks channel=webhook to=attribute:hook allow="+base+"/certgate/new/ days=7"), webhookChannel(t, ""))
	clk.advance(time.Hour)
	if res := runOnce(t, narrow.n); res.Sent != 0 || res.Skipped != 1 {
		t.Errorf("after narrowing allow=: %+v, want 1 skipped, none sent", res)
	}
	if d := onlyDelivery(t, st); d.Status != store.NotificationSkipped || !strings.Contains(d.LastError, "allow=") {
		t.Errorf("delivery %+v, want skipped naming allow=", d)
	}
	if docs, _ := h.received(); len(docs) != 0 {
		t.Errorf("%d documents reached the URL no longer allowed", len(docs))
	}
}

// TestSupersededDiscoveredNotAlerted: on both engines, a discovered
// certificate whose endpoint now serves a newer certificate for its names
// counts as renewed: it is not reported, and a delivery recorded before a
// scan saw its successor is skipped, not sent; one whose endpoint still
// serves it is reported.
func TestSupersededDiscoveredNotAlerted(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		mb := startMailbox(t, false)
		discovered := func(serial, names string, notAfter time.Time) *store.Certificate {
			c := certRec(serial, notAfter, nil)
			c.Source, c.SANs = store.SourceDiscovered, []string{names + ".example.test"}
			return c
		}
		must(t, st.InsertCertificates(ctx, []*store.Certificate{
			discovered("old", "www", t0.Add(5*day)), discovered("new", "www", t0.Add(90*day)),
			discovered("late", "api", t0.Add(5*day)), discovered("latenew", "api", t0.Add(90*day)),
			discovered("kept", "mail", t0.Add(5*day)),
		}))
		scans := 0
		serve := func(served map[string]string) {
			t.Helper()
			scans++
			at := t0.Add(time.Duration(scans) * time.Second)
			sc := &store.Scan{ID: store.NewID(at), Status: store.ScanRunning, StartedAt: at}
			must(t, st.CreateScan(ctx, sc))
			var fs []*store.Finding
			for host, serial := range served {
				fs = append(fs, &store.Finding{ScanID: sc.ID, Address: host, Port: 443, Fingerprint: "fp-" + serial, SeenAt: at})
			}
			sc.Status, sc.FinishedAt = store.ScanCompleted, at
			must(t, st.FinishScan(ctx, sc, fs))
		}
		serve(map[string]string{"www": "old", "api": "late", "mail": "kept"})
		serve(map[string]string{"www": "new"})

		e := newNode(t, st, clk, rules(t, "to=ops@example.test source=discovered"), emailChannel(t, mb))
		if _, err := e.n.Scan(ctx); err != nil {
			t.Fatal(err)
		}
		serve(map[string]string{"api": "latenew"}) // after the scan, before the send
		res, err := e.n.Deliver(ctx)
		must(t, err)
		if res.Sent != 1 || res.Skipped != 1 {
			t.Errorf("deliver: %+v, want kept sent and late skipped", res)
		}
		if got := thresholdsIn(mb.messages()); !slices.Equal(got, []string{"kept"}) {
			t.Errorf("reported %v, want [kept]", got)
		}
		list, err := st.ListNotifications(ctx, store.NotificationFilter{Serial: "late", Limit: 5})
		must(t, err)
		if len(list) != 1 || list[0].Status != store.NotificationSkipped {
			t.Errorf("late's delivery %+v, want skipped", list)
		}
		list, err = st.ListNotifications(ctx, store.NotificationFilter{Serial: "old", Limit: 5})
		must(t, err)
		if len(list) != 0 {
			t.Errorf("old (superseded) got deliveries %+v", list)
		}

		// The endpoint rolls back to late: it counts again, and its skipped
		// delivery is recorded again and sent (it was taken as already
		// reported, so nothing came until the next threshold).
		serve(map[string]string{"api": "late"})
		clk.advance(time.Hour)
		if res := runOnce(t, e.n); res.Added != 1 || res.Sent != 1 {
			t.Errorf("after the rollback: %+v, want late recorded again and sent", res)
		}
		if got := thresholdsIn(mb.messages()); !slices.Equal(got, []string{"kept", "late"}) {
			t.Errorf("reported %v, want [kept late]", got)
		}
		list, err = st.ListNotifications(ctx, store.NotificationFilter{Serial: "late", Limit: 5})
		must(t, err)
		if len(list) != 1 || list[0].Status != store.NotificationSent {
			t.Errorf("late's delivery after the rollback %+v, want one, sent", list)
		}
	})
}

// TestTwoRulesOneRecipientListOnce: on both engines, two rules to one
// recipient whose thresholds a certificate crosses at once (30 and 7 days,
// 5 days left) list it once, with the smaller threshold, whichever rule
// comes first; before, the 30-day rule listed first made the message name
// it twice.
func TestTwoRulesOneRecipientListOnce(t *testing.T) {
	for _, spec := range []string{"name=monthly to=ops@example.test days=30;name=weekly to=ops@example.test days=7",
		"name=weekly to=ops@example.test days=7;name=monthly to=ops@example.test days=30"} {
		storetest.EachStore(t, func(t *testing.T, st *store.Store) {
			ctx := context.Background()
			clk := &clock{t: t0}
			mb := startMailbox(t, false)
			must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("a1", t0.Add(5*day), nil)}))
			e := newNode(t, st, clk, rules(t, strings.Split(spec, ";")...), emailChannel(t, mb))
			runOnce(t, e.n)
			msgs := mb.messages()
			if len(msgs) != 1 || strings.Count(msgs[0].Body, "serial:     a1") != 1 || !strings.Contains(msgs[0].Body, "threshold 7 days") {
				t.Fatalf("rules %s: %d messages, want one listing a1 once at 7 days: %+v", spec, len(msgs), msgs)
			}
		})
	}
}

// TestRemovedRuleSkipsPendingDelivery: on both engines, a delivery
// recorded for a rule that the configuration no longer has is skipped,
// naming the rule, not sent to its recipient nor retried; one recorded for
// a rule whose recipient changed since is skipped too, and the new
// recipient gets the certificate.
func TestRemovedRuleSkipsPendingDelivery(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		mb := startMailbox(t, false)
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("p1", t0.Add(3*day), nil)}))
		old := newNode(t, st, clk, rules(t, "name=ops to=ops@example.test days=7", "name=team to=team@example.test days=7"),
			emailChannel(t, mb))
		if _, err := old.n.Scan(ctx); err != nil {
			t.Fatal(err)
		}
		// ops removed, team's address changed.
		now := newNode(t, st, clk, rules(t, "name=team to=newteam@example.test days=7"), emailChannel(t, mb))
		res := runOnce(t, now.n)
		if res.Sent != 1 || res.Skipped != 2 || res.Failed != 0 {
			t.Errorf("after the configuration changed: %+v, want 1 sent, 2 skipped", res)
		}
		var to []string
		for _, m := range mb.messages() {
			to = append(to, m.To)
		}
		if !slices.Equal(to, []string{"newteam@example.test"}) {
			t.Errorf("messages to %v, want newteam@example.test only", to)
		}
		list, err := st.ListNotifications(ctx, store.NotificationFilter{Limit: 10})
		must(t, err)
		for _, d := range list {
			switch d.Recipient {
			case "ops@example.test":
				if d.Status != store.NotificationSkipped || !strings.Contains(d.LastError, "rule ops") {
					t.Errorf("removed rule's delivery: %s %q, want skipped naming rule ops", d.Status, d.LastError)
				}
			case "team@example.test":
				if d.Status != store.NotificationSkipped || !strings.Contains(d.LastError, "rule team") {
					t.Errorf("changed recipient's delivery: %s %q, want skipped naming rule team", d.Status, d.LastError)
				}
			case "newteam@example.test":
				if d.Status != store.NotificationSent {
					t.Errorf("new recipient's delivery: %s, want sent", d.Status)
				}
			default:
				t.Errorf("unexpected delivery to %s", d.Recipient)
			}
		}
		clk.advance(day)
		if res := runOnce(t, now.n); res.Sent+res.Skipped+res.Failed != 0 {
			t.Errorf("a later round: %+v, want nothing", res)
		}
	})
}

// TestRenamedRuleKeepsPendingDelivery: on both engines, a delivery
// recorded by a rule that has since been renamed (here: unnamed rules,
// named rule-N by position, shifted by a rule added before them) is sent
// under the rule that now owes the same message (same channel,
// recipient, threshold and a filter that selects the certificate), and
// the delivery records that rule; one that no rule of the new
// configuration owes (the only rule to its recipient filters on another
// profile) is skipped. Without the take-over the skipped row would keep
// its key and the message would never be recorded again.
func TestRenamedRuleKeepsPendingDelivery(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		mb := startMailbox(t, false)
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("p1", t0.Add(3*day), nil)}))
		before := newNode(t, st, clk, rules(t, "to=a@example.test days=7", "to=b@example.test days=7"), emailChannel(t, mb))
		if k, err := before.n.Scan(ctx); err != nil || k != 2 {
			t.Fatalf("scan: %d, %v; want 2 deliveries recorded", k, err)
		}
		after := newNode(t, st, clk, rules(t, "to=c@example.test days=7", "to=a@example.test days=7 profile=other",
			"to=b@example.test days=7"), emailChannel(t, mb))
		res := runOnce(t, after.n)
		if res.Sent != 2 || res.Skipped != 1 || res.Failed != 0 {
			t.Errorf("after a rule was added first: %+v, want 2 sent (b and the new c), 1 skipped (a)", res)
		}
		var to []string
		for _, m := range mb.messages() {
			to = append(to, m.To)
		}
		slices.Sort(to)
		if !slices.Equal(to, []string{"b@example.test", "c@example.test"}) {
			t.Errorf("messages to %v, want b@example.test and c@example.test", to)
		}
		list, err := st.ListNotifications(ctx, store.NotificationFilter{Limit: 10})
		must(t, err)
		if len(list) != 3 {
			t.Fatalf("%d deliveries, want 3: %+v", len(list), list)
		}
		for _, d := range list {
			want := map[string]struct{ status, rule string }{
				"a@example.test": {store.NotificationSkipped, "rule-1"}, // recorded by rule-1, no rule owes it now
				"b@example.test": {store.NotificationSent, "rule-3"},    // recorded by rule-2, taken over by rule-3
				"c@example.test": {store.NotificationSent, "rule-1"},
			}[d.Recipient]
			if d.Status != want.status || d.Rule != want.rule {
				t.Errorf("delivery to %s: %s under %s, want %s under %s", d.Recipient, d.Status, d.Rule, want.status, want.rule)
			}
		}
		if !strings.Contains(after.log.String(), "notification taken over by another rule") {
			t.Errorf("the take-over was not logged:\n%s", after.log.String())
		}
	})
}

// TestListenerCertsOnlyBySource: on both engines, the server's own
// listener certificates (source listener, renewed by the server itself)
// are left out of a rule without source=, and reported by a rule with
// source=listener.
func TestListenerCertsOnlyBySource(t *testing.T) {
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		mb := startMailbox(t, false)
		lst := certRec("11", t0.Add(5*day), nil)
		lst.Source, lst.Profile = store.SourceListener, store.ListenerProfile
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("22", t0.Add(5*day), nil), lst}))
		all := newNode(t, st, clk, rules(t, "name=all to=ops@example.test"), emailChannel(t, mb))
		runOnce(t, all.n)
		if got := thresholdsIn(mb.messages()); !slices.Equal(got, []string{"22"}) {
			t.Fatalf("a rule without source= reported %v, want [22] (not the listener certificate)", got)
		}
		own := newNode(t, st, clk, rules(t, "name=own to=own@example.test source=listener"), emailChannel(t, mb))
		runOnce(t, own.n)
		if got := thresholdsIn(mb.messages()); !slices.Equal(got, []string{"22", "11"}) {
			t.Fatalf("after a rule with source=listener: reported %v, want [22 11]", got)
		}
	})
}

// TestRuleQuotedValues: a rule's value holding spaces is written in
// double quotes, so that issuer= can name a real issuer DN (it was split
// at its spaces: "unknown field"); the rule then selects that issuer's
// certificates and no other's. An unclosed quote is refused saying how to
// quote; other characters keep their meaning.
func TestRuleQuotedValues(t *testing.T) {
	r, err := notify.ParseRule("to=ops@example.test  issuer=\"CN=R11,O=Let's Encrypt,C=US\"\t\"attribute=team=Platform Security\"", 0)
	if err != nil || r.Issuer != "CN=R11,O=Let's Encrypt,C=US" || r.Attributes["team"] != "Platform Security" {
		t.Errorf("quoted values: %+v, %v", r, err)
	}
	if _, err := notify.ParseRule(`to=ops@example.test issuer="CN=Test CA`, 0); err == nil || !strings.Contains(err.Error(), "double quote is not closed") {
		t.Errorf("unclosed quote: %v, want an error saying how to quote", err)
	}
	// Rules written before quoting keep their meaning: an apostrophe, a
	// backslash and '#' are plain characters (a shell's splitter refused
	// the first, dropped the second and cut the rule at the third).
	r, err = notify.ParseRule(`to=o'brien@example.test issuer=CN=Acme\,Inc attribute=note=#1`, 0)
	if err != nil || r.To != "o'brien@example.test" || r.Issuer != `CN=Acme\,Inc` || r.Attributes["note"] != "#1" {
		t.Errorf("plain characters: %+v, %v", r, err)
	}
	storetest.EachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clk := &clock{t: t0}
		mb := startMailbox(t, false)
		other := certRec("b1", t0.Add(5*day), nil)
		other.Issuer = "CN=Other CA"
		must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("a1", t0.Add(5*day), nil), other}))
		e := newNode(t, st, clk, rules(t, `to=ops@example.test issuer="CN=Test CA"`), emailChannel(t, mb))
		runOnce(t, e.n)
		if got := thresholdsIn(mb.messages()); !slices.Equal(got, []string{"a1"}) {
			t.Errorf("issuer=\"CN=Test CA\" reported %v, want [a1]", got)
		}
	})
}

// scanCountingStore counts the scans a Notifier runs (its scan lease
// takes).
type scanCountingStore struct {
	*store.Store
	mu    sync.Mutex
	scans int
}

func (s *scanCountingStore) TakeJobLease(ctx context.Context, name, node string, now, until time.Time) (bool, error) {
	s.mu.Lock()
	s.scans++
	s.mu.Unlock()
	return s.Store.TakeJobLease(ctx, name, node, now, until)
}

// TestRunScansEveryInterval: Run scans once per interval, not once per
// two: its ticks come an interval after the previous ones, and a scan that
// started a moment after its tick found less than an interval passed at
// the next tick and waited for the one after (a 1-minute interval scanned
// every 2 minutes). Over 3.1 s at an interval of 300 ms it scans about 11
// times (the first at once); before, 6.
func TestRunScansEveryInterval(t *testing.T) {
	st := &scanCountingStore{Store: storetest.OpenSQLite(t)}
	n, err := notify.New(st, notify.Config{Rules: rules(t, "to=ops@example.test"), Interval: 300 * time.Millisecond,
		Channels: map[string]notify.Channel{"email": emailChannel(t, startMailbox(t, false))}, Log: slog.New(slog.DiscardHandler)})
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3100*time.Millisecond)
	defer cancel()
	n.Run(ctx)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.scans < 8 {
		t.Errorf("%d scans in 3.1 s at an interval of 300 ms, want about 11 (at least 8)", st.scans)
	}
}

// TestPollSlackDoesNotSkipBackoff: the slack of Run's polls (deliveries
// due a moment after a poll are sent at it) does not shorten a retry's
// backoff: a delivery failing in a poll whose slack exceeds its backoff is
// tried once in that poll, not again at once until MaxAttempts (a
// retry delay under the slack sent every attempt within milliseconds and
// gave up).
func TestPollSlackDoesNotSkipBackoff(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := context.Background()
	clk := &clock{t: t0}
	h := startHook(t, hookSecret)
	h.failNext(10)
	must(t, st.InsertCertificates(ctx, []*store.Certificate{certRec("s1", t0.Add(5*day), nil)}))
	e := newNode(t, st, clk, rules(t, "name=hook channel=webhook to="+h.url), webhookChannel(t, h.url))
	if _, err := e.n.Scan(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := e.n.DeliverEarly(ctx, 24*time.Hour) // a slack beyond the 10-minute backoff
	must(t, err)
	list, err := st.ListNotifications(ctx, store.NotificationFilter{Serial: "s1", Limit: 5})
	must(t, err)
	if res.Failed != 1 || len(list) != 1 || list[0].Attempts != 1 || list[0].Status != store.NotificationPending {
		t.Errorf("one poll: %+v, deliveries %+v; want one failed attempt, the delivery pending for its retry", res, list)
	}
}
