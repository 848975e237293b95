package notify

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/display"
	"github.com/certgate/certgate/internal/store"
)

// Channel delivers a Message to one recipient. Implementations: SMTP
// (email) and Webhook.
type Channel interface {
	// Name is ChannelEmail or ChannelWebhook.
	Name() string
	// Send delivers m to to (an email address, a webhook URL; "" is the
	// channel's default recipient where it has one) within ctx. An error
	// is a failed delivery, retried later; it never holds a secret.
	Send(ctx context.Context, to string, m *Message) error
}

// Message is the document one recipient receives: the certificates that
// crossed a threshold since the last message. It is the webhook's JSON
// body as is, and the email's text.
type Message struct {
	// Type is "certgate.expiry" ("certgate.test" for `notify test`).
	Type      string    `json:"type"`
	Time      time.Time `json:"time"`      // when the message was made, UTC
	Recipient string    `json:"recipient"` // the address or URL it is for
	// Certificates are the certificates reported, soonest expiry first
	// (empty in a test message).
	Certificates []CertSummary `json:"certificates"`
}

// Message types (Message.Type).
const (
	TypeExpiry = "certgate.expiry"
	TypeTest   = "certgate.test"
)

// CertSummary describes one expiring certificate in a Message.
type CertSummary struct {
	Serial        string            `json:"serial"`         // inventory key (lower-case hex)
	Subject       string            `json:"subject"`        // subject DN ("" when it has none)
	Names         []string          `json:"names"`          // subject alternative names
	NotAfter      time.Time         `json:"not_after"`      // UTC
	DaysLeft      int               `json:"days_left"`      // whole days before NotAfter, rounded down
	ThresholdDays int               `json:"threshold_days"` // the threshold crossed
	Rule          string            `json:"rule"`           // the alert rule
	Profile       string            `json:"profile"`        // certificate profile
	Issuer        string            `json:"issuer"`         // issuer name or DN
	Source        string            `json:"source"`         // issued, imported, discovered or listener
	Attributes    map[string]string `json:"attributes"`     // custom attributes
	// DeliveryID is the store.Notification's ID.
	DeliveryID string `json:"delivery_id"`
}

// summarize describes c for the delivery n at now.
func summarize(c *store.Certificate, n *store.Notification, subject string, now time.Time) CertSummary {
	left := int(math.Floor(c.NotAfter.Sub(now).Hours() / 24))
	attrs := c.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	names := c.SANs
	if names == nil {
		names = []string{}
	}
	return CertSummary{Serial: c.Serial, Subject: subject, Names: names, NotAfter: c.NotAfter.UTC(), DaysLeft: max(left, 0),
		ThresholdDays: n.ThresholdDays, Rule: n.Rule, Profile: c.Profile, Issuer: c.Issuer, Source: c.Source, Attributes: attrs, DeliveryID: n.ID}
}

// Subject is the message's one-line summary (the email's Subject).
func (m *Message) Subject() string {
	switch {
	case m.Type == TypeTest:
		return "certgate: test notification"
	case len(m.Certificates) == 1:
		c := m.Certificates[0]
		return fmt.Sprintf("certgate: certificate %s expires in %s (%s)", display.Escape(c.label()), days(c.DaysLeft), c.NotAfter.Format(time.DateOnly))
	}
	soonest := m.Certificates[0].DaysLeft
	for _, c := range m.Certificates {
		soonest = min(soonest, c.DaysLeft)
	}
	return fmt.Sprintf("certgate: %d certificates expire, the first in %s", len(m.Certificates), days(soonest))
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// label names the certificate: its first name, else its subject, else
// its serial.
func (c *CertSummary) label() string {
	switch {
	case len(c.Names) > 0:
		return c.Names[0]
	case c.Subject != "":
		return c.Subject
	}
	return c.Serial
}

// Text is the message as plain text (the email's body).
func (m *Message) Text() string {
	var b strings.Builder
	if m.Type == TypeTest {
		b.WriteString("This is a test notification from certgate (certgate notify test).\n")
		b.WriteString("Expiry notifications to " + m.Recipient + " will arrive like this one.\n")
		return b.String()
	}
	b.WriteString("These certificates expire soon. Renew them (or revoke those no longer used) before they do.\n\n")
	// Names, subjects and attributes come from certificates a scan
	// reached or a client's order: a CR/LF in a SAN would otherwise start
	// lines of its own in the message (display.Escape).
	esc := display.Escape
	for _, c := range m.Certificates {
		fmt.Fprintf(&b, "%s\n", esc(c.label()))
		fmt.Fprintf(&b, "  expires:    %s (in %s; threshold %s)\n", c.NotAfter.Format(time.RFC3339), days(c.DaysLeft), days(c.ThresholdDays))
		if len(c.Names) > 0 {
			fmt.Fprintf(&b, "  names:      %s\n", esc(strings.Join(c.Names, ", ")))
		}
		if c.Subject != "" {
			fmt.Fprintf(&b, "  subject:    %s\n", esc(c.Subject))
		}
		fmt.Fprintf(&b, "  serial:     %s\n", c.Serial)
		fmt.Fprintf(&b, "  profile:    %s\n  issuer:     %s\n  source:     %s\n  rule:       %s\n", esc(c.Profile), esc(c.Issuer), c.Source, esc(c.Rule))
		for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
			fmt.Fprintf(&b, "  attribute:  %s=%s\n", esc(k), esc(c.Attributes[k]))
		}
		b.WriteString("\n")
	}
	b.WriteString("Show one with: certgate cert show SERIAL\n")
	return b.String()
}

// Delivery is a notification delivery (store.Notification) as `certgate
// notify list --format json` prints it and the admin API serves it.
type Delivery struct {
	ID            string     `json:"id" doc:"delivery ID"`
	Serial        string     `json:"serial" doc:"the certificate's serial (inventory key)"`
	ThresholdDays int        `json:"threshold_days" doc:"the threshold crossed, in days before notAfter"`
	Channel       string     `json:"channel" enum:"email,webhook" doc:"email or webhook"`
	Recipient     string     `json:"recipient" doc:"email address or webhook URL as notify.Redact shows it: a password as xxxxx, the path after its first segment and each query value as …, then [sha256:8 hex digits of the full URL]"`
	Rule          string     `json:"rule" doc:"the alert rule (notify-rules) that asked for it"`
	Status        string     `json:"status" enum:"pending,sending,sent,failed,skipped" doc:"pending (due at next_attempt_at), sending, sent, failed (given up) or skipped (the certificate was revoked or renewed first)"`
	Attempts      int        `json:"attempts" doc:"delivery attempts so far"`
	LastError     string     `json:"last_error" doc:"the last failed attempt's error; empty when none"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty" doc:"when a pending delivery is tried next"`
	CreatedAt     time.Time  `json:"created_at" doc:"when the threshold crossing was recorded"`
	SentAt        *time.Time `json:"sent_at,omitempty" doc:"when it was delivered"`
}

// NewDelivery returns n as a Delivery.
func NewDelivery(n *store.Notification) Delivery {
	d := Delivery{ID: n.ID, Serial: n.Serial, ThresholdDays: n.ThresholdDays, Channel: n.Channel, Recipient: Redact(n.Recipient), Rule: n.Rule,
		Status: n.Status, Attempts: n.Attempts, LastError: n.LastError, CreatedAt: n.CreatedAt}
	if n.Status == store.NotificationPending {
		t := n.NextAttemptAt
		d.NextAttemptAt = &t
	}
	if !n.SentAt.IsZero() {
		t := n.SentAt
		d.SentAt = &t
	}
	return d
}
