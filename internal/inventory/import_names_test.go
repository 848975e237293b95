package inventory_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestImportTrailingDotNames: an imported certificate whose DNS SANs are
// written absolute ("WWW.Example.COM.") is recorded under the names the
// inventory's searches use (lower case, no trailing dot, as NormalizeName
// turns a query), so name and suffix searches find it.
func TestImportTrailingDotNames(t *testing.T) {
	p := newTestPKI(t)
	leaf := p.leaf(0, "WWW.Trail.Example.", "*.Trail.Example.")
	st := storetest.OpenSQLite(t)
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()
	res, err := svc.ImportCertificates(ctx, []*x509.Certificate{leaf})
	must(t, err)
	if len(res.Imported) != 1 {
		t.Fatalf("import: %+v", res)
	}
	for _, q := range []inventory.Query{{Name: "www.trail.example"}, {Name: "WWW.trail.example."}, {Name: "*.trail.example"}, {Suffix: "trail.example"}} {
		page, err := svc.List(ctx, q)
		must(t, err)
		if len(page.Items) != 1 {
			t.Errorf("%+v finds %d certificates, want the imported one", q, len(page.Items))
		}
	}
	got, err := svc.Get(ctx, res.Imported[0])
	must(t, err)
	if len(got.Names) != 2 || got.Names[0] != "www.trail.example" || got.Names[1] != "*.trail.example" {
		t.Fatalf("names = %q", got.Names)
	}
}
