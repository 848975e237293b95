package issuer

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
)

// OIDTLSFeature is the TLS Feature extension (RFC 7633 §6,
// id-pe-tlsfeature, 1.3.6.1.5.5.7.1.24): in a CSR the request for OCSP
// Must-Staple, in a certificate the promise that the server staples an
// OCSP response.
var OIDTLSFeature = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}

// TLSFeatureStatusRequest is the TLS extension number of status_request
// (RFC 6066 §8): the only TLS feature certgate puts in a certificate.
const TLSFeatureStatusRequest = 5

// tlsFeatureNames names the TLS extensions a TLS Feature extension is
// likely to list, for error messages.
var tlsFeatureNames = map[int]string{5: "status_request", 17: "status_request_v2"}

// MustStapleExtension returns the non-critical TLS Feature extension
// listing status_request alone (RFC 7633 §4.2.2: SEQUENCE { INTEGER 5 }),
// as certgate includes it in a must-staple certificate.
func MustStapleExtension() pkix.Extension {
	return pkix.Extension{Id: OIDTLSFeature, Value: []byte{0x30, 0x03, 0x02, 0x01, TLSFeatureStatusRequest}}
}

// ParseTLSFeatures decodes the value of a TLS Feature extension
// (Features ::= SEQUENCE OF INTEGER) into the TLS extension numbers it
// lists, in order. A value that is not DER of that shape is an error
// wrapping encoding/asn1's (asn1.SyntaxError or asn1.StructuralError);
// bytes after the SEQUENCE are an error too.
func ParseTLSFeatures(value []byte) ([]int, error) {
	var features []int
	rest, err := asn1.Unmarshal(value, &features)
	if err != nil {
		return nil, fmt.Errorf("the TLS Feature extension is not a SEQUENCE OF INTEGER: %w", err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("the TLS Feature extension has %d bytes after its value", len(rest))
	}
	return features, nil
}

// TLSFeatureName is the TLS extension number f with its name when known,
// e.g. "17 (status_request_v2)".
func TLSFeatureName(f int) string {
	if n, ok := tlsFeatureNames[f]; ok {
		return fmt.Sprintf("%d (%s)", f, n)
	}
	return fmt.Sprint(f)
}

// MustStapleRequested reports whether exts (the extensions a CSR
// requests) ask for OCSP Must-Staple: a TLS Feature extension listing
// status_request and nothing else (duplicates of it are accepted). An
// extension that is malformed, present twice, empty or lists another
// feature is an error naming what is wrong; no extension is false, nil.
func MustStapleRequested(exts []pkix.Extension) (bool, error) {
	var found *pkix.Extension
	for i := range exts {
		if !exts[i].Id.Equal(OIDTLSFeature) {
			continue
		}
		if found != nil {
			return false, fmt.Errorf("the TLS Feature extension (%s) is present twice", OIDTLSFeature)
		}
		found = &exts[i]
	}
	if found == nil {
		return false, nil
	}
	features, err := ParseTLSFeatures(found.Value)
	if err != nil {
		return false, err
	}
	if len(features) == 0 {
		return false, fmt.Errorf("the TLS Feature extension (%s) lists no feature; for OCSP Must-Staple it lists status_request (5)", OIDTLSFeature)
	}
	// The other features, each once, in order; at most
	// maxNamedTLSFeatures are named, so that a CSR listing thousands
	// costs neither quadratic time nor a problem document as large.
	var other []string
	seen := map[int]bool{}
	for _, f := range features {
		if f == TLSFeatureStatusRequest || seen[f] {
			continue
		}
		seen[f] = true
		if len(other) < maxNamedTLSFeatures {
			other = append(other, TLSFeatureName(f))
		}
	}
	if len(seen) > 0 {
		list := strings.Join(other, ", ")
		if more := len(seen) - len(other); more > 0 {
			list += fmt.Sprintf(" and %d other features", more)
		}
		return false, fmt.Errorf("the TLS Feature extension (%s) requests %s; only status_request (5), OCSP Must-Staple, is supported",
			OIDTLSFeature, list)
	}
	return true, nil
}

// maxNamedTLSFeatures is how many unsupported features MustStapleRequested
// names in its error at most.
const maxNamedTLSFeatures = 8
