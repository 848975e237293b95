package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// dialSmallBuffer connects to addr on loopback with a receive buffer of
// 4 KiB (SO_RCVBUF set before the connection, so that the window the
// client offers is small from the start), over TLS (HTTP/1.1) when tlsOn.
func dialSmallBuffer(t *testing.T, addr string, tlsOn bool) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	var c net.Conn
	var err error
	for range 50 { // a perspective may still be starting
		if c, err = d.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if tlsOn {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			c.Close()
			t.Fatal(err)
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	return c
}

// serveBounded serves h on a loopback port as Serve serves a listener
// (newHTTPServer on a boundWrites listener), over TLS when tlsOn, with the
// write bound bound, until the test ends; it returns the address.
func serveBounded(t *testing.T, h http.Handler, tlsOn bool, bound time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var tlsCfg *tls.Config
	if tlsOn {
		cert, err := selfSigned("localhost")
		if err != nil {
			t.Fatal(err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
	}
	srv := newHTTPServer(h, tlsCfg, Options{WriteProgressTimeout: bound}.limits(), log.New(io.Discard, "", 0))
	bl := boundWrites(ln, bound)
	if tlsOn {
		bl = tls.NewListener(bl, tlsCfg)
	}
	go func() { _ = srv.Serve(bl) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// bigAnswer returns a handler that answers size bytes in writes of piece
// bytes and sends the error of its writes (nil when all went out) on
// ended when it returns.
func bigAnswer(size, piece int, ended chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		buf := bytes.Repeat([]byte("x"), piece)
		var err error
		for sent := 0; sent < size && err == nil; sent += piece {
			_, err = w.Write(buf[:min(piece, size-sent)])
		}
		ended <- err
	})
}

// TestWriteBoundStalledReader: a client on loopback with a 4 KiB receive
// buffer that asks for a 32 MiB answer and then reads nothing has, within
// the write bound (WriteProgressTimeout), its answer's handler end (its
// write fails) and its connection closed (the client, reading at last,
// gets the end of the stream before the whole answer), whether the
// handler writes the answer in one piece or in 4 KiB writes, over plain
// HTTP and TLS. Before, listeners had no write deadline: the handler's
// write blocked, and held its goroutine and connection, for as long as
// the client did not read.
func TestWriteBoundStalledReader(t *testing.T) {
	const bound, size = 500 * time.Millisecond, 32 << 20
	for _, tc := range []struct {
		name  string
		tls   bool
		piece int
	}{{"plain HTTP, one write", false, size}, {"plain HTTP, 4 KiB writes", false, 4 << 10}, {"TLS, one write", true, size}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ended := make(chan error, 1)
			c := dialSmallBuffer(t, serveBounded(t, bigAnswer(size, tc.piece, ended), tc.tls, bound), tc.tls)
			defer c.Close()
			start := time.Now()
			if _, err := io.WriteString(c, "GET /export HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-ended:
				d := time.Since(start)
				if err == nil {
					t.Fatalf("the handler wrote all %d bytes to a client that read none", size)
				}
				if d < bound || d > bound+3*time.Second {
					t.Errorf("the handler's write failed %v after the client stopped reading, want about %v (%v)", d.Round(time.Millisecond), bound, err)
				}
			case <-time.After(bound + 5*time.Second):
				t.Fatalf("the handler still writes %v after the client stopped reading (bound %v)", time.Since(start).Round(time.Millisecond), bound)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the connection is still open after the handler ended (%d bytes read)", n)
			}
			if n >= size {
				t.Errorf("the client got %d bytes, want the answer (%d bytes) cut", n, size)
			}
		})
	}
}

// slowReader reads from r at about rate bytes a second: after each read
// (of at most 16 KiB) it waits until its bytes so far are due.
type slowReader struct {
	r     io.Reader
	rate  int
	start time.Time
	n     int
}

func (s *slowReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p[:min(len(p), 16<<10)])
	s.n += n
	time.Sleep(time.Until(s.start.Add(time.Duration(s.n) * time.Second / time.Duration(s.rate))))
	return n, err
}

