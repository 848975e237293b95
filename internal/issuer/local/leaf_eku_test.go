package local

import (
	"context"
	"crypto/x509"
	"slices"
	"testing"
)

// TestSignLeafProfileEKUs signs leaves with each EKU set a profile may
// give (internal/policy) with the lint on, and checks the EKUs and that
// the domain-validated policy OID is only present with serverAuth.
func TestSignLeafProfileEKUs(t *testing.T) {
	ca, _ := newTestCA(t, Options{Now: fixedClock, LintBeforeSign: true, IssuerURL: testIssuerURL, CRLURL: testCRLURL})
	for _, tc := range []struct {
		name string
		ekus []x509.ExtKeyUsage
		dv   bool
	}{
		{"serverAuth", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, true},
		{"server+client", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, true},
		{"clientAuth", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false},
		{"emailProtection", []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}, false},
		{"codeSigning", []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := goodRequest(t)
			req.ExtKeyUsages = tc.ekus
			der, err := ca.SignLeaf(context.Background(), req)
			if err != nil {
				t.Fatalf("SignLeaf: %v", err)
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.ExtKeyUsage, tc.ekus) {
				t.Errorf("EKUs %v, want %v", c.ExtKeyUsage, tc.ekus)
			}
			if got := len(c.Policies) == 1 && c.Policies[0].Equal(oidDomainValidated()); got != tc.dv {
				t.Errorf("domain-validated policy present = %v, want %v", got, tc.dv)
			}
		})
	}
}
