package inventory_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/inventory"
)

// TestParsePEMCorruptMiddleBlock: a PEM file whose middle block cannot be
// decoded (bad base64, or an END line of another type) is refused as a
// whole, naming that block, instead of importing the blocks around it:
// encoding/pem skips a block it cannot decode and returns the next one.
func TestParsePEMCorruptMiddleBlock(t *testing.T) {
	p := newTestPKI(t)
	a, b, c := pemOf(p.leaf(0, "a.test")), pemOf(p.leaf(0, "b.test")), pemOf(p.leaf(0, "c.test"))
	lines := strings.Split(string(b), "\n")
	lines[2] = "!!!!" + lines[2][4:]
	badBase64 := []byte(strings.Join(lines, "\n"))
	badEnd := bytes.Replace(b, []byte("-----END CERTIFICATE-----"), []byte("-----END PUBLIC KEY-----"), 1)
	for name, mid := range map[string][]byte{"bad base64": badBase64, "mismatched END": badEnd} {
		file := append(append(append([]byte{}, a...), mid...), c...)
		certs, err := inventory.ParseCertificates(file)
		if err == nil || !strings.Contains(err.Error(), "PEM block 2") {
			t.Errorf("%s: %d certificates, %v; want the file refused naming PEM block 2", name, len(certs), err)
		}
	}
	// Text around and between good blocks is no error.
	file := append(append(append([]byte("# bundle\n"), a...), []byte("subject=c.test\n")...), c...)
	if certs, err := inventory.ParseCertificates(file); err != nil || len(certs) != 2 {
		t.Fatalf("bundle with comments: %d certificates, %v", len(certs), err)
	}
}