// TestWriteBoundSlowReader: a client with a 4 KiB receive buffer that
// reads a 2 MiB answer slowly (512 KiB/s: 4 s, 8 times the write bound, in
// all) gets all of it, over plain HTTP (the answer written in one
// piece, which the connection writes 64 KiB at a time) and TLS: the bound
// is one on progress, not on the whole answer, as http.Server.WriteTimeout
// would be.
func TestWriteBoundSlowReader(t *testing.T) {
	const bound, size = 500 * time.Millisecond, 2 << 20
	for _, tlsOn := range []bool{false, true} {
		t.Run("tls="+strconv.FormatBool(tlsOn), func(t *testing.T) {
			t.Parallel()
			ended := make(chan error, 1)
			c := dialSmallBuffer(t, serveBounded(t, bigAnswer(size, size, ended), tlsOn, bound), tlsOn)
			defer c.Close()
			start := time.Now()
			if _, err := io.WriteString(c, "GET /export HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(&slowReader{r: c, rate: 512 << 10, start: start}), nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			d := time.Since(start)
			if err != nil || n != size {
				t.Fatalf("read %d of %d bytes in %v: %v", n, size, d.Round(time.Millisecond), err)
			}
			if err := <-ended; err != nil {
				t.Errorf("handler: %v", err)
			}
			if d < 4*bound {
				t.Errorf("the answer took %v, want several times the bound %v to show that progress counts", d.Round(time.Millisecond), bound)
			}
			t.Logf("%d bytes in %v", n, d.Round(time.Millisecond))
		})
	}
}

// stallPipelined writes req on c over and over without reading any
// answer, and reports whether the server closed the connection (a write
// failed) within wait.
func stallPipelined(c net.Conn, req string, wait time.Duration) (bool, error) {
	done := make(chan error, 1)
	go func() {
		b := []byte(strings.Repeat(req, 16))
		for {
			if _, err := c.Write(b); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		return true, err
	case <-time.After(wait):
		c.Close() // ends the writer
		return false, nil
	}
}

// smallSendBuffer is a listener whose connections have a 16 KiB send
// buffer (SO_SNDBUF), which the kernel then does not grow.
type smallSendBuffer struct{ net.Listener }

func (l smallSendBuffer) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// TestWriteBoundEveryListener: on a real server, every listener — listen
// (HTTPS and plain HTTP), admin-listen (both), metrics-listen and a
// validation perspective's — closes within the write bound the connection
// of a client (4 KiB receive buffer) that sends requests, pipelined, and
// reads none of the answers: for the OpenAPI document (77 KB each) over
// HTTPS, /healthz elsewhere (small answers that fill the buffers only
// together). With --http2, a stream whose client grants no flow-control
// window (SETTINGS_INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE) is reset
// (RST_STREAM) within the bound, though the connection stays open. Before,
// each held its connection and handler for ever.
func TestWriteBoundEveryListener(t *testing.T) {
	const bound = 500 * time.Millisecond
	opts := Options{WriteProgressTimeout: bound}
	cfg := testServeConfig(filepath.Join(t.TempDir(), "data"))
	cfg.AdminListen = "127.0.0.1:0"
	cfg.MetricsListen = "127.0.0.1:0"
	srv := serveForTest(t, cfg, opts)

	// The perspective's answers go out through a 16 KiB send buffer, so
	// that its writes stall after a few hundred small answers rather than
	// the tens of thousands the kernel's grown buffer holds: under -race
	// on two loaded cores those took over 60 s to send.
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	popts := opts
	popts.Listener = smallSendBuffer{pln}
	perspective := perspectiveForTest(t, popts)

	const openapi, healthz = "GET /api/v1/openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
	for _, l := range []struct {
		name, addr string
		tls        bool
		req        string
	}{
		{"listen HTTPS", srv.Addr().String(), true, openapi},
		{"listen plain HTTP", srv.Addr().String(), false, healthz},
		{"admin-listen HTTPS", srv.AdminAddr().String(), true, openapi},
		{"admin-listen plain HTTP", srv.AdminAddr().String(), false, healthz},
		{"metrics-listen", srv.MetricsAddr().String(), false, healthz},
		{"perspective", perspective, true, healthz},
	} {
		c := dialSmallBuffer(t, l.addr, l.tls)
		start := time.Now()
		// The bound runs from the moment the server's writes stop making
		// progress, which comes only once the answers have filled the
		// client's buffer and the server's send buffer (which the kernel
		// grows to megabytes): with small answers, thousands of them. On
		// two loaded cores the perspective's TLS answers took over 10 s to
		// fill them, so the wait is generous; a server that never closes
		// still fails.
		closed, err := stallPipelined(c, l.req, bound+60*time.Second)
		c.Close()
		if !closed {
			t.Errorf("%s: a client reading no answer still connected %v later (bound %v)", l.name, time.Since(start).Round(time.Millisecond), bound)
		} else {
			t.Logf("%s: closed after %v (%v)", l.name, time.Since(start).Round(time.Millisecond), err)
		}
	}

	// HTTP/2: a stream stalled by flow control.
	cfg2 := testServeConfig(filepath.Join(t.TempDir(), "data"))
	cfg2.HTTP2 = true
	srv2 := serveForTest(t, cfg2, opts)
	c, err := tls.Dial("tcp", srv2.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", "/api/v1/openapi.json"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(bound + 10*time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("HTTP/2: a stream without flow-control window still open %v later (bound %v)", time.Since(start).Round(time.Millisecond), bound)
			}
			t.Fatalf("HTTP/2: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == 1 {
				t.Logf("HTTP/2: stream reset after %v (%v)", time.Since(start).Round(time.Millisecond), f.ErrCode)
				return
			}
		case *http2.GoAwayFrame:
			t.Fatalf("HTTP/2: GOAWAY %v, want the stream reset", f.ErrCode)
		}
	}
}

