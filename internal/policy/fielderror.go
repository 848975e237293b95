package policy

import (
	"errors"
	"strings"
)

// FieldError is a refused profile (Profile.Validate, Profile.CheckRules)
// or rule list (ParseRules, CheckRules) naming the field at fault: Field is
// its path in the profile's JSON form — "name", "validity", "keyTypes[1]",
// "allow[0]", "validation.dnsResolvers[0]", "approval.identifiers[2]",
// "attributes[1].regex"; for a rule list alone, "[i]" — and Value the
// value refused. Its text is Err's, which names the field in words.
type FieldError struct {
	Field string // path of the field in the profile's JSON form
	Value any    // the refused value
	Err   error  // why, naming the field in words
}

// Error implements error: Err's text.
func (e *FieldError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldError returns err, whose text names the field, as a *FieldError
// at field with value; when err wraps a *FieldError naming a field within
// (a rule list's "[1]", a section's "dnsTimeout"), the path goes on to it
// ("allow[1]", "validation.dnsTimeout") and the value is that one's.
func fieldError(field string, value any, err error) error {
	fe := &FieldError{Field: field, Value: value, Err: err}
	if inner := (*FieldError)(nil); errors.As(err, &inner) {
		sep := "."
		if strings.HasPrefix(inner.Field, "[") {
			sep = ""
		}
		fe.Field, fe.Value = field+sep+inner.Field, inner.Value
	}
	return fe
}
