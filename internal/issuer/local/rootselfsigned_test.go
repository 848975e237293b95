package local

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadRefusesRootNotSelfSigned: a DATA/ca whose root.crt was replaced
// by a certificate with the root's subject and key but issued and signed by
// another CA (so that the intermediate still verifies against it) is
// refused at load, as Import refuses such a bundle, with one line naming
// root.crt.
func TestLoadRefusesRootNotSelfSigned(t *testing.T) {
	ca, dir := newTestCA(t, Options{})
	other, otherDir := newTestCA(t, Options{})
	otherKey, err := readKey(filepath.Join(otherDir, RootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := *ca.Root()
	tmpl.AuthorityKeyId = nil // Go derives it from the issuer
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, other.Root(), ca.Root().PublicKey, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, RootCertFile, certPEM(der))
	_, err = LoadOrCreate(dir, Options{Now: fixedClock})
	if !errors.Is(err, ErrInvalidCA) || !strings.Contains(err.Error(), RootCertFile+" is not self-signed") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want one line saying %s is not self-signed (ErrInvalidCA)", err, RootCertFile)
	}
	t.Log(err)
}
