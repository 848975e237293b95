package policy

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/config"
)

// ekuName returns the profile name of e ("serverAuth"), or e's number for
// one profiles do not know.
func ekuName(e x509.ExtKeyUsage) string {
	for n, v := range ekuByName {
		if v == e {
			return n
		}
	}
	return fmt.Sprintf("eku#%d", int(e))
}

// CheckCertificate checks an issued certificate against the profile's
// current rules and returns one reason per violation (empty when it
// complies): each DNS name and IP address against the identifier rules
// (identifier types, wildcard, allow/deny), the public key against
// KeyTypes, the lifetime (notAfter - notBefore, RFC 5280 §4.1.2.5, as the
// RA limits it at issuance) against MaxValidity, and
// the extended key usages (RFC 5280 §4.2.1.12) against EKUs, which must be
// the same set. The profile must have been validated (Validate).
func (p *Profile) CheckCertificate(cert *x509.Certificate) []string {
	var reasons []string
	var ids []acme.Identifier
	for _, n := range cert.DNSNames {
		ids = append(ids, acme.Identifier{Type: acme.IdentifierDNS, Value: strings.ToLower(n)})
	}
	for _, ip := range cert.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			ids = append(ids, acme.Identifier{Type: acme.IdentifierIP, Value: a.Unmap().String()})
		}
	}
	for _, id := range ids {
		if why := p.refuse(id, nil); why != "" {
			reasons = append(reasons, fmt.Sprintf("name %s: %s", id.Value, why))
		}
	}
	if err := p.CheckKey(cert.PublicKey); err != nil {
		kt := KeyTypeName(cert.PublicKey)
		if kt == "" {
			kt = cert.PublicKeyAlgorithm.String()
		}
		reasons = append(reasons, fmt.Sprintf("key %s not allowed (allowed: %s)", kt, strings.Join(p.KeyTypes, ", ")))
	}
	// notAfter - notBefore, as the RA limits it at issuance; shown to the
	// minute.
	// The RA issues at most MaxValidity − 1 second (inclusive periods);
	// certificates issued before it counted so have exactly MaxValidity.
	if _, max := p.ValidityAt(cert.NotBefore); cert.NotAfter.Sub(cert.NotBefore) > max {
		life := cert.NotAfter.Sub(cert.NotBefore)
		reasons = append(reasons, fmt.Sprintf("validity %s exceeds the maximum %s", config.FormatDuration(life.Round(time.Minute)),
			config.FormatDuration(max)))
	}
	got := make([]string, 0, len(cert.ExtKeyUsage))
	for _, e := range cert.ExtKeyUsage {
		got = append(got, ekuName(e))
	}
	want := slices.Clone(p.EKUs)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(slices.Compact(got), slices.Compact(want)) {
		reasons = append(reasons, fmt.Sprintf("EKUs [%s] differ from the profile's [%s]", strings.Join(got, ", "), strings.Join(want, ", ")))
	}
	return reasons
}
