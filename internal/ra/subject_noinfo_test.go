package ra_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/certlint"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
)

// TestProfileSubjectFieldsNoInformation: a client profile that copies O,
// OU, ST and L refuses with badCSR, the order staying ready, a value that
// holds no information (CA/B BR §7.1.4.3): only metadata such as "-",
// "." or " " (the lint refused it after processing: the order became
// invalid with serverInternal), or a word saying the value is absent or
// does not apply ("N/A", which the lint let through).
func TestProfileSubjectFieldsNoInformation(t *testing.T) {
	e := newPolicyEnv(t, policy.Profile{Name: "org", RequireEAB: true, PreAuthorized: []string{"*.pre.test"}, Validity: days(30),
		EKUs: []string{"clientAuth"}, SubjectFields: []string{"O", "OU", "C", "ST", "L"}})
	ctx := context.Background()
	a := e.account("org", nil, nil)
	o, azs := e.readyOrder(a, "org", "svc.pre.test")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := func(sub pkix.Name) []byte {
		sub.CommonName = "svc.pre.test"
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"svc.pre.test"}, Subject: sub}, key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for name, sub := range map[string]pkix.Name{
		"O -":               {Organization: []string{"-"}},
		"OU .":              {OrganizationalUnit: []string{"."}},
		"L of spaces":       {Locality: []string{"   "}},
		"ST ...":            {Province: []string{"..."}},
		"O ellipsis":        {Organization: []string{"\u2026"}},
		"O N/A":             {Organization: []string{"N/A"}},
		"OU n.a.":           {OrganizationalUnit: []string{"n.a."}},
		"L None":            {Locality: []string{"None"}},
		"ST Not applicable": {Province: []string{"Not applicable"}},
	} {
		_, err := e.ra.Finalize(ctx, a, o, azs, csr(sub), nil)
		if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadCSR || !strings.Contains(p.Detail, "7.1.4.3") {
			t.Errorf("%s: %v, want badCSR citing CA/B BR 7.1.4.3", name, err)
		}
		cur, err := e.st.GetOrder(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st := ra.OrderStatus(cur, azs, time.Now()); st != acme.StatusReady {
			t.Fatalf("%s: the order is %s after the refused CSR, want ready", name, st)
		}
	}
	// An attribute given twice (separate RDNs in the CSR) was copied as
	// one multi-valued RDN, "O = A + O = B".
	_, err := e.ra.Finalize(ctx, a, o, azs, csr(pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: []int{2, 5, 4, 10}, Value: "Alpha"}, {Type: []int{2, 5, 4, 10}, Value: "Beta"}}}), nil)
	if p, ok := acme.AsProblem(err); !ok || p.Type != acme.BadCSR || !strings.Contains(p.Detail, `2 O attributes ("Alpha", "Beta")`) {
		t.Errorf("two O attributes: %v, want badCSR naming them", err)
	}
	done, err := e.ra.Finalize(ctx, a, o, azs, csr(pkix.Name{Organization: []string{"NASA"}, OrganizationalUnit: []string{"R&D"}, Locality: []string{"Köln"}}), nil)
	if err != nil {
		t.Fatalf("a CSR with information: %v", err)
	}
	rec, _ := e.st.GetCertificate(ctx, done.CertSerial)
	if err := certlint.Check(rec.DER); err != nil {
		t.Errorf("zlint: %v", err)
	}
}
