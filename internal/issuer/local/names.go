package local

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// constrained reports whether c has a name constraints extension with
// any subtree (RFC 5280 §4.2.1.10) crypto/x509 evaluates.
func constrained(c *x509.Certificate) bool {
	return len(c.PermittedDNSDomains)+len(c.ExcludedDNSDomains)+len(c.PermittedIPRanges)+len(c.ExcludedIPRanges)+
		len(c.PermittedEmailAddresses)+len(c.ExcludedEmailAddresses)+len(c.PermittedURIDomains)+len(c.ExcludedURIDomains) > 0
}

// constraintsString describes the DNS and IP name constraints of c
// ("permits DNS example.com; excludes IP 10.0.0.0/8"), those a TLS leaf's
// names meet.
func constraintsString(c *x509.Certificate) string {
	var parts []string
	ips := func(ns []*net.IPNet) []string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = n.String()
		}
		return out
	}
	for _, p := range []struct {
		what  string
		names []string
	}{
		{"permits DNS", c.PermittedDNSDomains}, {"excludes DNS", c.ExcludedDNSDomains},
		{"permits IP", ips(c.PermittedIPRanges)}, {"excludes IP", ips(c.ExcludedIPRanges)},
	} {
		if len(p.names) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.names, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// nameChecker evaluates the name constraints of a CA's chain for a leaf
// with crypto/x509's own code: a mirror of the chain (the same subjects
// and name constraints, throwaway keys, under a throwaway root without
// constraints) signs a sample leaf with the names, which
// x509.Certificate.Verify then checks. nil when no certificate of the
// chain has name constraints.
type nameChecker struct {
	roots, inters *x509.CertPool
	issuer        *x509.Certificate // the intermediate's mirror
	issuerKey     crypto.Signer
	leafKey       crypto.Signer
	at            time.Time // within every mirror's validity
	describe      string    // the chain's constraints, for messages
}

// newNameChecker mirrors path (the intermediate first, the root last);
// nil when none of it has name constraints.
func newNameChecker(path []*x509.Certificate) (*nameChecker, error) {
	var desc []string
	for i, c := range path {
		if constrained(c) {
			desc = append(desc, certName(path, i)+" "+constraintsString(c))
		}
	}
	if len(desc) == 0 {
		return nil, nil
	}
	now := time.Now()
	nc := &nameChecker{roots: x509.NewCertPool(), inters: x509.NewCertPool(), at: now, describe: strings.Join(desc, "; ")}
	// Ed25519: the mirror's signatures only have to verify, and Ed25519's
	// verify at a fraction of ECDSA's cost (the check runs per
	// identifier of a newOrder).
	newKey := func() (crypto.Signer, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certgate name constraints check"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	parent, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	nc.roots.AddCert(parent)
	for i := len(path) - 1; i >= 0; i-- {
		c := path[i]
		k, err := newKey()
		if err != nil {
			return nil, err
		}
		t := &x509.Certificate{SerialNumber: big.NewInt(int64(len(path) - i + 1)), Subject: c.Subject,
			NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign,
			PermittedDNSDomainsCritical: c.PermittedDNSDomainsCritical,
			PermittedDNSDomains:         c.PermittedDNSDomains, ExcludedDNSDomains: c.ExcludedDNSDomains,
			PermittedIPRanges: c.PermittedIPRanges, ExcludedIPRanges: c.ExcludedIPRanges,
			PermittedEmailAddresses: c.PermittedEmailAddresses, ExcludedEmailAddresses: c.ExcludedEmailAddresses,
			PermittedURIDomains: c.PermittedURIDomains, ExcludedURIDomains: c.ExcludedURIDomains,
		}
		der, err := x509.CreateCertificate(rand.Reader, t, parent, k.Public(), key)
		if err != nil {
			return nil, err
		}
		if parent, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
		nc.inters.AddCert(parent)
		key = k
	}
	nc.issuer, nc.issuerKey = parent, key
	if nc.leafKey, err = newKey(); err != nil {
		return nil, err
	}
	return nc, nil
}

// check verifies a sample leaf naming dnsName or ip under the mirror.
func (nc *nameChecker) check(dnsName string, ip net.IP) error {
	t := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: nc.issuer.NotBefore, NotAfter: nc.issuer.NotAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip != nil {
		t.IPAddresses = []net.IP{ip}
	} else {
		t.DNSNames = []string{dnsName}
	}
	der, err := x509.CreateCertificate(rand.Reader, t, nc.issuer, nc.leafKey.Public(), nc.issuerKey)
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: nc.roots, Intermediates: nc.inters, CurrentTime: nc.at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// NameConstraintError reports that a name is outside the name
// constraints (RFC 5280 §4.2.1.10) of the built-in CA's chain: a leaf
// naming it would fail verification (OpenSSL's "permitted subtree
// violation"). CA.CheckName returns it.
type NameConstraintError struct {
	// Name is the DNS name or IP address.
	Name string
	// Detail is crypto/x509's reason (`DNS name "a.test" is not permitted
	// by any constraint`).
	Detail string
	// Constraints describes the constraints of the chain's certificates.
	Constraints string
}

// Error is e.g. `www.other.test is outside the built-in CA's name
// constraints (DNS name "www.other.test" is not permitted by any
// constraint; intermediate "CN=Issuing CA" permits DNS example.com)`.
func (e *NameConstraintError) Error() string {
	return fmt.Sprintf("%s is outside the built-in CA's name constraints (%s; %s)", e.Name, e.Detail, e.Constraints)
}

// ConstrainedName returns Name: the name the constraints refuse.
func (e *NameConstraintError) ConstrainedName() string { return e.Name }

// CheckName reports, as a *NameConstraintError, whether a leaf naming the
// DNS name (a wildcard included) or IP address name, signed by the current
// intermediate, would fail to verify because of the name constraints of
// a certificate of its chain (intermediate, ChainFile, root), as
// crypto/x509 evaluates them (permitted and excluded DNS and IP
// subtrees). A chain without name constraints allows every name. It signs
// nothing with the CA's keys.
func (ca *CA) CheckName(name string) error {
	if ca.nameCheck == nil {
		return nil
	}
	err := ca.nameCheck.check(name, net.ParseIP(name))
	var ce x509.CertificateInvalidError
	if errors.As(err, &ce) && ce.Reason == x509.CANotAuthorizedForThisName {
		return &NameConstraintError{Name: name, Detail: ce.Detail, Constraints: ca.nameCheck.describe}
	}
	if err != nil {
		return fmt.Errorf("local CA: name constraints check of %s: %w", name, err)
	}
	return nil
}
