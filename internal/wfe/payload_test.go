package wfe

import (
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
)

// TestPayloadProblems: a payload that is JSON but not an object, and a
// request without its base64url member, are named as such; they were
// reported as `field "" has the wrong type` and `csr must be unpadded
// base64url`.
func TestPayloadProblems(t *testing.T) {
	var fr acme.FinalizeRequest
	err := decodePayload([]byte(`[]`), &fr)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Malformed || !strings.Contains(p.Detail, "must be a JSON object, not array") {
		t.Errorf("array payload: %v", err)
	}
	_, err = decodeB64("csr", "")
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.Malformed || !strings.Contains(p.Detail, `no "csr"`) {
		t.Errorf("missing csr: %v", err)
	}
	if _, err := decodeB64("csr", "AA=="); err == nil || !strings.Contains(err.Error(), "unpadded base64url") {
		t.Errorf("padded csr: %v", err)
	}
}
