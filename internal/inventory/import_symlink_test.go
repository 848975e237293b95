package inventory_test

import (
	"context"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/store/storetest"
)

// TestImportFollowsFileSymlinks imports a directory laid out like
// certbot's (live/NAME/cert.pem a symbolic link into archive/NAME/) and
// such a directory named through a symbolic link: the linked certificate
// is imported (it was silently skipped, exit status 0), a link to a key
// is skipped as no certificate, a dangling link is reported, and a link
// to a directory inside the tree is not followed.
func TestImportFollowsFileSymlinks(t *testing.T) {
	p := newTestPKI(t)
	leaf := p.leaf(0, "linked.example.com")
	dir := t.TempDir()
	archive, live := filepath.Join(dir, "archive", "x"), filepath.Join(dir, "live", "x")
	must(t, os.MkdirAll(archive, 0o755))
	must(t, os.MkdirAll(live, 0o755))
	must(t, os.WriteFile(filepath.Join(archive, "cert1.pem"), pemOf(leaf), 0o644))
	must(t, os.WriteFile(filepath.Join(archive, "privkey1.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p.pkcs8(t)}), 0o600))
	must(t, os.Symlink("../../archive/x/cert1.pem", filepath.Join(live, "cert.pem")))
	must(t, os.Symlink("../../archive/x/privkey1.pem", filepath.Join(live, "privkey.pem")))
	must(t, os.Symlink(archive, filepath.Join(live, "loop"))) // a directory: not followed
	st := storetest.OpenSQLite(t)
	svc := inventory.New(st, func() time.Time { return now })
	ctx := context.Background()

	res, err := svc.Import(ctx, []string{live})
	must(t, err)
	byPath := map[string]inventory.FileResult{}
	for _, r := range res {
		byPath[r.Path] = r
	}
	if r := byPath[filepath.Join(live, "cert.pem")]; r.Err != nil || len(r.Imported) != 1 {
		t.Fatalf("linked certificate: %+v (all: %+v)", r, res)
	}
	if r := byPath[filepath.Join(live, "privkey.pem")]; r.Skipped == "" {
		t.Errorf("linked key: %+v", r)
	}
	if len(res) != 2 {
		t.Errorf("results %+v, want the two linked files only", res)
	}

	// The same directory through a symbolic link: its files are found,
	// named under the path given.
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(live, link))
	must(t, os.Symlink("missing.pem", filepath.Join(live, "dangling.pem")))
	res, err = svc.Import(ctx, []string{link})
	must(t, err)
	byPath = map[string]inventory.FileResult{}
	for _, r := range res {
		byPath[r.Path] = r
	}
	if r := byPath[filepath.Join(link, "cert.pem")]; r.Err != nil || len(r.Present) != 1 {
		t.Fatalf("certificate through a linked directory: %+v (all: %+v)", r, res)
	}
	if r := byPath[filepath.Join(link, "dangling.pem")]; r.Err == nil {
		t.Errorf("dangling link not reported: %+v", res)
	}
}

// TestImportNamesDanglingLinkTarget: a dangling symbolic link, in a
// directory or named itself, is rejected with its target named, not with
// "no such file or directory" for a file that ls lists (dehydrated's
// cert.pem after `dehydrated -r` renamed the certificate it names).
func TestImportNamesDanglingLinkTarget(t *testing.T) {
	ctx := context.Background()
	svc := inventory.New(storetest.OpenSQLite(t), func() time.Time { return now })
	dir := t.TempDir()
	link := filepath.Join(dir, "cert.pem")
	must(t, os.Symlink("cert-1796094790.pem", link))
	want := "symbolic link to cert-1796094790.pem, which does not exist"
	for _, path := range []string{dir, link} {
		res, err := svc.Import(ctx, []string{path})
		must(t, err)
		if len(res) != 1 || res[0].Path != link || res[0].Err == nil || res[0].Error != want {
			t.Errorf("import %s: %+v, want %s rejected: %s", path, res, link, want)
		}
	}
}
