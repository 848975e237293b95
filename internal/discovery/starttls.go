package discovery

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/smtp"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
)

// STARTTLS protocols: what a scan speaks in plain text on a port before
// its TLS handshake, for servers that upgrade a plain-text connection
// instead of starting with TLS.
const (
	// StartTLSNone starts the TLS handshake at once (implicit TLS), also
	// on a port that DefaultStartTLS lists.
	StartTLSNone = "none"
	// StartTLSSMTP is SMTP's STARTTLS command (RFC 3207): greeting, EHLO,
	// STARTTLS, then the handshake.
	StartTLSSMTP = "smtp"
	// StartTLSPostgres is PostgreSQL's SSLRequest message (PostgreSQL
	// protocol §53.2.10): the server answers 'S' and the handshake follows,
	// or 'N' when it has TLS off.
	StartTLSPostgres = "postgres"
)

// ErrInvalidStartTLS wraps every PORT=PROTOCOL setting ParseStartTLS
// refuses.
var ErrInvalidStartTLS = errors.New("invalid STARTTLS setting")

// ErrNoStartTLS is returned (wrapped) by a STARTTLS exchange when the
// server does not offer the upgrade (no STARTTLS extension, PostgreSQL
// with ssl = off).
var ErrNoStartTLS = errors.New("the server does not offer TLS")

// DefaultStartTLS returns the protocols spoken on well-known ports that
// begin in plain text: SMTP on 25 and 587 (RFC 3207; 465 is implicit TLS,
// RFC 8314), PostgreSQL on 5432. A new map on each call.
func DefaultStartTLS() map[int]string {
	return map[int]string{25: StartTLSSMTP, 587: StartTLSSMTP, 5432: StartTLSPostgres}
}

// ParseStartTLS parses "PORT=PROTOCOL" (e.g. "2525=smtp", "5433=postgres",
// "587=none") into m, which it returns (a new map when m is nil). Errors
// wrap ErrInvalidStartTLS and name what is wrong.
func ParseStartTLS(m map[int]string, spec string) (map[int]string, error) {
	ps, proto, ok := strings.Cut(strings.TrimSpace(spec), "=")
	if !ok {
		return nil, fmt.Errorf("%w %q: expected PORT=PROTOCOL, e.g. 2525=smtp", ErrInvalidStartTLS, spec)
	}
	p, err := port(strings.TrimSpace(ps))
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidStartTLS, spec, err)
	}
	proto = strings.ToLower(strings.TrimSpace(proto))
	switch proto {
	case StartTLSNone, StartTLSSMTP, StartTLSPostgres:
	default:
		return nil, fmt.Errorf("%w %q: protocol %q is not one of %s, %s, %s", ErrInvalidStartTLS, spec, proto,
			StartTLSSMTP, StartTLSPostgres, StartTLSNone)
	}
	if m == nil {
		m = map[int]string{}
	}
	m[p] = proto
	return m, nil
}

