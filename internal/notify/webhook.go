package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Webhook headers.
const (
	// SignatureHeader carries "sha256=" and the lower-case hex
	// HMAC-SHA256 of the request body under the webhook secret.
	SignatureHeader = "X-Certgate-Signature"
	// EventHeader carries the Message's Type.
	EventHeader = "X-Certgate-Event"
)

// Sign returns the SignatureHeader value of body under secret:
// "sha256=" + hex(HMAC-SHA256(secret, body)).
func Sign(secret, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write(body)
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

// VerifySignature reports whether sig is Sign(secret, body), compared in
// constant time: what a receiver checks before it trusts a delivery.
func VerifySignature(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(sig))
}

// MinSecretBytes is the shortest webhook secret accepted.
const MinSecretBytes = 16

// WebhookConfig configures the webhook channel.
type WebhookConfig struct {
	// URL receives the messages of rules that name no URL of their own.
	URL string
	// Secret keys the HMAC-SHA256 signature of every body; at least
	// MinSecretBytes.
	Secret []byte
	// Timeout bounds one POST, from connecting to the end of the answer
	// (0: 10 s).
	Timeout time.Duration
	// Client sends the requests (nil: a client of its own). Redirects are
	// not followed either way: a signed body is not re-sent elsewhere.
	Client *http.Client
}

// Webhook is the webhook channel: an HTTP POST of the Message as JSON,
// signed with SignatureHeader; any answer but 2xx is a failure.
type Webhook struct{ cfg WebhookConfig }

// NewWebhook returns the webhook channel of cfg; errors name a malformed
// setting.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.URL != "" {
		if err := CheckRecipient(ChannelWebhook, cfg.URL); err != nil {
			return nil, fmt.Errorf("notify-webhook-url: %w", err)
		}
	}
	if len(cfg.Secret) == 0 {
		return nil, fmt.Errorf("notify-webhook-secret: not set, but notify-webhook-url is: webhooks are signed; set %s, the config file's notify-webhook-secret or notify-webhook-secret-file (e.g. openssl rand -hex 32)",
			"CERTGATE_NOTIFY_WEBHOOK_SECRET")
	}
	if len(cfg.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("notify-webhook-secret: %d bytes; at least %d are needed (e.g. openssl rand -hex 32)", len(cfg.Secret), MinSecretBytes)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	c := *cfg.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &c
	return &Webhook{cfg: cfg}, nil
}

// Name is ChannelWebhook.
func (w *Webhook) Name() string { return ChannelWebhook }

// Send POSTs m as JSON to the URL to ("": the configured URL).
func (w *Webhook) Send(ctx context.Context, to string, m *Message) error {
	if to == "" {
		to = w.cfg.URL
	}
	if to == "" {
		return errors.New("webhook: no URL (set notify-webhook-url or the rule's to=)")
	}
	if err := CheckRecipient(ChannelWebhook, to); err != nil {
		return fmt.Errorf("webhook %q: %w", Redact(to), err)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", Redact(to), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "certgate-notify")
	req.Header.Set(EventHeader, m.Type)
	req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, body))
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", Redact(to), WithoutURL(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: HTTP %d %q", Redact(to), resp.StatusCode, bytes.TrimSpace(snippet))
	}
	return nil
}

// Redact returns recipient as logs, errors, the audit log and listings
// show it. An email address is shown as it is. A URL keeps its scheme,
// host and first path segment; webhook services (Slack, Teams) carry
// their secret in the rest of the path or in the query, so the path after
// the first segment is shown as "…", each query value as "…", a password
// as "xxxxx" and a fragment dropped, followed by " [sha256:" and the first
// 8 hex digits of SHA-256 over the full URL so that two recipients can be
// told apart. A URL with nothing to hide is shown as it is. What is sent
// is never changed.
func Redact(recipient string) string {
	u, err := url.Parse(recipient)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return recipient
	}
	var b strings.Builder
	b.WriteString(u.Scheme + "://")
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			b.WriteString(url.UserPassword(u.User.Username(), "xxxxx").String() + "@")
		} else {
			// A user name alone is a token as often as a name
			// (https://TOKEN@host/…).
			b.WriteString("xxxxx@")
		}
	}
	b.WriteString(u.Host)
	path := u.EscapedPath()
	if first, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/"); rest != "" {
		path = "/" + first + "/…"
	}
	b.WriteString(path)
	if u.RawQuery != "" {
		sep := "?"
		for _, kv := range strings.Split(u.RawQuery, "&") {
			k, _, _ := strings.Cut(kv, "=")
			b.WriteString(sep + k + "=…")
			sep = "&"
		}
	}
	shown := b.String()
	if shown == recipient {
		return recipient
	}
	sum := sha256.Sum256([]byte(recipient))
	return fmt.Sprintf("%s [sha256:%x]", shown, sum[:4])
}

// WithoutURL returns err, an http.Client.Do error, without the request
// URL that *url.Error adds (which may carry a webhook's secret), as
// "Post: " and the underlying error; other errors as they are.
func WithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
