package loadgen

import (
	"testing"

	"golang.org/x/crypto/acme"
)

// TestOneLineSubproblems: an error example with subproblems is one line
// with single spaces; acme.Error writes each subproblem on a new line
// after a tab, and the tab used to stay in the report ("subproblems: \turn:...").
func TestOneLineSubproblems(t *testing.T) {
	err := &acme.Error{StatusCode: 400, ProblemType: "urn:ietf:params:acme:error:rejectedIdentifier", Detail: "no",
		Subproblems: []acme.Subproblem{{Type: "urn:ietf:params:acme:error:rejectedIdentifier", Detail: "x: not allowed",
			Identifier: &acme.AuthzID{Type: "dns", Value: "x"}}}}
	got := oneLine(err)
	want := "400 urn:ietf:params:acme:error:rejectedIdentifier: no; subproblems: urn:ietf:params:acme:error:rejectedIdentifier: [dns: x] x: not allowed"
	if got != want {
		t.Errorf("oneLine = %q\nwant      %q", got, want)
	}
}
