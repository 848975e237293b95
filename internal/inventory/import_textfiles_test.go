package inventory_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store/storetest"
)

// certbotREADME is the README certbot writes into every live/NAME/
// directory (certbot 2.1, Debian 12).
const certbotREADME = `This directory contains your keys and certificates.

` + "`privkey.pem`" + `  : the private key for your certificate.
` + "`fullchain.pem`" + `: the certificate file used in most server software.
` + "`chain.pem`" + `    : used for OCSP stapling in Nginx >=1.3.7.
` + "`cert.pem`" + `     : will break many server configurations, and should not be used
                 without reading further documentation (see link below).

WARNING: DO NOT MOVE OR RENAME THESE FILES!
         Certbot expects these files to remain in this location in order
         to function properly!

We recommend not moving these files. For more information, see the Certbot
User Guide at https://certbot.eff.org/docs/using.html#where-are-my-certificates.
`

// TestImportDirectorySkipsTextFiles imports directories as certbot
// (live/NAME/ with its README) and lego (certificates/ with NAME.json)
// leave them: the text files beside the certificates hold no PEM block and
// are skipped, not rejected, so the import exits 0 as docs/inventory.md
// promises for certbot's live/NAME/ (it rejected the README: "not a PEM,
// DER or PKCS#7 certificate file", exit status 1). Named on the command
// line, such a file is still rejected, and so is a binary file in a
// directory that is no certificate.
func TestImportDirectorySkipsTextFiles(t *testing.T) {
	p := newTestPKI(t)
	leaf := p.leaf(0, "text.example.com")
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "cert.pem"), pemOf(leaf), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "README"), []byte(certbotREADME), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "text.example.com.json"),
		[]byte(`{"domain": "text.example.com", "certUrl": "https://localhost:8443/acme/cert/1a", "certStableUrl": ""}`+"\n"), 0o600))
	st := storetest.OpenSQLite(t)
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()

	res, err := svc.Import(ctx, []string{dir})
	must(t, err)
	byPath := map[string]inventory.FileResult{}
	for _, r := range res {
		byPath[r.Path] = r
	}
	if r := byPath[filepath.Join(dir, "cert.pem")]; r.Err != nil || len(r.Imported) != 1 {
		t.Fatalf("certificate: %+v (all: %+v)", r, res)
	}
	for _, name := range []string{"README", "text.example.com.json"} {
		r := byPath[filepath.Join(dir, name)]
		if r.Err != nil || r.Skipped == "" {
			t.Errorf("%s in a directory: %+v, want skipped", name, r)
		}
		if want := filepath.Join(dir, name) + ": skipped (text file without a PEM block)"; r.Summary() != want {
			t.Errorf("summary %q, want %q", r.Summary(), want)
		}
	}

	// Named on the command line, the README is rejected.
	res, err = svc.Import(ctx, []string{filepath.Join(dir, "README")})
	must(t, err)
	if len(res) != 1 || res[0].Err == nil {
		t.Errorf("README named as a file: %+v, want rejected", res)
	}

	// A binary file in a directory that is no certificate is rejected.
	bin := t.TempDir()
	must(t, os.WriteFile(filepath.Join(bin, "garbage.der"), []byte{0x00, 0xff, 0x13, 0x37, 0x00, 0x01}, 0o644))
	res, err = svc.Import(ctx, []string{bin})
	must(t, err)
	if len(res) != 1 || res[0].Err == nil {
		t.Errorf("binary garbage in a directory: %+v, want rejected", res)
	}
}
