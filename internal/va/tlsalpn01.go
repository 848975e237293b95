package va

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	"github.com/certgate/certgate/internal/acme"
)

// ALPNProto is the ALPN protocol name of tls-alpn-01 (RFC 8737 §6.2).
const ALPNProto = "acme-tls/1"

// oidACMEIdentifier is id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31 (RFC 8737
// §6.1): a critical extension whose value is an ASN.1 OCTET STRING holding
// SHA-256(keyAuthorization).
var oidACMEIdentifier = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// ReverseName returns the reverse-mapping name of an IP address without the
// trailing dot, e.g. "1.0.0.127.in-addr.arpa" (RFC 8738 §6 uses it as the
// tls-alpn-01 SNI for ip identifiers). ip must be a valid address text.
func ReverseName(ip string) (string, error) {
	arpa, err := dns.ReverseAddr(ip)
	if err != nil {
		return "", fmt.Errorf("va: reverse name of %q: %w", ip, err)
	}
	return strings.TrimSuffix(arpa, "."), nil
}

// validateTLSALPN01 implements RFC 8737 §3 (and RFC 8738 §6 for ip
// identifiers): a TLS handshake to ADDRESS:TLSPort with ALPN acme-tls/1 and
// SNI = NAME (or the reverse name of the IP) must negotiate acme-tls/1 and
// present a certificate with exactly one SAN, equal to the identifier, and
// a critical acmeIdentifier extension holding SHA-256(keyAuthorization).
// The certificate chain is not verified. The connection obeys the address
// policy like http-01's (policy.go).
func (v *VA) validateTLSALPN01(ctx context.Context, t target, keyAuthorization string) error {
	sni := t.name
	if t.isIP() {
		var err error
		if sni, err = ReverseName(t.ip.String()); err != nil {
			return failf(t.id, err, acme.Malformed, "invalid IP identifier %q", t.id.Value)
		}
	}
	addrs, err := v.resolve(ctx, t)
	if err != nil {
		return err
	}
	raw, err := dialAny(ctx, v.policy, addrs, v.cfg.TLSPort)
	if err != nil {
		var pe *deniedAddrError
		var de *dialError
		if errors.As(err, &pe) {
			return failf(t.id, err, acme.Connection, "connecting for tls-alpn-01: %s", pe.Error())
		}
		if errors.As(err, &de) {
			return failf(t.id, err, acme.Connection, "connecting to %s for tls-alpn-01: %s", de.addr, connDetail(de.err))
		}
		return failf(t.id, err, acme.Connection, "connecting for tls-alpn-01: %s", connDetail(err))
	}
	remote := raw.RemoteAddr().String()
	conn := tls.Client(raw, &tls.Config{
		ServerName:         sni,
		NextProtos:         []string{ALPNProto},
		InsecureSkipVerify: true, //nolint:gosec // RFC 8737 §3: the validation certificate is self-signed; the extension is the proof.
		MinVersion:         tls.VersionTLS12,
	})
	defer func() { _ = conn.Close() }()
	if err := conn.HandshakeContext(ctx); err != nil {
		// A handshake cut short by ctx is a validation cancelled or
		// timed out (connDetail), as an http-01 exchange is, not a TLS
		// failure of the server.
		err = contextError(ctx, err)
		var ne net.Error
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
			return failf(t.id, err, acme.Connection, "tls-alpn-01 handshake with %s: %s", remote, connDetail(err))
		case strings.Contains(err.Error(), "no application protocol"):
			return failf(t.id, err, acme.Unauthorized, "tls-alpn-01: %s refused to negotiate ALPN protocol %q", remote, ALPNProto)
		default:
			return failf(t.id, err, acme.TLS, "tls-alpn-01 handshake with %s failed: %s", remote, tlsErrorText(err))
		}
	}
	cs := conn.ConnectionState()
	if cs.NegotiatedProtocol != ALPNProto {
		return failf(t.id, nil, acme.Unauthorized, "tls-alpn-01: %s did not negotiate ALPN protocol %q", remote, ALPNProto)
	}
	if len(cs.PeerCertificates) == 0 {
		return failf(t.id, nil, acme.TLS, "tls-alpn-01: %s presented no certificate", remote)
	}
	if err := checkALPNCert(cs.PeerCertificates[0], t, keyAuthorization); err != nil {
		return failf(t.id, err, acme.IncorrectResponse, "incorrect validation certificate for tls-alpn-01 from %s: %v", remote, err)
	}
	return nil
}

