package local

import (
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// keyUsageNames name the bits of the keyUsage extension as RFC 5280
// §4.2.1.3 does, in its order.
var keyUsageNames = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "digitalSignature"},
	{x509.KeyUsageContentCommitment, "nonRepudiation"},
	{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
	{x509.KeyUsageDataEncipherment, "dataEncipherment"},
	{x509.KeyUsageKeyAgreement, "keyAgreement"},
	{x509.KeyUsageCertSign, "keyCertSign"},
	{x509.KeyUsageCRLSign, "cRLSign"},
	{x509.KeyUsageEncipherOnly, "encipherOnly"},
	{x509.KeyUsageDecipherOnly, "decipherOnly"},
}

// keyUsageString names the bits of ku ("digitalSignature, cRLSign"), or
// "none".
func keyUsageString(ku x509.KeyUsage) string {
	var names []string
	for _, n := range keyUsageNames {
		if ku&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// certName names the certificate i of path (bottom up: intermediate
// first, root last) in a message, with its subject.
func certName(path []*x509.Certificate, i int) string {
	kind := "CA certificate"
	switch i {
	case 0:
		kind = "intermediate"
	case len(path) - 1:
		kind = "root"
	}
	return fmt.Sprintf("%s %q", kind, path[i].Subject.String())
}

// checkKeyUsage checks that the CA certificates of path (the intermediate
// first, the root last), from path[first] up, may do what certgate has
// them do: each one whose
// keyUsage extension is present must have keyCertSign (it signs the
// certificate below it; RFC 5280 §4.2.1.3: OpenSSL, browsers and
// Windows refuse a certificate signed by a CA without it), and the
// intermediate also cRLSign (it signs the CRL of its certificates, which
// crypto/x509 refuses to sign without it). A certificate without the
// extension may do both (RFC 5280). The error names the certificate, what
// it lacks and what it has.
func checkKeyUsage(path []*x509.Certificate, first int) error {
	for i := first; i < len(path); i++ {
		c := path[i]
		if c.KeyUsage == 0 {
			continue // no extension: any use
		}
		need := x509.KeyUsageCertSign
		if i == 0 {
			need |= x509.KeyUsageCRLSign
		}
		if missing := need &^ c.KeyUsage; missing != 0 {
			why := "certificates it signs do not verify"
			if missing == x509.KeyUsageCRLSign {
				why = "it cannot sign the CRL of its certificates"
			}
			return fmt.Errorf("%s has a keyUsage extension without %s (it has %s): %s",
				certName(path, i), keyUsageString(missing), keyUsageString(c.KeyUsage), why)
		}
	}
	return nil
}

// checkValidAt checks that every certificate of path (the intermediate
// first, the root last) is valid at now: a certificate the intermediate
// signs while one of them is not yet valid or has expired does not
// verify. The error wraps ErrIntermediateExpired when it is the
// intermediate that has expired.
func checkValidAt(path []*x509.Certificate, now time.Time) error {
	for i, c := range path {
		switch {
		case now.Before(c.NotBefore):
			return fmt.Errorf("%s is not valid yet: its validity starts %s", certName(path, i), c.NotBefore.UTC().Format(time.RFC3339))
		case now.After(c.NotAfter) && i == 0:
			return refusal{msg: fmt.Sprintf("%s expired on %s", certName(path, i), c.NotAfter.UTC().Format(time.RFC3339)), also: ErrIntermediateExpired}
		case now.After(c.NotAfter):
			return fmt.Errorf("%s expired on %s", certName(path, i), c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// path is the CA's certification path, its intermediate first and its
// root last.
func (ca *CA) path() []*x509.Certificate {
	return append(append([]*x509.Certificate{ca.inter}, ca.upper...), ca.root)
}

// CheckValidAt reports whether the CA can issue certificates that verify
// at now: the intermediate, the certificates of ChainFile and the root
// are all valid then. The error says which one is not and how to get a
// new intermediate: `certgate ca rotate` when the CA's directory holds
// the root key (and no ChainFile), else a new intermediate from the CA
// that issued it, imported into a new data directory. It wraps
// ErrIntermediateExpired when the intermediate has expired, else
// ErrInvalidCA. `certgate serve` checks it at start.
func (ca *CA) CheckValidAt(now time.Time) error {
	err := checkValidAt(ca.path(), now)
	if err == nil {
		return nil
	}
	fix := newIntermediateHint(ca.dir, ca.upper)
	if !now.Before(ca.root.NotBefore) && now.After(ca.root.NotAfter) {
		fix = "a new root is needed: create a new CA (certgate init in a new data directory) or import one (certgate ca import)"
	}
	if ca.dir != "" {
		err = fmt.Errorf("%s: %w", filepath.Join(ca.dir, IntermediateCertFile), err)
	}
	if errors.Is(err, ErrIntermediateExpired) {
		return fmt.Errorf("%w; %s", err, fix)
	}
	return fmt.Errorf("%w: %w; %s", ErrInvalidCA, err, fix)
}

// newIntermediateHint tells how the CA in dir, with the certificates
// upper of its ChainFile, gets a new intermediate: `certgate ca rotate`
// when dir holds the root key and there is no ChainFile, else from the CA
// that issued the current one.
func newIntermediateHint(dir string, upper []*x509.Certificate) string {
	if dir != "" && len(upper) == 0 && fileExists(filepath.Join(dir, RootKeyFile)) {
		return "make a new intermediate with `certgate ca rotate` (same --data and --db, with the server stopped; before the first successful start, when there is no database yet, add --no-db)"
	}
	return "have the CA that issued it issue a new intermediate (with keyCertSign and cRLSign, valid now) and import it with `certgate ca import` into a new data directory"
}

// checkLoaded applies checkKeyUsage to the CA that LoadOrCreate loaded
// from dir: an intermediate edited into dir by hand, or imported before
// certgate checked this, is refused with the fix (ErrInvalidCA).
func checkLoaded(dir string, ca *CA) error {
	if err := checkKeyUsage(ca.path(), 0); err != nil {
		return fmt.Errorf("%w: %s: %w; %s", ErrInvalidCA, dir, err, newIntermediateHint(dir, ca.upper))
	}
	return nil
}

// checkImported refuses, naming the bundle's certificate, a CA that Import
// would install but that cannot issue certificates that verify now:
// checkKeyUsage, and checkValidAt at now (ErrInvalidCA).
func checkImported(ca *CA, now time.Time) error {
	if err := checkKeyUsage(ca.path(), 0); err != nil {
		return fmt.Errorf("%w: the bundle's %w; have it issued again with keyCertSign and cRLSign (or without a keyUsage extension)", ErrInvalidCA, err)
	}
	if err := checkValidAt(ca.path(), now); err != nil {
		return fmt.Errorf("%w: the bundle's %w; import a CA whose certificates are valid now", ErrInvalidCA, err)
	}
	return nil
}
