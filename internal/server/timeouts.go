package server

import "time"

// DefaultBodyReadTimeout is how long a request may take to arrive whole,
// headers and body (http.Server.ReadTimeout; the headers alone have
// ReadHeaderTimeout, 10 s): 30 s, as Boulder's, enough for the largest body
// certgate takes (256 KiB for ACME) on a slow link. A client whose request
// has not arrived by then gets its connection closed, so that trickled
// bodies cannot hold connections (and file descriptors) for ever. It does
// not bound the handler: net/http lifts the deadline once the body is
// read (TestBodyDeadlineLiftedAfterBody).
const DefaultBodyReadTimeout = 30 * time.Second

// DefaultIdleTimeout is how long a keep-alive connection may wait for its
// next request, on every listener (HTTPS and plain HTTP).
const DefaultIdleTimeout = 2 * time.Minute

// DefaultWriteProgressTimeout is how long a client may leave an answer
// unread, on every listener (HTTPS and plain HTTP, HTTP/1.1 and HTTP/2):
// each write of at most 64 KiB (writeChunk) of an answer must be taken by
// the client within it, or the connection (an HTTP/2 stream) is closed and
// the handler's writes fail: 30 s, as DefaultBodyReadTimeout. It bounds
// progress, not the whole answer, so that a client reading a large answer
// (a certificate list, a CRL, the OpenAPI document) slowly is not cut: one
// that takes 64 KiB every 30 s (about 2 KiB/s) gets all of it.
const DefaultWriteProgressTimeout = 30 * time.Second

// MaxHeaderBytes bounds the request line and header block of a request, in
// bytes, on every listener (listen's HTTPS and plain HTTP, admin-listen,
// metrics-listen, a validation perspective's): 64 KiB, where net/http's
// default is 1 MiB. A larger block is answered 431 Request Header Fields
// Too Large (RFC 6585 §5) and the connection closed. The largest headers
// a real client sends are far below it: ACME clients send a few hundred
// bytes (the JWS goes in the body), an admin client a bearer token of
// under 100 bytes; nginx's default bound is 32 KiB (4 × 8 KiB buffers).
// net/http reads up to 4 KiB beyond it before refusing. With --http2 it
// is also the SETTINGS_MAX_HEADER_LIST_SIZE advertised (RFC 9113 §6.5.2).
const MaxHeaderBytes = 64 << 10