// checkALPNCert checks the validation certificate of RFC 8737 §3. Its
// errors are client-safe descriptions.
func checkALPNCert(cert *x509.Certificate, t target, keyAuthorization string) error {
	n, err := countSANs(cert)
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("expected exactly one subjectAltName (%s), found %d", t.id.Value, n)
	}
	if t.isIP() {
		// The octets as encoded: four for IPv4, sixteen for IPv6 (RFC 5280
		// §4.2.1.6); net.IP.Equal would take the sixteen octets of
		// ::ffff:a.b.c.d, another address, for a.b.c.d.
		if len(cert.IPAddresses) != 1 || !bytes.Equal(cert.IPAddresses[0], t.ip.AsSlice()) {
			return fmt.Errorf("subjectAltName is not iPAddress %s (got %s)", t.ip, describeSANs(cert))
		}
	} else {
		// Exactly the identifier (RFC 8737 §3), compared without regard
		// to case (RFC 4343); "a.example." is another name.
		if len(cert.DNSNames) != 1 || !strings.EqualFold(cert.DNSNames[0], t.name) {
			return fmt.Errorf("subjectAltName is not dNSName %s (got %s)", t.name, describeSANs(cert))
		}
	}

	var ext *[]byte
	var critical bool
	for i := range cert.Extensions {
		e := &cert.Extensions[i]
		if !e.Id.Equal(oidACMEIdentifier) {
			continue
		}
		if ext != nil {
			return errors.New("acmeIdentifier extension present more than once")
		}
		ext, critical = &e.Value, e.Critical
	}
	if ext == nil {
		return errors.New("missing acmeIdentifier extension (1.3.6.1.5.5.7.1.31)")
	}
	if !critical {
		return errors.New("acmeIdentifier extension is not marked critical")
	}
	var digest []byte
	rest, err := asn1.Unmarshal(*ext, &digest)
	if err != nil || len(rest) != 0 || len(digest) != sha256.Size {
		return errors.New("acmeIdentifier extension is not an OCTET STRING of a SHA-256 digest")
	}
	want := sha256.Sum256([]byte(keyAuthorization))
	if subtle.ConstantTimeCompare(digest, want[:]) != 1 {
		return errors.New("acmeIdentifier extension value does not match the key authorization")
	}
	return nil
}

// countSANs returns the number of GeneralNames in the subjectAltName
// extension, including kinds Go does not parse (otherName, ...).
func countSANs(cert *x509.Certificate) (int, error) {
	count := 0
	seenExt := false
	for _, e := range cert.Extensions {
		if !e.Id.Equal(oidSubjectAltName) {
			continue
		}
		if seenExt {
			return 0, errors.New("subjectAltName extension present more than once")
		}
		seenExt = true
		var seq asn1.RawValue
		rest, err := asn1.Unmarshal(e.Value, &seq)
		if err != nil || len(rest) != 0 || !seq.IsCompound || seq.Tag != asn1.TagSequence {
			return 0, errors.New("malformed subjectAltName extension")
		}
		b := seq.Bytes
		for len(b) > 0 {
			var gn asn1.RawValue
			if b, err = asn1.Unmarshal(b, &gn); err != nil {
				return 0, errors.New("malformed subjectAltName extension")
			}
			count++
		}
	}
	return count, nil
}

// describeSANs lists the parsed SANs for a problem detail, truncated.
func describeSANs(cert *x509.Certificate) string {
	// Each with its type: a dNSName "127.0.0.1" for an ip identifier
	// read "is not iPAddress 127.0.0.1 (got 127.0.0.1)".
	var names []string
	for _, n := range cert.DNSNames {
		names = append(names, "dNSName "+n)
	}
	for _, ip := range cert.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok {
			names = append(names, "iPAddress "+a.String()) // ::ffff:a.b.c.d stays as it is
			continue
		}
		names = append(names, "iPAddress "+ip.String())
	}
	if len(names) == 0 {
		return "none"
	}
	s := strings.Join(names, ", ")
	if len(s) > excerptBytes {
		s = s[:excerptBytes] + "..."
	}
	return s
}

// tlsErrorText keeps the TLS part of a handshake error ("remote error: tls:
// handshake failure") and drops socket details.
func tlsErrorText(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
