package discovery_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/discovery"
	smtp "github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
)

// nopBackend is an SMTP backend that takes no mail: the scan only needs
// the greeting, EHLO and STARTTLS.
type nopBackend struct{}

func (nopBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return nopSession{}, nil }

// nopSession refuses every message.
type nopSession struct{}

func (nopSession) Mail(string, *smtp.MailOptions) error { return errors.New("no mail") }
func (nopSession) Rcpt(string, *smtp.RcptOptions) error { return errors.New("no mail") }
func (nopSession) Data(io.Reader) error                 { return errors.New("no mail") }
func (nopSession) Reset()                               {}
func (nopSession) Logout() error                        { return nil }

// serveSMTP runs go-smtp's server on 127.0.0.1 with STARTTLS offered when
// cert is not nil, and returns its port.
func serveSMTP(t *testing.T, cert *tls.Certificate) int {
	t.Helper()
	srv := smtp.NewServer(nopBackend{})
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	// Shutdown, not Close: go-smtp v0.25/v0.26 Conn.Close reads the
	// connection that a STARTTLS upgrade replaces without its lock, so
	// closing the server while a scanned connection is still finishing its
	// upgrade is a data race in the library. Shutdown waits for every
	// connection's handler to end instead (the scanner has closed them).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("SMTP server shutdown: %v", err)
		}
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// TestScanSMTPStartTLS: a port mapped to smtp gets the certificate a real
// SMTP server (go-smtp) presents after STARTTLS (RFC 3207); a server that
// does not offer STARTTLS, or a port scanned with implicit TLS, is a
// finding with a clear reason.
func TestScanSMTPStartTLS(t *testing.T) {
	now := time.Now()
	key := newKey(t)
	leaf := mint(t, leafTemplate("mx.test", now.Add(-time.Hour), now.Add(48*time.Hour)), key, nil, nil)
	withTLS := serveSMTP(t, tlsCert(key, leaf))
	without := serveSMTP(t, nil)
	starttls := map[int]string{}
	for _, p := range []int{withTLS, without} {
		var err error
		if starttls, err = discovery.ParseStartTLS(starttls, " "+strconv.Itoa(p)+"=SMTP"); err != nil {
			t.Fatal(err)
		}
	}
	sc := &discovery.Scanner{NoSystemRoots: true, Timeout: 5 * time.Second, StartTLS: starttls}
	eps := []discovery.Endpoint{
		{Host: "127.0.0.1", Port: withTLS, SNI: "mx.test"},
		{Host: "127.0.0.1", Port: without, SNI: "mx.test"},
	}
	res := sc.Scan(context.Background(), eps, nil)
	if res[0].Err != nil {
		t.Fatalf("SMTP with STARTTLS: %v", res[0].Err)
	}
	sum := sha256.Sum256(leaf.Raw)
	if res[0].Fingerprint != hex.EncodeToString(sum[:]) || res[0].TLSVersion != "TLS 1.3" {
		t.Errorf("SMTP with STARTTLS served %s over %s, want the server's leaf over TLS 1.3", res[0].Fingerprint, res[0].TLSVersion)
	}
	if !res[0].Checks.SelfSigned || res[0].Checks.NameMismatch {
		t.Errorf("checks = %+v, want self-signed and the name matching", res[0].Checks)
	}
	if !errors.Is(res[1].Err, discovery.ErrNoStartTLS) || res[1].Error != "the server does not offer TLS: the SMTP server does not offer STARTTLS" {
		t.Errorf("SMTP without STARTTLS: %v / %q", res[1].Err, res[1].Error)
	}

	// The same server scanned as implicit TLS: its greeting is no TLS record.
	sc.StartTLS = map[int]string{withTLS: discovery.StartTLSNone}
	res = sc.Scan(context.Background(), eps[:1], nil)
	if !strings.HasPrefix(res[0].Error, "not a TLS server") {
		t.Errorf("implicit TLS against SMTP: %q, want not a TLS server", res[0].Error)
	}
}

// TestScanSMTPEndlessGreeting: a server that sends a multi-line SMTP
// greeting without end is given up on once it has sent 64 KiB, with that
// reason (net/smtp read it whole: gigabytes of memory within the scan's
// timeout).
func TestScanSMTPEndlessGreeting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	sent := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line := []byte("220-" + strings.Repeat("a", 500) + "\r\n")
		total := 0
		for total < 64<<20 {
			n, err := c.Write(line)
			total += n
			if err != nil {
				break
			}
		}
		sent <- total
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	sc := &discovery.Scanner{NoSystemRoots: true, Timeout: 10 * time.Second, StartTLS: map[int]string{port: discovery.StartTLSSMTP}}
	res := sc.Scan(context.Background(), []discovery.Endpoint{{Host: "127.0.0.1", Port: port}}, nil)[0]
	if !strings.Contains(res.Error, "sent more than 64 KiB before the TLS handshake") {
		t.Errorf("endless greeting: %q, want the 64 KiB limit named", res.Error)
	}
	if n := <-sent; n >= 64<<20 {
		t.Errorf("the scanner read all %d bytes the server sent", n)
	}
}

