package local

import (
	"bytes"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExportWithRetiredRoundTrip: ExportWithRetired carries a rotated
// CA's retired intermediates, the original one first, a pruned one as its
// certificate alone, and ends with the root's CRL; Import restores them
// (keys, OriginalFile, PrunedFile, RevokedFile from the CRL), so that the
// node loads the same CA: the current intermediate told as rotated, the
// retired ones signing CRLs, the pruned one without key, the revoked one
// on the root's CRL. Export alone still carries the current intermediate
// only (four blocks). The former code had no way to export the retired
// intermediates: a node made from the bundle could not sign the CRL and
// OCSP of the certificates they signed.
func TestExportWithRetiredRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	if _, err := LoadOrCreate(dir, Options{Now: fixedClock}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 3 {
		old, _, err := Rotate(dir, RotateOptions{Now: func() time.Time { return testNow.Add(time.Duration(i+1) * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, IntermediateID(old))
	}
	original, revoked, pruned := ids[0], ids[1], ids[2]
	if _, err := RevokeIntermediate(dir, revoked, 4, testNow.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := PruneRetired(dir, pruned, testNow.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	plain, _, _, err := Export(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(plain, []byte("-----BEGIN ")); n != 4 {
		t.Errorf("Export: %d blocks, want 4 (the current intermediate only)", n)
	}
	bundle, _, _, err := ExportWithRetired(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 4, then the original and the revoked one with keys, the pruned one
	// without, then the CRL.
	if n := bytes.Count(bundle, []byte("-----BEGIN ")); n != 4+2+2+1+1 || !bytes.HasSuffix(bytes.TrimSpace(bundle), []byte("-----END X509 CRL-----")) {
		t.Fatalf("ExportWithRetired: %d blocks, want 10 ending with the root's CRL", n)
	}
	to := filepath.Join(t.TempDir(), "ca")
	if _, err := Import(to, bundle); err != nil {
		t.Fatal(err)
	}
	if got := originalID(to); got != original {
		t.Errorf("imported OriginalFile %q, want %s", got, original)
	}
	if _, err := os.Stat(filepath.Join(to, RetiredDir, pruned, PrunedFile)); err != nil {
		t.Errorf("imported pruned intermediate: %v", err)
	}
	src, err := LoadOrCreate(dir, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadOrCreate(to, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Intermediate().Equal(src.Intermediate()) || !got.Rotated() {
		t.Errorf("imported CA signs with %q (rotated %v), want %q, rotated", got.Intermediate().Subject, got.Rotated(), src.Intermediate().Subject)
	}
	if len(got.Retired()) != 2 || len(got.Pruned()) != 1 || IntermediateID(got.Pruned()[0]) != pruned {
		t.Fatalf("imported CA: %d retired, %d pruned; want 2 and %s", len(got.Retired()), len(got.Pruned()), pruned)
	}
	for _, r := range got.Retired() {
		if _, err := r.SignCRL(big.NewInt(1), testNow, testNow.Add(time.Hour), nil); err != nil {
			t.Errorf("retired intermediate %s of the imported CA cannot sign its CRL: %v", IntermediateID(r.Intermediate()), err)
		}
	}
	if rev := got.RevokedIntermediates(); len(rev) != 1 || IntermediateID(rev[0].Cert) != revoked || rev[0].Reason != 4 {
		t.Errorf("imported CA's revoked intermediates %+v, want %s (superseded)", rev, revoked)
	}

	// A bundle ending with a CRL but a retired block that is the root.
	i := bytes.Index(bundle, []byte("-----BEGIN PRIVATE KEY-----"))
	root := bundle[:i]
	bad := append(append(bytes.Clone(plain), root...), bundle[bytes.LastIndex(bundle, []byte("-----BEGIN X509 CRL-----")):]...)
	if _, err := Import(filepath.Join(t.TempDir(), "ca"), bad); !errors.Is(err, ErrInvalidBundle) || !strings.Contains(err.Error(), "self-signed") {
		t.Errorf("Import of a bundle whose retired intermediate is the root: %v, want refused", err)
	}
}
