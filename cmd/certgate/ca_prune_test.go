package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/store"
	"github.com/certgate/certgate/internal/store/storetest"
)

// leafOfCurrent is a certificate for name that the current intermediate of
// data's CA signed, valid until notAfter (which may be past), stored in the
// database as issued here.
func leafOfCurrent(t *testing.T, st *store.Store, data, name string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	dir := server.CADir(data)
	inter, err := local.ReadIntermediate(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, local.IntermediateKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := local.RandomSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notAfter.Add(-90 * 24 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, key.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if err := st.InsertCertificates(context.Background(), []*store.Certificate{{Serial: serial.Text(16), Issuer: "local", DER: der, SANs: []string{name},
		KeyType: "ECDSA P-256", FingerprintSHA256: hex.EncodeToString(sum[:]), NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		Status: store.StatusValid, CreatedAt: time.Now(), Source: store.SourceIssued}}); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCAPruneRetired: `certgate ca prune-retired` removes the key of a
// retired intermediate whose certificates all expired more than two CRL
// validities ago (the last CRL listing one is past its nextUpdate), and
// keeps, saying why, one whose last certificate expired a day ago (its
// CRL still current) and one with an unexpired certificate (how many,
// until when); naming a kept one is an error in one line. --dry-run
// changes nothing. The pruned intermediate keeps its certificate, the
// server starts with it (it signs nothing; the certificates it signed are
// still this CA's: local.ReadIntermediates), and the pruning is audited.
// ca export --with-retired carries them all to another node (ca import).
// The former code had no way to drop a retired intermediate's key, and
// exported the current intermediate only.
func TestCAPruneRetired(t *testing.T) {
	data := t.TempDir()
	t.Run("serve", func(t *testing.T) {
		if _, err := startNode(t, data, ""); err != nil {
			t.Fatal(err)
		}
	})
	// The test judges the leaves it records below: the server's listener
	// certificate, which the first intermediate signed and which would
	// keep it for 45 days (docs/pki.md), is taken out of the inventory.
	raw := storetest.RawDB(t, server.DSN(data, ""))
	for _, q := range []string{`DELETE FROM certificate_names WHERE serial IN (SELECT serial FROM certificates WHERE source = 'listener')`,
		`DELETE FROM certificate_attributes WHERE serial IN (SELECT serial FROM certificates WHERE source = 'listener')`,
		`DELETE FROM certificates WHERE source = 'listener'`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := store.OpenExisting(ctx, server.DSN(data, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	rotate := func() string {
		t.Helper()
		cur, err := local.ReadIntermediate(server.CADir(data))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data); err != nil {
			t.Fatal(err)
		}
		return local.IntermediateID(cur)
	}
	leafOfCurrent(t, st, data, "long-gone.example.test", now.Add(-72*time.Hour))
	gone := rotate()
	leafOfCurrent(t, st, data, "just-expired.example.test", now.Add(-30*time.Hour))
	recent := rotate()
	leafOfCurrent(t, st, data, "valid.example.test", now.Add(240*time.Hour))
	leafOfCurrent(t, st, data, "valid2.example.test", now.Add(120*time.Hour))
	busy := rotate()
	keyOf := func(id string) string {
		return filepath.Join(server.CADir(data), local.RetiredDir, id, local.IntermediateKeyFile)
	}

	out, _, err := runCLI(t, nil, "ca", "prune-retired", "--data", data, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "would prune "+gone) || !strings.Contains(out, "kept "+recent) || !strings.Contains(out, "kept "+busy) ||
		!strings.Contains(out, "2 certificate(s) it signed are unexpired") || strings.Count(out, "\n") != 3 {
		t.Errorf("dry run printed %q", out)
	}
	for _, id := range []string{gone, recent, busy} {
		if _, err := os.Stat(keyOf(id)); err != nil {
			t.Errorf("the dry run removed the key of %s: %v", id, err)
		}
	}
	for _, id := range []string{busy, recent} {
		// The refusal is the error alone: no "kept" line on stdout too.
		out, _, err := runCLI(t, nil, "ca", "prune-retired", "--data", data, id)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "cannot prune the intermediate "+id+": ") || out != "" {
			t.Errorf("prune-retired %s: %q, %v, want refused in one line and nothing on stdout", id, out, err)
		}
	}
	out, _, err = runCLI(t, nil, "ca", "prune-retired", "--data", data, busy, recent)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "cannot prune the intermediate "+busy+": ") ||
		!strings.Contains(err.Error(), "; cannot prune the intermediate "+recent+": ") || out != "" {
		t.Errorf("prune-retired %s %s: %q, %v, want both refusals in one line and nothing on stdout", busy, recent, out, err)
	}
	// revoke-intermediate names its own operation (it said "cannot rotate").
	want := "local CA: cannot revoke the intermediate: no retired intermediate 0000 in " + filepath.Join(server.CADir(data), local.RetiredDir)
	if _, _, err := runCLI(t, nil, "ca", "revoke-intermediate", "0000", "--data", data); err == nil || err.Error() != want {
		t.Errorf("revoke-intermediate 0000: %v, want %q", err, want)
	}
	out, _, err = runCLI(t, nil, "ca", "prune-retired", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "pruned "+gone) {
		t.Errorf("prune-retired printed %q", out)
	}
	if _, err := os.Stat(keyOf(gone)); !os.IsNotExist(err) {
		t.Errorf("the key of the pruned intermediate: %v, want removed", err)
	}
	for _, id := range []string{recent, busy} {
		if _, err := os.Stat(keyOf(id)); err != nil {
			t.Errorf("the key of the kept intermediate %s: %v", id, err)
		}
	}
	if _, _, err := runCLI(t, nil, "ca", "prune-retired", "--data", data, gone); err == nil || !strings.Contains(err.Error(), "pruned already") {
		t.Errorf("pruning twice: %v, want refused", err)
	}
	// A pruned intermediate can still be revoked (its certificate is
	// valid until its notAfter; the root key signs the root's CRL), and
	// the revocation is audited with the intermediate's status before it.
	// The former code said there was no such intermediate.
	out, _, err = runCLI(t, nil, "ca", "revoke-intermediate", gone, "--data", data, "--reason", "cACompromise")
	if err != nil {
		t.Fatalf("revoke-intermediate of the pruned intermediate: %v", err)
	}
	if !strings.Contains(out, "revoked the intermediate "+gone) {
		t.Errorf("revoke-intermediate printed %q", out)
	}
	revoked, err := local.RevokedIntermediateCerts(server.CADir(data))
	if err != nil || len(revoked) != 1 || local.IntermediateID(revoked[0]) != gone {
		t.Fatalf("RevokedIntermediateCerts: %d, %v; want %s", len(revoked), err, gone)
	}
	der, err := os.ReadFile(filepath.Join(server.CADir(data), local.RootCRLFile))
	if err != nil {
		t.Fatal(err)
	}
	if crl, err := x509.ParseRevocationList(der); err != nil || len(crl.RevokedCertificateEntries) != 1 ||
		crl.RevokedCertificateEntries[0].SerialNumber.Cmp(revoked[0].SerialNumber) != 0 || crl.RevokedCertificateEntries[0].ReasonCode != 2 {
		t.Errorf("root CRL after revoking the pruned intermediate: %v, want it listed, cACompromise", err)
	}
	revs, err := audit.New(st, nil).List(ctx, store.AuditFilter{Action: audit.ActionIntermediateRevoke})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].ObjectID != gone || !strings.Contains(revs[0].Before, `"status":"pruned"`) || !strings.Contains(revs[0].After, `"status":"revoked"`) {
		t.Errorf("audit: %+v, want one intermediate.revoke of %s, before pruned, after revoked", revs, gone)
	}
	inters, err := local.ReadIntermediates(server.CADir(data))
	if err != nil || len(inters) != 4 {
		t.Errorf("ReadIntermediates after pruning: %d, %v; want all 4, the pruned one included", len(inters), err)
	}
	evs, err := audit.New(st, nil).List(ctx, store.AuditFilter{Action: audit.ActionIntermediatePrune})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ObjectID != gone || !strings.HasPrefix(evs[0].Actor, "cli:") {
		t.Errorf("audit: %+v, want one intermediate.prune of %s by the CLI user", evs, gone)
	}
	srv, err := startNode(t, data, "")
	if err != nil {
		t.Fatalf("serve after pruning: %v", err)
	}
	if p := srv.CA().Pruned(); len(p) != 1 || local.IntermediateID(p[0]) != gone || len(srv.CA().Retired()) != 2 {
		t.Errorf("the server has %d pruned, %d retired intermediates; want %s pruned, 2 retired", len(p), len(srv.CA().Retired()), gone)
	}

	// ca export --with-retired | ca import: the other node has them all.
	bundle, stderr, err := runCLI(t, nil, "ca", "export", "--data", data, "--with-retired")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "retired intermediates") {
		t.Errorf("export --with-retired warned %q, want it to name the retired intermediates' keys", stderr)
	}
	node2 := filepath.Join(t.TempDir(), "node2")
	if _, _, err := runCLI(t, []byte(bundle), "ca", "import", "--data", node2); err != nil {
		t.Fatal(err)
	}
	srv2, err := startNode(t, node2, "")
	if err != nil {
		t.Fatal(err)
	}
	if !srv2.CA().Intermediate().Equal(srv.CA().Intermediate()) || !srv2.CA().Rotated() || len(srv2.CA().Retired()) != 2 || len(srv2.CA().Pruned()) != 1 {
		t.Errorf("imported node: rotated %v, %d retired, %d pruned; want the same CA as the first, 2 retired, 1 pruned",
			srv2.CA().Rotated(), len(srv2.CA().Retired()), len(srv2.CA().Pruned()))
	}
}

// TestCAPruneRetiredRefusesOtherDatabase: prune-retired counts the
// certificates a retired intermediate signed in the database it opens, so
// it refuses one that does not record the intermediate signing in DATA/ca:
// here the SQLite file left in the data directory after the servers moved
// to PostgreSQL, where the rotation happened. The former code judged by
// that stale file, which lacks every certificate issued after the move,
// and could remove a key that still signs CRLs for valid certificates.
// The database the servers use is accepted.
func TestCAPruneRetiredRefusesOtherDatabase(t *testing.T) {
	data := t.TempDir()
	dsn := storetest.PostgresDSN(t)
	for _, db := range []string{"", dsn} { // SQLite first, then the move to PostgreSQL
		t.Run("serve", func(t *testing.T) {
			if _, err := startNode(t, data, db); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, _, err := runCLI(t, nil, "ca", "rotate", "--data", data, "--db", dsn); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--dry-run"}, {}} {
		_, _, err := runCLI(t, nil, append([]string{"ca", "prune-retired", "--data", data}, args...)...)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "this database records the intermediate") ||
			!strings.Contains(err.Error(), "--db") {
			t.Errorf("prune-retired %v on the stale SQLite file: %v, want refused in one line naming --db", args, err)
		}
	}
	// The retired intermediate signed the servers' listener certificates
	// (recorded, unexpired: docs/pki.md), which keep it: judged, not refused.
	out, _, err := runCLI(t, nil, "ca", "prune-retired", "--data", data, "--db", dsn, "--dry-run")
	if err != nil || !strings.Contains(out, "kept ") || !strings.Contains(out, "certificate(s) it signed are unexpired") {
		t.Errorf("prune-retired --db of the servers' database: %q, %v; want the retired intermediate judged, kept by the listener certificate it signed", out, err)
	}
}

// TestCAPruneRetiredWithoutCA: prune-retired on a data directory without a
// CA says it cannot prune, in one line; it said "cannot rotate".
func TestCAPruneRetiredWithoutCA(t *testing.T) {
	data := filepath.Join(t.TempDir(), "nonexist")
	for _, args := range [][]string{{"--dry-run"}, {}} {
		out, _, err := runCLI(t, nil, append([]string{"ca", "prune-retired", "--data", data}, args...)...)
		want := "local CA: cannot prune: no CA in " + server.CADir(data) + " yet: `certgate serve` creates it on its first run"
		if err == nil || err.Error() != want || out != "" {
			t.Errorf("prune-retired %v without a CA: %q, %v, want %q", args, out, err, want)
		}
	}
}
