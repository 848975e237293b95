package issuer

import (
	"errors"
	"net"
)

// Unreachable reports whether err, from a request to a CA elsewhere, means
// that the CA was not reached or did not answer: a failed dial or TLS
// handshake, a connection reset or closed before the answer, a timeout,
// all of which net/http's client reports as a *url.Error (a net.Error).
// Anything else, such as an answer that is not the JSON or PEM expected
// (a decoder's io.EOF or io.ErrUnexpectedEOF on a truncated body
// included), is an answer the CA gave that could not be used, which error
// texts must not call unreachable.
func Unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}
