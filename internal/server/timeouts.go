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