// TestWriteBoundEarlierDeadline: a write deadline set from above that is
// earlier than the bound still applies (crypto/tls's 5 s for close_notify
// and net/http's TLS handshake timeout are set so): a handler that sets
// one of 200 ms (http.ResponseController) on its answer to a client that
// reads nothing has its write fail then, not after the bound of 10 s.
func TestWriteBoundEarlierDeadline(t *testing.T) {
	ended := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		bigAnswer(32<<20, 32<<20, ended).ServeHTTP(w, r)
	})
	c := dialSmallBuffer(t, serveBounded(t, h, false, 10*time.Second), false)
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "GET /export HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the handler wrote the whole answer to a client that read none")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the write failed after %v, want about 200 ms", d.Round(time.Millisecond))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's deadline of 200 ms did not apply: still writing after 5 s")
	}
}

// TestProgressConnCloseWrite: a connection of boundWrites still half-closes
// (CloseWrite, which net/http calls before closing a connection whose
// request body it did not read whole): the peer reads what was written,
// then EOF, and can still send.
func TestProgressConnCloseWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bl := boundWrites(ln, time.Second)
	defer bl.Close()
	got := make(chan string, 1)
	go func() {
		c, err := bl.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		cw, ok := c.(interface{ CloseWrite() error })
		if !ok {
			got <- "no CloseWrite"
			return
		}
		_, _ = io.WriteString(c, "answer")
		if err := cw.CloseWrite(); err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "answer" {
		t.Fatalf("read %q, %v; want \"answer\" then EOF", b, err)
	}
	_, _ = io.WriteString(c, "more")
	c.(*net.TCPConn).CloseWrite()
	if s := <-got; s != "more" {
		t.Errorf("server side: %s", s)
	}
}
