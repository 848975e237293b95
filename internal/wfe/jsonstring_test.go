package wfe

import (
	"encoding/json"
	"testing"
)

// TestPlainJSONString: where plainJSONString takes a value it equals what
// encoding/json decodes, and it leaves escapes, non-ASCII and non-strings
// to encoding/json.
func TestPlainJSONString(t *testing.T) {
	for _, c := range []struct {
		raw  string
		take bool
	}{
		{`"eyJhbGciOiJFUzI1NiJ9"`, true},
		{`""`, true},
		{`"a b~!"`, true},
		{`"a\/b"`, false},
		{`"\u0041"`, false},
		{`"a\"b"`, false},
		{`"é"`, false},
		{"\"\x7f\"", false},
		{`null`, false},
		{`12`, false},
		{`["a"]`, false},
		{`"`, false},
	} {
		got, ok := plainJSONString([]byte(c.raw))
		if ok != c.take {
			t.Errorf("plainJSONString(%s): ok %v, want %v", c.raw, ok, c.take)
			continue
		}
		if !ok {
			continue
		}
		var want string
		if err := json.Unmarshal([]byte(c.raw), &want); err != nil || got != want {
			t.Errorf("plainJSONString(%s) = %q; encoding/json: %q, %v", c.raw, got, want, err)
		}
	}
}
