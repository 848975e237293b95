package va

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// rawIPSANCert is a tls-alpn-01 validation certificate whose only SAN is
// an iPAddress holding ipBytes as they are (4 or 16 octets).
func rawIPSANCert(t *testing.T, ipBytes []byte) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	san, err := asn1.Marshal([]asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: ipBytes}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(testKeyAuth))
	digest, _ := asn1.Marshal(sum[:])
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "acme validation"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{
			{Id: oidSubjectAltName, Critical: true, Value: san},
			{Id: oidACMEIdentifier, Critical: true, Value: digest},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSALPN01IPSANExact: for an IPv4 identifier the iPAddress SAN must
// be those four octets (RFC 5280 §4.2.1.6: "For IP version 4 ... the
// octet string MUST contain exactly four octets"); sixteen octets are the
// IPv6 address ::ffff:127.0.0.1, another identifier (RFC 8738 §6: the
// SAN must match the address being validated). Since Go 1.27 crypto/x509
// refuses to parse a certificate whose iPAddress SAN is an IPv4-mapped
// IPv6 address, so the TLS handshake fails before the VA sees the SAN: the
// problem is then tls (RFC 8555 §6.7) naming the parse error; with an
// earlier Go it is incorrectResponse naming the SAN. Either way the
// validation fails, which is what this test holds.
func TestTLSALPN01IPSANExact(t *testing.T) {
	id := ipID("127.0.0.1")
	for _, tc := range []struct {
		name string
		ip   []byte
		want acme.ProblemType
	}{
		{"four octets", net.ParseIP("127.0.0.1").To4(), ""},
		{"IPv4-mapped IPv6, sixteen octets", net.ParseIP("::ffff:127.0.0.1").To16(), acme.IncorrectResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port, _ := startTLS(t, "127.0.0.1", rawIPSANCert(t, tc.ip), []string{ALPNProto})
			v := newVA(t, Config{TLSPort: port})
			err := v.Validate(t.Context(), id, acme.ChallengeTLSALPN01, testToken, testKeyAuth)
			if tc.want == "" {
				checkResult(t, err, id, "")
				return
			}
			cert := rawIPSANCert(t, tc.ip)
			if _, perr := x509.ParseCertificate(cert.Certificate[0]); perr != nil {
				checkResult(t, err, id, acme.TLS, "failed to parse certificate", "IPv4-mapped")
				return
			}
			checkResult(t, err, id, tc.want, "subjectAltName is not iPAddress 127.0.0.1 (got iPAddress ::ffff:127.0.0.1)")
		})
	}
}

// TestDescribeSANsNamesTypes: the SANs a tls-alpn-01 refusal lists carry
// their type, so that a dNSName "127.0.0.1" offered for the ip identifier
// 127.0.0.1 does not read "is not iPAddress 127.0.0.1 (got 127.0.0.1)".
func TestDescribeSANsNamesTypes(t *testing.T) {
	c := &x509.Certificate{DNSNames: []string{"127.0.0.1", "a.example"}, IPAddresses: []net.IP{net.ParseIP("::1"), net.ParseIP("10.0.0.1").To4()}}
	if got, want := describeSANs(c), "dNSName 127.0.0.1, dNSName a.example, iPAddress ::1, iPAddress 10.0.0.1"; got != want {
		t.Errorf("describeSANs = %q, want %q", got, want)
	}
	if got := describeSANs(&x509.Certificate{}); got != "none" {
		t.Errorf("describeSANs of no SAN = %q, want none", got)
	}
}