// TestScanPostgresSSLRequest: port 5432 is scanned with PostgreSQL's
// SSLRequest by default. Against the machine's real PostgreSQL the scan
// collects the certificate of its ssl_cert_file when ssl is on, and says
// that TLS is off when it is off.
func TestScanPostgresSSLRequest(t *testing.T) {
	url := os.Getenv("CERTGATE_TEST_POSTGRES")
	if url == "" {
		t.Skip("CERTGATE_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ssl, certFile string
	if err := conn.QueryRow(ctx, "SELECT current_setting('ssl'), current_setting('ssl_cert_file')").Scan(&ssl, &certFile); err != nil {
		t.Fatal(err)
	}
	// 5432 is scanned with SSLRequest by default; a server elsewhere is
	// named the way a user would (--starttls PORT=postgres).
	cfg := conn.Config()
	sc := &discovery.Scanner{NoSystemRoots: true}
	if cfg.Port != 5432 {
		sc.StartTLS = map[int]string{int(cfg.Port): discovery.StartTLSPostgres}
	}
	res := sc.Scan(ctx, []discovery.Endpoint{{Host: cfg.Host, Port: int(cfg.Port)}}, nil)[0]
	if ssl != "on" {
		if !errors.Is(res.Err, discovery.ErrNoStartTLS) || !strings.Contains(res.Error, "answered N to SSLRequest") {
			t.Fatalf("ssl = %s: scan result %v / %q, want TLS off", ssl, res.Err, res.Error)
		}
		return
	}
	if res.Err != nil {
		t.Fatalf("ssl = on: %v", res.Err)
	}
	// The served leaf is the server's ssl_cert_file (relative names are
	// in the data directory; Debian's default is an absolute path).
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatalf("read ssl_cert_file: %v", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("ssl_cert_file %s holds no PEM", certFile)
	}
	want, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Chain[0].Equal(want) {
		t.Errorf("served %s, want ssl_cert_file's %s", res.Chain[0].Subject, want.Subject)
	}
}

// TestScanPostgresAnswers: what a port mapped to postgres does with
// servers that are not PostgreSQL with TLS.
func TestScanPostgresAnswers(t *testing.T) {
	answer := func(b []byte) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					var req [8]byte
					if _, err := io.ReadFull(c, req[:]); err == nil {
						_, _ = c.Write(b)
					}
				}()
			}
		}()
		return ln.Addr().(*net.TCPAddr).Port
	}
	no, other := answer([]byte("N")), answer([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
	sc := &discovery.Scanner{NoSystemRoots: true, StartTLS: map[int]string{no: "postgres", other: "postgres"}}
	res := sc.Scan(context.Background(), []discovery.Endpoint{{Host: "127.0.0.1", Port: no}, {Host: "127.0.0.1", Port: other}}, nil)
	if res[0].Error != "the server does not offer TLS: the PostgreSQL server answered N to SSLRequest (ssl = off)" {
		t.Errorf("N: %q", res[0].Error)
	}
	if res[1].Error != `not a PostgreSQL server: it answered 'H' to SSLRequest` {
		t.Errorf("HTTP: %q", res[1].Error)
	}
}

// TestParseStartTLS: PORT=PROTOCOL words, and their refusals.
func TestParseStartTLS(t *testing.T) {
	m, err := discovery.ParseStartTLS(nil, "2525=smtp")
	if err == nil {
		m, err = discovery.ParseStartTLS(m, "5433=postgres")
	}
	if err == nil {
		m, err = discovery.ParseStartTLS(m, "587=none")
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := discovery.FormatStartTLS(m); got != "587=none 2525=smtp 5433=postgres" {
		t.Errorf("parsed %q", got)
	}
	for spec, want := range map[string]string{
		"2525":       "expected PORT=PROTOCOL",
		"x=smtp":     `port "x" is not a number`,
		"70000=smtp": "is not a number from 1 to 65535",
		"25=imap":    `protocol "imap" is not one of smtp, postgres, none`,
	} {
		_, err := discovery.ParseStartTLS(nil, spec)
		if !errors.Is(err, discovery.ErrInvalidStartTLS) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want ErrInvalidStartTLS and %q", spec, err, want)
		}
	}
	if d := discovery.FormatStartTLS(discovery.DefaultStartTLS()); d != "25=smtp 587=smtp 5432=postgres" {
		t.Errorf("defaults %q", d)
	}
}
