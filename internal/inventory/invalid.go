package inventory

import "fmt"

// InvalidError is an ErrInvalid error that names the request parameter at
// fault, so that a caller can point at it (the admin API's 422 errors
// list: "query." + Param). Param is the parameter's name in the admin API
// and the CLI's flag with "_" for "-": suffix, serial, fingerprint,
// source, status, expiring_within, sort, attr, limit, cursor, within (the
// expiry report's window), since and by (the issued report's window and
// grouping), reason (a revocation reason). Value is the value refused.
// errors.Is(err, ErrInvalid) holds for it; its text is
// "inventory: invalid request: " and the message.
type InvalidError struct {
	Param string // the parameter at fault, e.g. "serial"
	Value any    // the value refused
	Msg   string // why, in the request's terms
}

// Error implements error.
func (e *InvalidError) Error() string { return ErrInvalid.Error() + ": " + e.Msg }

// Unwrap returns ErrInvalid.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// invalid returns an *InvalidError for param and value with the message
// format and args.
func invalid(param string, value any, format string, args ...any) error {
	return &InvalidError{Param: param, Value: value, Msg: fmt.Sprintf(format, args...)}
}
