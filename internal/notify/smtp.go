package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// SMTPConfig configures the email channel.
type SMTPConfig struct {
	// Server is the submission server, host:port (e.g.
	// smtp.example.com:587).
	Server string
	// From is the envelope sender and From: header, an email address.
	From string
	// Username and Password authenticate with AUTH PLAIN (RFC 4616) when
	// Username is set; net/smtp sends them only over TLS or to a
	// loopback server.
	Username, Password string
	// RootCAs verifies the server's certificate after STARTTLS; nil uses
	// the system's roots.
	RootCAs *x509.CertPool
	// RequireTLS refuses a server that does not offer STARTTLS
	// (notify-smtp-starttls=require); otherwise STARTTLS is used when the
	// server offers it.
	RequireTLS bool
	// Timeout bounds one delivery: connection, dialogue and data
	// (0: 30 s).
	Timeout time.Duration
	// Hostname is sent in EHLO ("" : "localhost").
	Hostname string
}

// SMTP is the email channel: one message per recipient over SMTP
// (net/smtp), upgraded with STARTTLS (RFC 3207) whenever the server offers
// it.
type SMTP struct{ cfg SMTPConfig }

// NewSMTP returns the email channel of cfg; errors name a missing or
// malformed setting.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if _, _, err := net.SplitHostPort(cfg.Server); err != nil {
		return nil, fmt.Errorf("notify-smtp-server: %q is not host:port", cfg.Server)
	}
	if err := CheckRecipient(ChannelEmail, cfg.From); err != nil {
		return nil, fmt.Errorf("notify-smtp-from: %q: %w", cfg.From, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	return &SMTP{cfg: cfg}, nil
}

// Name is ChannelEmail.
func (s *SMTP) Name() string { return ChannelEmail }

// Send mails m to the address to.
func (s *SMTP) Send(ctx context.Context, to string, m *Message) error {
	if err := CheckRecipient(ChannelEmail, to); err != nil {
		return fmt.Errorf("email to %q: %w", to, err)
	}
	body, err := s.compose(to, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Server)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.cfg.Server, err)
	}
	// The whole dialogue within the timeout, and cut short by ctx.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := s.dialogue(conn, to, body); err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", s.cfg.Server, err)
	}
	return nil
}

// dialogue runs the SMTP session on conn: EHLO, STARTTLS when offered,
// AUTH when configured, one message, QUIT.
func (s *SMTP) dialogue(conn net.Conn, to string, body []byte) error {
	host, _, _ := net.SplitHostPort(s.cfg.Server)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(s.cfg.Hostname); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	} else if s.cfg.RequireTLS {
		return errors.New("the server does not offer STARTTLS (notify-smtp-starttls=require)")
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server does not offer AUTH (RFC 4954), but notify-smtp-username is set: " +
				"leave notify-smtp-username empty for a server that takes mail without authentication, or set notify-smtp-server to its submission port (587)")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(s.cfg.From); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// compose returns the RFC 5322 message of m to to: a text/plain body in
// quoted-printable UTF-8, the subject RFC 2047-encoded when it needs to be.
func (s *SMTP) compose(to string, m *Message) ([]byte, error) {
	idb := make([]byte, 12)
	if _, err := rand.Read(idb); err != nil {
		return nil, fmt.Errorf("message ID: %w", err)
	}
	_, domain, _ := strings.Cut(s.cfg.From, "@")
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", (&mail.Address{Name: "certgate", Address: s.cfg.From}).String())
	hdr("To", (&mail.Address{Address: to}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject()))
	hdr("Date", m.Time.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+hex.EncodeToString(idb)+"@"+domain+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(m.Text(), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
