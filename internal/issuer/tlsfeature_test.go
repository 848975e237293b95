package issuer

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
)

// TestMustStapleRequestedManyFeatures: a TLS Feature extension listing
// tens of thousands of distinct unsupported features (what fits in a
// finalize request) is refused with an error naming the first few and
// counting the rest, not one of 240 KB built in quadratic time.
func TestMustStapleRequestedManyFeatures(t *testing.T) {
	var fs []int
	for i := 128; len(fs) < 36000; i++ {
		fs = append(fs, i, TLSFeatureStatusRequest, i)
	}
	v, err := asn1.Marshal(fs)
	if err != nil {
		t.Fatal(err)
	}
	_, err = MustStapleRequested([]pkix.Extension{{Id: OIDTLSFeature, Value: v}})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if len(msg) > 400 {
		t.Fatalf("error of %d bytes: %.300s...", len(msg), msg)
	}
	for _, want := range []string{"requests 128, 129, 130, 131, 132, 133, 134, 135 and 11992 other features;", "only status_request (5)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

// TestMustStapleRequestedEdgeCases: what a CSR's TLS Feature extension
// may hold and whether it asks for Must-Staple.
func TestMustStapleRequestedEdgeCases(t *testing.T) {
	ext := func(v []byte, critical bool) []pkix.Extension {
		return []pkix.Extension{{Id: OIDTLSFeature, Critical: critical, Value: v}}
	}
	for _, tc := range []struct {
		name    string
		exts    []pkix.Extension
		want    bool
		wantErr string
	}{
		{"none", nil, false, ""},
		{"status_request", ext([]byte{0x30, 3, 2, 1, 5}, false), true, ""},
		{"critical", ext([]byte{0x30, 3, 2, 1, 5}, true), true, ""},
		{"twice in the list", ext([]byte{0x30, 6, 2, 1, 5, 2, 1, 5}, false), true, ""},
		{"empty list", ext([]byte{0x30, 0}, false), false, "lists no feature"},
		{"non-minimal integer", ext([]byte{0x30, 4, 2, 2, 0, 5}, false), false, "not a SEQUENCE OF INTEGER"},
		{"negative", ext([]byte{0x30, 3, 2, 1, 0xfb}, false), false, "requests -5;"},
		{"too large", ext(append([]byte{0x30, 11, 2, 9, 1}, make([]byte, 8)...), false), false, "not a SEQUENCE OF INTEGER"},
		{"SET", ext([]byte{0x31, 3, 2, 1, 5}, false), false, "not a SEQUENCE OF INTEGER"},
		{"trailing bytes", ext([]byte{0x30, 3, 2, 1, 5, 0}, false), false, "bytes after its value"},
		{"status_request_v2", ext([]byte{0x30, 6, 2, 1, 5, 2, 1, 17}, false), false, "requests 17 (status_request_v2);"},
		{"extension twice", append(ext([]byte{0x30, 3, 2, 1, 5}, false), ext([]byte{0x30, 3, 2, 1, 5}, false)...), false, "present twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MustStapleRequested(tc.exts)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %v, %v; want %v", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, %v; want an error with %q", got, err, tc.wantErr)
			}
		})
	}
}

// TestParseTLSFeaturesWrapsASN1Error: the error for a value that is not a
// SEQUENCE OF INTEGER wraps encoding/asn1's error, so that a caller can
// tell a syntax error from a structural one (errors.As).
func TestParseTLSFeaturesWrapsASN1Error(t *testing.T) {
	_, err := ParseTLSFeatures([]byte{0x30, 0x05, 0x02})
	var syn asn1.SyntaxError
	if !errors.As(err, &syn) {
		t.Errorf("truncated SEQUENCE: %v (%T), want an error wrapping asn1.SyntaxError", err, err)
	}
	_, err = ParseTLSFeatures([]byte{0x04, 0x01, 0x05}) // OCTET STRING
	var st asn1.StructuralError
	if !errors.As(err, &st) {
		t.Errorf("OCTET STRING: %v (%T), want an error wrapping asn1.StructuralError", err, err)
	}
}
