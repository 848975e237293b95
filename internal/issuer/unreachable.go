package issuer

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// Unreachable reports whether err, from a request to a CA elsewhere, means
// that the CA was not reached or did not answer: a failed dial or TLS
// handshake, a connection reset or closed before the answer, a timeout
// (net.Error, which *url.Error of net/http's client is too). Anything
// else, such as an answer that is not the JSON or PEM expected, is an
// answer the CA gave that could not be used, which error texts must not
// call unreachable.
func Unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
