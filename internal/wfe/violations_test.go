package wfe_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
)

// TestViolationsOfIssuedCertificates: certificates issued through ACME
// comply with their profile (no false report on validity or EKUs); after
// the profile is tightened, the violations report lists them with the
// reasons, read from the real issued certificates.
func TestViolationsOfIssuedCertificates(t *testing.T) {
	env := newProfileEnv(t)
	web := policy.Profile{Name: "web", Allow: []string{"*.example.test"}, Validity: policy.Duration(30 * 24 * time.Hour),
		EKUs: []string{"serverAuth"}}
	putProfile(t, env, web)
	c, _ := clRegistered(t, env, nil)
	ctx := clTestCtx(t)
	for _, profile := range []string{"web", ""} {
		ids := acme.DomainIDs("www.example.test")
		var opts []acme.OrderOption
		if profile != "" {
			opts = append(opts, acme.WithOrderIssuanceProfile(acme.ProfileName(profile)))
		}
		o, err := c.AuthorizeOrder(ctx, ids, opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range o.AuthzURLs {
			clSolve(t, env, c, u, "http-01")
		}
		csr, _ := clCsrFor(t, ids, nil)
		if _, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, true); err != nil {
			t.Fatal(err)
		}
	}
	st := env.Server.Store()
	reg, err := policy.NewRegistry(st, ra.DefaultProfile(env.Config.CertValidity, 0, env.Config.ClientAuth, false), time.Nanosecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := inventory.New(st, nil)
	p, err := svc.Violations(context.Background(), reg, inventory.Query{})
	if err != nil {
		t.Fatal(err)
	}
	// The two and the server's listener certificate (scanned, not checked:
	// no profile issued it).
	if len(p.Items) != 0 || p.Scanned != 3 {
		t.Fatalf("freshly issued certificates reported: %+v (scanned %d)", p.Items, p.Scanned)
	}

	// Tighten the profile: other names, a shorter maximum, clientAuth.
	web.Allow = []string{"*.internal.test"}
	web.Validity = policy.Duration(7 * 24 * time.Hour)
	web.EKUs = []string{"clientAuth"}
	if err := web.Validate(); err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(web)
	now := time.Now().UTC()
	if err := st.PutProfile(context.Background(), &store.Profile{Name: web.Name, Spec: spec, CreatedAt: now, UpdatedAt: now}, true); err != nil {
		t.Fatal(err)
	}
	p, err = svc.Violations(context.Background(), reg, inventory.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 || p.Items[0].Certificate.Profile != "web" {
		t.Fatalf("after tightening: %+v", p.Items)
	}
	got := strings.Join(p.Items[0].Reasons, "; ")
	for _, want := range []string{"name www.example.test: not in the profile's allowed names", "validity 30d exceeds the maximum 7d",
		"EKUs [serverAuth] differ from the profile's [clientAuth]"} {
		if !strings.Contains(got, want) {
			t.Errorf("reasons %q lack %q", got, want)
		}
	}
}
