package notify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/certgate/certgate/internal/notify"
)

// mailbox is a real SMTP server (emersion/go-smtp) on loopback that keeps
// the messages it accepts. fail > 0 refuses that many messages at DATA
// with a temporary error (451).
type mailbox struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	msgs []received
	fail int
	// With tls set, the server offers STARTTLS and AUTH PLAIN with
	// user/pass; the pool trusts its certificate.
	pool       *x509.CertPool
	user, pass string
}

// received is one accepted message.
type received struct {
	From, To string
	Msg      *mail.Message
	Body     string
	TLS      bool   // delivered over STARTTLS
	AuthUser string // the AUTH PLAIN user ("" without AUTH)
}

func startMailbox(t *testing.T, withTLS bool) *mailbox {
	t.Helper()
	mb := &mailbox{t: t}
	srv := smtp.NewServer(mb)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if withTLS {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		mb.pool, mb.user, mb.pass = pool, "notifier", "s3cret-smtp-password"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	// Shutdown, not Close: go-smtp v0.25/v0.26 Conn.Close reads the
	// connection that a STARTTLS upgrade replaces without its lock, a data
	// race in the library when a connection is still upgrading. Shutdown
	// waits for every connection's handler to end instead.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("SMTP server shutdown: %v", err)
		}
	})
	return mb
}

func (mb *mailbox) messages() []received {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return append([]received(nil), mb.msgs...)
}

func (mb *mailbox) failNext(n int) {
	mb.mu.Lock()
	mb.fail = n
	mb.mu.Unlock()
}

// NewSession implements smtp.Backend.
func (mb *mailbox) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{mb: mb, c: c}, nil
}

type session struct {
	mb       *mailbox
	c        *smtp.Conn
	from, to string
	user     string
}

func (s *session) AuthMechanisms() []string {
	if s.mb.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.mb.user || pass != s.mb.pass {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.mb.user != "" && s.user == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	defer s.mb.mu.Unlock()
	if s.mb.fail > 0 {
		s.mb.fail--
		return &smtp.SMTPError{Code: 451, Message: "try again later"}
	}
	_, isTLS := s.c.TLSConnectionState()
	s.mb.msgs = append(s.mb.msgs, received{From: s.from, To: s.to, Msg: m, Body: string(body), TLS: isTLS, AuthUser: s.user})
	return nil
}

func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// hook is a real net/http webhook receiver on loopback that verifies
// each delivery's HMAC signature with secret and keeps the verified
// documents; fail > 0 answers that many requests 503.
type hook struct {
	url    string
	secret []byte
	mu     sync.Mutex
	docs   []notify.Message
	bad    int // requests whose signature did not verify
	fail   int
}

func startHook(t *testing.T, secret []byte) *hook {
	t.Helper()
	h := &hook{secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if !notify.VerifySignature(h.secret, body, r.Header.Get(notify.SignatureHeader)) {
			h.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if h.fail > 0 {
			h.fail--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var m notify.Message
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.docs = append(h.docs, m)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL + "/certgate"
	return h
}

func (h *hook) received() (docs []notify.Message, bad int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notify.Message(nil), h.docs...), h.bad
}

func (h *hook) failNext(n int) {
	h.mu.Lock()
	h.fail = n
	h.mu.Unlock()
}
