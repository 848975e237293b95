// Package acme holds the RFC 8555 wire objects (account, order, authorization,
// challenge, identifier) and the problem document types of RFC 8555 §6.7.
// It has no behaviour beyond shapes and small helpers, so every other package
// can share it.
package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// ProblemType is an ACME error type URN (RFC 8555 §6.7), e.g.
// "urn:ietf:params:acme:error:badNonce".
type ProblemType string

// ErrorNS is the namespace prefix of every ACME error type (RFC 8555 §6.7).
const ErrorNS = "urn:ietf:params:acme:error:"

// Problem types defined by RFC 8555 §6.7 and its extensions.
const (
	AccountDoesNotExist     ProblemType = ErrorNS + "accountDoesNotExist"
	AlreadyReplaced         ProblemType = ErrorNS + "alreadyReplaced" // RFC 9773 §5
	AlreadyRevoked          ProblemType = ErrorNS + "alreadyRevoked"
	BadCSR                  ProblemType = ErrorNS + "badCSR"
	BadNonce                ProblemType = ErrorNS + "badNonce"
	BadPublicKey            ProblemType = ErrorNS + "badPublicKey"
	BadRevocationReason     ProblemType = ErrorNS + "badRevocationReason"
	BadSignatureAlgorithm   ProblemType = ErrorNS + "badSignatureAlgorithm"
	CAA                     ProblemType = ErrorNS + "caa"
	Compound                ProblemType = ErrorNS + "compound"
	Connection              ProblemType = ErrorNS + "connection"
	DNS                     ProblemType = ErrorNS + "dns"
	ExternalAccountRequired ProblemType = ErrorNS + "externalAccountRequired"
	IncorrectResponse       ProblemType = ErrorNS + "incorrectResponse"
	InvalidContact          ProblemType = ErrorNS + "invalidContact"
	InvalidProfile          ProblemType = ErrorNS + "invalidProfile" // draft-ietf-acme-profiles §5
	Malformed               ProblemType = ErrorNS + "malformed"
	OrderNotReady           ProblemType = ErrorNS + "orderNotReady"
	RateLimited             ProblemType = ErrorNS + "rateLimited"
	RejectedIdentifier      ProblemType = ErrorNS + "rejectedIdentifier"
	ServerInternal          ProblemType = ErrorNS + "serverInternal"
	TLS                     ProblemType = ErrorNS + "tls"
	Unauthorized            ProblemType = ErrorNS + "unauthorized"
	UnsupportedContact      ProblemType = ErrorNS + "unsupportedContact"
	UnsupportedIdentifier   ProblemType = ErrorNS + "unsupportedIdentifier"
	UserActionRequired      ProblemType = ErrorNS + "userActionRequired"
)

// defaultStatus maps each problem type to the HTTP status it is served with
// unless the Problem sets one explicitly.
var defaultStatus = map[ProblemType]int{
	AccountDoesNotExist:     http.StatusBadRequest,
	AlreadyReplaced:         http.StatusConflict,
	AlreadyRevoked:          http.StatusBadRequest,
	BadCSR:                  http.StatusBadRequest,
	BadNonce:                http.StatusBadRequest,
	BadPublicKey:            http.StatusBadRequest,
	BadRevocationReason:     http.StatusBadRequest,
	BadSignatureAlgorithm:   http.StatusBadRequest,
	CAA:                     http.StatusForbidden,
	Compound:                http.StatusForbidden,
	Connection:              http.StatusBadRequest,
	DNS:                     http.StatusBadRequest,
	ExternalAccountRequired: http.StatusForbidden,
	IncorrectResponse:       http.StatusForbidden,
	InvalidContact:          http.StatusBadRequest,
	InvalidProfile:          http.StatusBadRequest,
	Malformed:               http.StatusBadRequest,
	OrderNotReady:           http.StatusForbidden,
	RateLimited:             http.StatusTooManyRequests,
	RejectedIdentifier:      http.StatusBadRequest,
	ServerInternal:          http.StatusInternalServerError,
	TLS:                     http.StatusBadRequest,
	Unauthorized:            http.StatusForbidden,
	UnsupportedContact:      http.StatusBadRequest,
	UnsupportedIdentifier:   http.StatusBadRequest,
	UserActionRequired:      http.StatusForbidden,
}

// Problem is an RFC 7807/9457 problem document as used by ACME (RFC 8555
// §6.7). It implements error, so internal code returns it like any error and
// the front end renders it with errors.As.
type Problem struct {
	Type        ProblemType `json:"type"`                  // the error type URN (ErrorNS + name)
	Detail      string      `json:"detail,omitempty"`      // human-readable explanation, no internals
	Status      int         `json:"status,omitempty"`      // HTTP status code; 0: HTTPStatus gives the type's default
	Instance    string      `json:"instance,omitempty"`    // URL identifying this occurrence; "" for none
	Identifier  *Identifier `json:"identifier,omitempty"`  // the identifier a subproblem is about (§6.7.1)
	Subproblems []Problem   `json:"subproblems,omitempty"` // one per identifier that failed (§6.7.1)
	Algorithms  []string    `json:"algorithms,omitempty"`  // badSignatureAlgorithm, RFC 8555 §6.2
	// Location, when set, is sent as the Location header (keyChange 409, RFC 8555 §7.3.5).
	Location string `json:"-"`
	// RetryAfter, when positive, is sent as Retry-After in whole seconds
	// (rateLimited, RFC 8555 §6.6).
	RetryAfter time.Duration `json:"-"`
	// HelpURL, when set, is sent as a Link header with rel="help" (the
	// rate limit policy of a rateLimited problem, RFC 8555 §6.6).
	HelpURL string `json:"-"`
}

// Error implements error.
func (p *Problem) Error() string {
	if p.Detail == "" {
		return string(p.Type)
	}
	return fmt.Sprintf("%s: %s", p.Type, p.Detail)
}

// HTTPStatus returns the status code to serve p with: p.Status when set,
// otherwise the default for its type, otherwise 400.
func (p *Problem) HTTPStatus() int {
	if p.Status != 0 {
		return p.Status
	}
	if s, ok := defaultStatus[p.Type]; ok {
		return s
	}
	return http.StatusBadRequest
}

// Internal logs err on log as the failure of what and returns a
// serverInternal problem that carries no internals ("WHAT failed; the
// server log has details"; RFC 8555 §6.7). An error that is only the
// request's own cancellation (ctx is done and err wraps its cause: the
// client closed its connection or gave up) is logged at Info, not Error:
// nothing failed on the server and nobody reads the problem.
func Internal(ctx context.Context, log *slog.Logger, what string, err error) *Problem {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		log.InfoContext(ctx, what+": request canceled", "err", err)
	} else {
		log.ErrorContext(ctx, what, "err", err)
	}
	return NewProblem(ServerInternal, "%s failed; the server log has details", what)
}

// NewProblem returns a Problem of type t with a formatted detail and the
// default HTTP status of t filled in.
func NewProblem(t ProblemType, format string, args ...any) *Problem {
	p := &Problem{Type: t, Detail: fmt.Sprintf(format, args...)}
	p.Status = p.HTTPStatus()
	return p
}

// AsProblem returns the *Problem inside err, if any.
func AsProblem(err error) (*Problem, bool) {
	var p *Problem
	if errors.As(err, &p) {
		return p, true
	}
	return nil, false
}
