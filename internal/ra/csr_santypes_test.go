package ra_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/ra"
)

// TestCheckCSRRefusesOtherSANTypes: a CSR whose subjectAltName asks,
// besides the order's DNS name, for an entry crypto/x509 skips (otherName,
// directoryName, registeredID) got a certificate silently without it; it
// is refused with badCSR naming the type (RFC 8555 §7.4), as e-mail and
// URI entries were (now named too).
func TestCheckCSRRefusesOtherSANTypes(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mustMarshal := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ctx := func(tag int, compound bool, b []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: compound, Bytes: b}
	}
	dnsName := ctx(2, false, []byte("svc.example.com"))
	upnOID := mustMarshal(asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3})
	otherName := ctx(0, true, append(upnOID, mustMarshal(ctx(0, true, mustMarshal("admin@example.com")))...))
	dirName := ctx(4, true, mustMarshal(pkix.Name{CommonName: "Administrator"}.ToRDNSequence()))
	regID := ctx(8, false, mustMarshal(asn1.ObjectIdentifier{1, 2, 3, 4})[2:])
	uri := ctx(6, false, []byte("spiffe://example.com/admin"))
	ids := []acme.Identifier{{Type: acme.IdentifierDNS, Value: "svc.example.com"}}
	csr := func(names ...asn1.RawValue) []byte {
		ext := pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: mustMarshal(names)}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{ExtraExtensions: []pkix.Extension{ext}}, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x509.ParseCertificateRequest(der); err != nil {
			t.Fatalf("crypto/x509 refuses the test CSR: %v", err)
		}
		return der
	}
	for _, tc := range []struct {
		names []asn1.RawValue
		want  string
	}{
		{[]asn1.RawValue{dnsName, otherName}, "otherName"},
		{[]asn1.RawValue{dnsName, dirName}, "directoryName"},
		{[]asn1.RawValue{regID, dnsName}, "registeredID"},
		{[]asn1.RawValue{dnsName, uri, otherName}, "uniformResourceIdentifier, otherName"},
	} {
		_, err := ra.CheckCSR(csr(tc.names...), ids, nil)
		p, ok := acme.AsProblem(err)
		if !ok || p.Type != acme.BadCSR || !strings.Contains(p.Detail, "subjectAltName entries of type "+tc.want+",") {
			t.Errorf("%s: %v, want badCSR naming %s", tc.want, err, tc.want)
		}
	}
	if _, err := ra.CheckCSR(csr(dnsName), ids, nil); err != nil {
		t.Errorf("a dNSName only: %v", err)
	}
}

// TestCheckCSRRefusesMultiValuedExtensionRequest: crypto/x509 reads the
// first value of a CSR's extensionRequest attribute only, so a
// subjectAltName in a second value was ignored; such a CSR (the attribute
// is single-valued, RFC 2985 §5.4.2) gets badCSR.
func TestCheckCSRRefusesMultiValuedExtensionRequest(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mustMarshal := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := x509.ParseCertificateRequest(base)
	san := func(names ...asn1.RawValue) asn1.RawValue {
		return asn1.RawValue{FullBytes: mustMarshal([]pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: mustMarshal(names)}})}
	}
	dnsName := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("svc.example.com")}
	other := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: []byte{192, 0, 2, 66}}
	attr := struct {
		ID     asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 14}, []asn1.RawValue{san(dnsName), san(other)}}
	tbs := mustMarshal(struct {
		Version    int
		Subject    asn1.RawValue
		PublicKey  asn1.RawValue
		Attributes []asn1.RawValue `asn1:"tag:0"`
	}{0, asn1.RawValue{FullBytes: plain.RawSubject}, asn1.RawValue{FullBytes: plain.RawSubjectPublicKeyInfo},
		[]asn1.RawValue{{FullBytes: mustMarshal(attr)}}})
	digest := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	der := mustMarshal(struct {
		TBS    asn1.RawValue
		Alg    pkix.AlgorithmIdentifier
		Signed asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
		asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	parsed, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatalf("crypto/x509 refuses the test CSR: %v", err)
	}
	if len(parsed.DNSNames)+len(parsed.IPAddresses) != 1 {
		t.Fatalf("crypto/x509 read %v %v: the test assumes it reads one value only", parsed.DNSNames, parsed.IPAddresses)
	}
	ids := []acme.Identifier{{Type: acme.IdentifierDNS, Value: "svc.example.com"}}
	if len(parsed.DNSNames) == 0 { // DER orders the SET's values
		ids = []acme.Identifier{{Type: acme.IdentifierIP, Value: "192.0.2.66"}}
	}
	_, err = ra.CheckCSR(der, ids, nil)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadCSR || !strings.Contains(p.Detail, "extensionRequest attribute holds 2 values") {
		t.Errorf("CheckCSR: %v, want badCSR naming the two values", err)
	}
}
