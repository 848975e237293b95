package web_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store"
	"golang.org/x/net/html"
)

// testBidiEscaped: a certificate's custom attributes and an approval
// request's (set by ACME clients) and an audit event's details carrying
// bidirectional overrides (U+202E, U+2066–U+2069) or control characters
// are shown escaped (\u202e), as the CLI tables show them, so that they
// cannot display as another value.
func testBidiEscaped(t *testing.T, d *dash) {
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := d.now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(777001), Subject: pkix.Name{CommonName: "bidi.example.test"},
		DNSNames: []string{"bidi.example.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	rec := inventory.Record(leaf, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), store.SourceDiscovered)
	rec.Attributes = map[string]string{"owner": "ops\u2067@evil\u2069\x1b[2J"}
	if err := d.st.InsertCertificates(ctx, []*store.Certificate{rec}); err != nil {
		t.Fatal(err)
	}
	ap := d.pendingApprovalWith("bidi", "bidi.example.test", map[string]string{"cost\u202ecenter": "CC\u2066-7\u2069"})
	if err := audit.New(d.st, nil).Record(ctx, audit.Event{Actor: "system", Action: audit.ActionNotificationFail, ObjectType: audit.ObjectNotification,
		ObjectID: "n-bidi", After: map[string]string{"recipient": "x\u202ey"}}); err != nil {
		t.Fatal(err)
	}

	b := d.browser()
	b.signIn(d.tokens[auth.RoleAdmin])
	approvals := "/ui/approvals"
	for i := 0; byID(b.get(approvals).doc, "approval-"+ap) == nil; i++ { // the request on a later page
		next := find(b.get(approvals).doc, func(n *html.Node) bool { return n.Data == "a" && attr(n, "rel") == "next" })
		if next == nil || i == 5 {
			t.Fatalf("approval %s not listed", ap)
		}
		approvals = attr(next, "href")
	}
	for path, want := range map[string][]string{
		"/ui/certificates/" + rec.Serial: {`ops\u2067@evil\u2069\x1b[2J`},
		approvals:                        {`cost\u202ecenter`, `CC\u2066-7\u2069`},
		"/ui/audit":                      {`x\u202ey`},
	} {
		p := b.get(path)
		if p.status != 200 {
			t.Fatalf("%s: %d", path, p.status)
		}
		for _, w := range want {
			if !strings.Contains(p.body, w) {
				t.Errorf("%s does not show %s", path, w)
			}
		}
		if strings.ContainsAny(p.body, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\x1b") {
			t.Errorf("%s shows a raw bidirectional or control character", path)
		}
	}
}