// FormatStartTLS returns m as sorted "PORT=PROTOCOL" words.
func FormatStartTLS(m map[int]string) string {
	ports := make([]int, 0, len(m))
	for p := range m {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	w := make([]string, len(ports))
	for i, p := range ports {
		w[i] = strconv.Itoa(p) + "=" + m[p]
	}
	return strings.Join(w, " ")
}

// startTLSFor returns the STARTTLS protocol for port: the Scanner's
// StartTLS map first, then DefaultStartTLS; "" for implicit TLS.
func (s *Scanner) startTLSFor(port int) string {
	p, ok := s.StartTLS[port]
	if !ok {
		p = DefaultStartTLS()[port]
	}
	if p == StartTLSNone {
		return ""
	}
	return p
}

// startTLS speaks proto on conn up to the point where the server expects
// the TLS handshake. The caller has set conn's deadline; ctx is checked
// before each exchange.
func startTLS(ctx context.Context, conn net.Conn, proto, host string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch proto {
	case StartTLSSMTP:
		return smtpStartTLS(conn, host)
	case StartTLSPostgres:
		return postgresSSLRequest(conn)
	}
	return fmt.Errorf("discovery: unknown STARTTLS protocol %q", proto)
}

// smtpStartTLS reads the greeting, sends EHLO and STARTTLS (RFC 3207 §4)
// with net/smtp's client, and returns once the server has answered 220
// to STARTTLS. net/smtp's own StartTLS is not used: it would make the
// handshake with its configuration, and the scan makes its own (every
// version and suite, verification apart).
func smtpStartTLS(conn net.Conn, host string) error {
	// net/smtp reads a reply of any length: a server sending an endless
	// multi-line greeting would take the scanner's memory.
	c, err := smtp.NewClient(&cappedConn{Conn: conn, left: startTLSReadLimit}, host)
	if err != nil {
		return smtpError("greeting", err)
	}
	if err := c.Hello("certgate-scan.invalid"); err != nil {
		return smtpError("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return fmt.Errorf("%w: the SMTP server does not offer STARTTLS", ErrNoStartTLS)
	}
	id, err := c.Text.Cmd("STARTTLS")
	if err != nil {
		return smtpError("STARTTLS", err)
	}
	c.Text.StartResponse(id)
	defer c.Text.EndResponse(id)
	if _, _, err := c.Text.ReadResponse(220); err != nil {
		return smtpError("STARTTLS", err)
	}
	return nil
}

// startTLSReadLimit bounds, in bytes, what a STARTTLS exchange reads
// before the TLS handshake: an SMTP reply line is at most 512 octets (RFC
// 5321 §4.5.3.1.5), and a greeting and an EHLO reply hold a few dozen.
const startTLSReadLimit = 64 << 10

// errStartTLSTooLong is the error of a server that sent more than
// startTLSReadLimit bytes before the handshake.
var errStartTLSTooLong = fmt.Errorf("the server sent more than %d KiB before the TLS handshake", startTLSReadLimit>>10)

// cappedConn is a net.Conn whose reads end with errStartTLSTooLong once
// left bytes were read.
type cappedConn struct {
	net.Conn
	left int
}

// Read implements io.Reader within the cap.
func (c *cappedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errStartTLSTooLong
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

// smtpError names the SMTP step that failed and what the server said.
func smtpError(step string, err error) error {
	var reply *textproto.Error
	var proto textproto.ProtocolError
	switch {
	case errors.As(err, &reply):
		return fmt.Errorf("SMTP server refused %s: %d %s", step, reply.Code, reply.Msg)
	case errors.As(err, &proto):
		return fmt.Errorf("not an SMTP server (its answer to %s: %v)", step, proto)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("the SMTP server closed the connection at %s: %w", step, err)
	}
	return fmt.Errorf("SMTP %s: %w", step, err)
}

// pgSSLRequestCode is the SSLRequest message's request code (PostgreSQL
// protocol, "SSLRequest": 1234 in the high 16 bits, 5679 in the low).
const pgSSLRequestCode = 80877103

// postgresSSLRequest sends SSLRequest and reads the server's one-byte
// answer: 'S' (the handshake follows), 'N' (TLS off: ErrNoStartTLS).
func postgresSSLRequest(conn net.Conn) error {
	var msg [8]byte
	binary.BigEndian.PutUint32(msg[0:4], 8)
	binary.BigEndian.PutUint32(msg[4:8], pgSSLRequestCode)
	if _, err := conn.Write(msg[:]); err != nil {
		return fmt.Errorf("PostgreSQL SSLRequest: %w", err)
	}
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return fmt.Errorf("PostgreSQL SSLRequest: no answer: %w", err)
	}
	switch b[0] {
	case 'S':
		return nil
	case 'N':
		return fmt.Errorf("%w: the PostgreSQL server answered N to SSLRequest (ssl = off)", ErrNoStartTLS)
	}
	return fmt.Errorf("not a PostgreSQL server: it answered %q to SSLRequest", b[0])
}
