package local

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgate/certgate/internal/certlint"
)

// TestRotateTwiceAndKeyType: each rotation retires the intermediate that
// signed (RetiredDir/ID) and loads with the earlier ones, oldest first;
// the new one has the old one's profile and URLs, a new name, the current
// key type or the one asked (here RSA-2048), and is lint-clean; its leaves
// chain to the root through it. A retired intermediate signs CRLs and OCSP
// responses but refuses leaves.
func TestRotateTwiceAndKeyType(t *testing.T) {
	const rootURL, rootCRLURL = "http://ca.example.test:80/pki/root.crt", "http://ca.example.test:80/pki/root.crl"
	dir := filepath.Join(t.TempDir(), "ca")
	first, err := LoadOrCreate(dir, Options{Now: fixedClock, RootIssuerURL: rootURL, RootCRLURL: rootCRLURL, Country: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := Rotate(dir, RotateOptions{Now: func() time.Time { return testNow.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if second.PublicKeyAlgorithm != x509.ECDSA || second.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Errorf("first rotation: key %v, want the current type (ECDSA P-256)", second.PublicKeyAlgorithm)
	}
	_, third, err := Rotate(dir, RotateOptions{Now: func() time.Time { return testNow.Add(2 * time.Hour) }, KeyType: "rsa-2048"})
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := third.PublicKey.(*rsa.PublicKey); !ok || k.N.BitLen() != 2048 {
		t.Errorf("second rotation: key %T, want RSA-2048", third.PublicKey)
	}
	ca, err := LoadOrCreate(dir, Options{Now: fixedClock, LintBeforeSign: true, IssuerURL: "http://ca.example.test/pki/intermediate.crt", CRLURL: "http://ca.example.test/pki/crl",
		RotatedURLs: func(id string) (string, string) {
			return "http://ca.example.test/pki/ca/" + id + "/intermediate.crt", "http://ca.example.test/pki/ca/" + id + "/crl"
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Intermediate().Equal(third) || !ca.Rotated() {
		t.Fatalf("loaded intermediate %q (rotated %v), want the third, rotated", ca.Intermediate().Subject, ca.Rotated())
	}
	ret := ca.Retired()
	if len(ret) != 2 || !ret[0].Intermediate().Equal(first.Intermediate()) || ret[0].Rotated() || !ret[1].Intermediate().Equal(second) || !ret[1].Rotated() {
		t.Fatalf("Retired: %d, want the first (not rotated) and the second (rotated)", len(ret))
	}
	for i, c := range []*x509.Certificate{second, third} {
		if !slices.Equal(c.CRLDistributionPoints, []string{rootCRLURL}) || !slices.Equal(c.IssuingCertificateURL, []string{rootURL}) ||
			!slices.Equal(c.Subject.Country, []string{"DE"}) || c.Subject.CommonName == first.Intermediate().Subject.CommonName ||
			!c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
			t.Errorf("rotation %d: %q, CRL DP %q, AIA %q: want the first one's profile, URLs and country under a new name", i+1, c.Subject, c.CRLDistributionPoints, c.IssuingCertificateURL)
		}
		res, err := certlint.Lint(c.Raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range res.Findings {
			t.Errorf("rotation %d: %s", i+1, f)
		}
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := RandomSerial()
	req := LeafRequest{Serial: serial, PublicKey: key.Public(), DNSNames: []string{"www.example.test"}, NotBefore: testNow, NotAfter: testNow.Add(30 * 24 * time.Hour)}
	der, err := ca.SignLeaf(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if err := leaf.CheckSignatureFrom(third); err != nil {
		t.Errorf("leaf not signed by the new intermediate: %v", err)
	}
	if want := "http://ca.example.test/pki/ca/" + IntermediateID(third) + "/crl"; !slices.Equal(leaf.CRLDistributionPoints, []string{want}) {
		t.Errorf("leaf CRL DP %q, want %s (RotatedURLs)", leaf.CRLDistributionPoints, want)
	}
	if _, err := ret[0].SignLeaf(context.Background(), req); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("a retired intermediate signed a leaf: %v", err)
	}
}

// TestRotateRefused: without the root key, in a three-tier CA (the
// intermediate's issuer is not the root), or with a key type not offered,
// Rotate refuses (ErrRotate) and changes nothing.
func TestRotateRefused(t *testing.T) {
	_, dir := newTestCA(t, Options{})
	if _, _, err := Rotate(dir, RotateOptions{KeyType: "ed25519"}); !errors.Is(err, ErrRotate) || !strings.Contains(err.Error(), "ed25519") {
		t.Errorf("key type ed25519: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, dir)
	if _, _, err := Rotate(dir, RotateOptions{}); !errors.Is(err, ErrRotate) || !strings.Contains(err.Error(), RootKeyFile) {
		t.Errorf("without the root key: %v", err)
	}
	if after := readAll(t, dir); len(after) != len(before) {
		t.Errorf("a refused rotation changed %s", dir)
	}

	root, policy, issuing := threeTier(t, -1, 1)
	three := filepath.Join(t.TempDir(), "ca")
	if _, err := Import(three, joinBlocks(certBlock(root.cert), keyBlock(t, root.key), certBlock(policy.cert), certBlock(issuing.cert), keyBlock(t, issuing.key))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Rotate(three, RotateOptions{}); !errors.Is(err, ErrRotate) || !strings.Contains(err.Error(), ChainFile) {
		t.Errorf("three tiers: %v", err)
	}
	if _, err := os.Stat(filepath.Join(three, RetiredDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused rotation made %s", RetiredDir)
	}
	// Three tiers without the root key: the chain.crt is named, not the
	// root key (asked for first, it was no use once put back).
	if err := os.Remove(filepath.Join(three, RootKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Rotate(three, RotateOptions{}); !errors.Is(err, ErrRotate) || !strings.Contains(err.Error(), ChainFile) || strings.Contains(err.Error(), "put it back") {
		t.Errorf("three tiers without the root key: %v, want the chain.crt refusal", err)
	}
}

// TestRevokeIntermediateRootCRL: a revoked retired intermediate is listed
// on the root's CRL (signed anew at once, written to RootCRLFile, and kept
// at the next load), with its reason; the one that signs cannot be
// revoked, nor one twice.
func TestRevokeIntermediateRootCRL(t *testing.T) {
	ca, dir := newTestCA(t, Options{})
	old, _, err := Rotate(dir, RotateOptions{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if !old.Equal(ca.Intermediate()) {
		t.Fatal("Rotate retired another intermediate")
	}
	if got, err := RevokedIntermediateCerts(dir); err != nil || len(got) != 0 {
		t.Fatalf("RevokedIntermediateCerts before the revocation: %d, %v; want none", len(got), err)
	}
	if _, err := RevokeIntermediate(dir, IntermediateID(old), 1, testNow); err != nil {
		t.Fatal(err)
	}
	// The revoked one's certificate, read without any key (renewal
	// windows of `cert show`).
	if got, err := RevokedIntermediateCerts(dir); err != nil || len(got) != 1 || !got[0].Equal(old) {
		t.Fatalf("RevokedIntermediateCerts: %d, %v; want the revoked intermediate", len(got), err)
	}
	if _, err := RevokedIntermediateCerts(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RevokedIntermediateCerts of a directory without a CA: %v, want fs.ErrNotExist", err)
	}
	if _, err := RevokeIntermediate(dir, IntermediateID(old), 1, testNow); !errors.Is(err, ErrRotate) {
		t.Errorf("revoked twice: %v", err)
	}
	loaded, err := LoadOrCreate(dir, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RevokeIntermediate(dir, IntermediateID(loaded.Intermediate()), 1, testNow); !errors.Is(err, ErrRotate) {
		t.Errorf("revoked the intermediate that signs: %v", err)
	}
	der, err := loaded.RootCRL()
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(loaded.Root()); err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(old.SerialNumber) != 0 || crl.RevokedCertificateEntries[0].ReasonCode != 1 {
		t.Errorf("root CRL lists %+v, want the retired intermediate, keyCompromise", crl.RevokedCertificateEntries)
	}
	res, err := certlint.LintCACRL(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		t.Errorf("root CRL: %s", f)
	}
}

// TestAdoptRootCRL: a root CRL that another node of the cluster signed is
// adopted (served and written to RootCRLFile) when the root signed it and
// its number is greater; an older one, or another root's, is not.
func TestAdoptRootCRL(t *testing.T) {
	a, dir := newTestCA(t, Options{})
	first, err := a.RootCRL()
	if err != nil {
		t.Fatal(err)
	}
	// A second node with a copy of the CA signs its own, later.
	copyDir := filepath.Join(t.TempDir(), "ca")
	if err := os.MkdirAll(copyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(copyDir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := LoadOrCreate(copyDir, Options{Now: func() time.Time { return testNow.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	newer, _ := b.RootCRL()
	if ok, err := b.AdoptRootCRL(first); ok || err != nil {
		t.Errorf("adopted an older root CRL: %v %v", ok, err)
	}
	if ok, err := a.AdoptRootCRL(newer); !ok || err != nil {
		t.Fatalf("did not adopt the newer root CRL: %v %v", ok, err)
	}
	if got, _ := a.RootCRL(); !slices.Equal(got, newer) {
		t.Error("RootCRL does not serve the adopted CRL")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, RootCRLFile)); !slices.Equal(got, newer) {
		t.Errorf("%s is not the adopted CRL", RootCRLFile)
	}
	other, _ := newTestCA(t, Options{Now: func() time.Time { return testNow.Add(2 * time.Hour) }})
	otherCRL, _ := other.RootCRL()
	if ok, _ := a.AdoptRootCRL(otherCRL); ok {
		t.Error("adopted another root's CRL")
	}
	// LoadOrCreate adopts the cluster's before it would sign its own.
	if err := os.Remove(filepath.Join(dir, RootCRLFile)); err != nil {
		t.Fatal(err)
	}
	c, err := LoadOrCreate(dir, Options{Now: fixedClock, ClusterRootCRL: newer})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := c.RootCRL(); !slices.Equal(got, newer) {
		t.Error("LoadOrCreate signed a root CRL of its own beside the cluster's")
	}
}

// TestRotateInterrupted: a rotation killed before it renamed the new key
// into place is undone at the next load (the current intermediate keeps
// signing, not also loaded as a retired one); one killed between the key's
// rename and the certificate's is completed. Either way the CA loads,
// where a key and certificate of two intermediates would be refused.
func TestRotateInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		renameKey bool // the key was renamed into place before the kill
	}{{"before the renames", false}, {"between the renames", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ca, dir := newTestCA(t, Options{})
			_, cur, err := Rotate(dir, RotateOptions{Now: fixedClock})
			if err != nil {
				t.Fatal(err)
			}
			// Put the state back to the moment of the kill: the old
			// intermediate in place, the new one's files beside it.
			retired := filepath.Join(dir, RetiredDir, IntermediateID(ca.Intermediate()))
			for _, name := range []string{IntermediateKeyFile, IntermediateCertFile} {
				if err := os.Rename(filepath.Join(dir, name), filepath.Join(dir, name+newSuffix)); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(filepath.Join(retired, name))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.renameKey {
				if err := os.Rename(filepath.Join(dir, IntermediateKeyFile+newSuffix), filepath.Join(dir, IntermediateKeyFile)); err != nil {
					t.Fatal(err)
				}
			}
			loaded, err := LoadOrCreate(dir, Options{Now: fixedClock})
			if err != nil {
				t.Fatalf("load after the kill: %v", err)
			}
			want := ca.Intermediate()
			if tc.renameKey {
				want = cur
			}
			if !loaded.Intermediate().Equal(want) {
				t.Fatalf("loaded %q, want %q", loaded.Intermediate().Subject, want.Subject)
			}
			for _, r := range loaded.Retired() {
				if r.Intermediate().Equal(loaded.Intermediate()) {
					t.Error("the current intermediate is loaded as a retired one too")
				}
			}
			if loaded.Rotated() != tc.renameKey {
				t.Errorf("Rotated() = %v, want %v", loaded.Rotated(), tc.renameKey)
			}
			for _, name := range []string{IntermediateKeyFile + newSuffix, IntermediateCertFile + newSuffix} {
				if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind", name)
				}
			}
		})
	}
}

// TestRootCRLKeepsAdoptedRevocation: a node that adopted the cluster's
// root CRL listing an intermediate revoked on another node's data
// directory (which its own lacks) keeps the entry when it signs the next
// root CRL (half its validity later), rather than dropping the revocation.
func TestRootCRLKeepsAdoptedRevocation(t *testing.T) {
	a, dirA := newTestCA(t, Options{})
	dirB := filepath.Join(t.TempDir(), "ca")
	if err := os.MkdirAll(dirB, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile} {
		b, err := os.ReadFile(filepath.Join(dirA, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dirB, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	later := func() time.Time { return testNow.Add(time.Hour) }
	if _, _, err := Rotate(dirB, RotateOptions{Now: later}); err != nil {
		t.Fatal(err)
	}
	if _, err := RevokeIntermediate(dirB, IntermediateID(a.Intermediate()), 2, later()); err != nil {
		t.Fatal(err)
	}
	published, err := os.ReadFile(filepath.Join(dirB, RootCRLFile))
	if err != nil {
		t.Fatal(err)
	}
	halfYear := testNow.Add(RootCRLValidity/2 + 24*time.Hour)
	node, err := LoadOrCreate(dirA, Options{Now: func() time.Time { return halfYear }, ClusterRootCRL: published})
	if err != nil {
		t.Fatal(err)
	}
	der, err := node.RootCRL()
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if !crl.ThisUpdate.After(testNow.Add(RootCRLValidity / 2)) {
		t.Fatalf("thisUpdate %v: the node did not sign a new root CRL", crl.ThisUpdate)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(a.Intermediate().SerialNumber) != 0 ||
		crl.RevokedCertificateEntries[0].ReasonCode != 2 {
		t.Fatalf("the node's new root CRL lists %+v, want the intermediate revoked on the other node", crl.RevokedCertificateEntries)
	}
}

// TestBackupRestoreKeepsRetired: CopyForBackup and Restore of a rotated CA
// carry its retired intermediates (keys mode 0600), which keep signing the
// CRL and OCSP of their certificates, and the revocation of one: the
// restored CA loads with them.
func TestBackupRestoreKeepsRetired(t *testing.T) {
	ca, dir := newTestCA(t, Options{})
	if _, _, err := Rotate(dir, RotateOptions{Now: func() time.Time { return testNow.Add(time.Hour) }}); err != nil {
		t.Fatal(err)
	}
	if _, err := RevokeIntermediate(dir, IntermediateID(ca.Intermediate()), 4, testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup")
	if _, err := CopyForBackup(dir, backup); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "ca")
	if _, err := Restore(restored, backup); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(restored, RetiredDir, IntermediateID(ca.Intermediate()), IntermediateKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored retired key: %v %v, want mode 0600", fi, err)
	}
	got, err := LoadOrCreate(restored, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Retired(); len(r) != 1 || !r[0].Intermediate().Equal(ca.Intermediate()) || !got.Rotated() {
		t.Fatalf("restored CA: %d retired, rotated %v; want the first intermediate retired", len(r), got.Rotated())
	}
	if rev := got.RevokedIntermediates(); len(rev) != 1 || rev[0].Reason != 4 {
		t.Fatalf("restored CA: revoked intermediates %+v, want the first (superseded)", rev)
	}
}

// TestRefusalsNameTheirOperation: a refusal of RevokeIntermediate says it
// cannot revoke the intermediate, and one of PruneRetired or
// RetiredIntermediates that it cannot prune, for an unknown intermediate
// and for a directory without a CA; each said "cannot rotate". errors.Is
// still matches ErrRotate for RevokeIntermediate, ErrPrune for the others
// and fs.ErrNotExist without a CA.
func TestRefusalsNameTheirOperation(t *testing.T) {
	_, dir := newTestCA(t, Options{})
	if _, _, err := Rotate(dir, RotateOptions{Now: fixedClock}); err != nil {
		t.Fatal(err)
	}
	none := filepath.Join(t.TempDir(), "ca")
	retired := filepath.Join(dir, RetiredDir)
	_, revokeUnknown := RevokeIntermediate(dir, "0000", 1, testNow)
	_, revokeNoCA := RevokeIntermediate(none, "0000", 1, testNow)
	_, pruneUnknown := PruneRetired(dir, "0000", testNow)
	_, pruneNoCA := PruneRetired(none, "0000", testNow)
	_, listNoCA := RetiredIntermediates(none)
	for _, c := range []struct {
		name     string
		err      error
		is       []error
		want     string
		notExist bool
	}{
		{"revoke unknown", revokeUnknown, []error{ErrRevokeIntermediate, ErrRotate}, "local CA: cannot revoke the intermediate: no retired intermediate 0000 in " + retired, false},
		{"revoke without CA", revokeNoCA, []error{ErrRevokeIntermediate, ErrRotate}, "local CA: cannot revoke the intermediate: no CA in " + none + " yet: `certgate serve` creates it on its first run", true},
		{"prune unknown", pruneUnknown, []error{ErrPrune}, "local CA: cannot prune: no retired intermediate 0000 in " + retired, false},
		{"prune without CA", pruneNoCA, []error{ErrPrune}, "local CA: cannot prune: no CA in " + none + " yet: `certgate serve` creates it on its first run", true},
		{"list without CA", listNoCA, []error{ErrPrune}, "local CA: cannot prune: no CA in " + none + " yet: `certgate serve` creates it on its first run", true},
	} {
		if c.err == nil || c.err.Error() != c.want {
			t.Errorf("%s: %v, want %q", c.name, c.err, c.want)
			continue
		}
		for _, target := range c.is {
			if !errors.Is(c.err, target) {
				t.Errorf("%s: %v does not match %v", c.name, c.err, target)
			}
		}
		if errors.Is(c.err, fs.ErrNotExist) != c.notExist {
			t.Errorf("%s: errors.Is(fs.ErrNotExist) = %v, want %v", c.name, !c.notExist, c.notExist)
		}
	}
	if errors.Is(pruneUnknown, ErrRotate) || errors.Is(revokeUnknown, ErrPrune) {
		t.Errorf("a refusal matches another operation's: %v; %v", pruneUnknown, revokeUnknown)
	}
}

// TestRevokePrunedIntermediate: a pruned intermediate (its key removed by
// PruneRetired) can still be revoked: its certificate is valid until its
// notAfter, and the root's CRL that lists it is signed with the root key
// alone. The revocation is kept at the next load (RetiredIntermediates,
// the root's CRL), and revoking it twice is refused. The former code
// looked among the retired intermediates that still have a key only, and
// said there was no such intermediate.
func TestRevokePrunedIntermediate(t *testing.T) {
	_, dir := newTestCA(t, Options{})
	old, _, err := Rotate(dir, RotateOptions{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	id := IntermediateID(old)
	if _, err := PruneRetired(dir, id, testNow); err != nil {
		t.Fatal(err)
	}
	got, err := RevokeIntermediate(dir, id, 2, testNow.Add(time.Hour))
	if err != nil {
		t.Fatalf("revoking the pruned intermediate: %v", err)
	}
	if !got.Equal(old) {
		t.Errorf("revoked %s, want %s", IntermediateID(got), id)
	}
	if _, err := os.Stat(filepath.Join(dir, RetiredDir, id, RevokedFile)); err != nil {
		t.Errorf("no %s for the pruned intermediate: %v", RevokedFile, err)
	}
	if _, err := RevokeIntermediate(dir, id, 2, testNow.Add(time.Hour)); !errors.Is(err, ErrRevokeIntermediate) || !strings.Contains(err.Error(), "revoked at") {
		t.Errorf("revoking the pruned intermediate twice: %v, want refused", err)
	}
	ret, err := RetiredIntermediates(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ret) != 1 || !ret[0].Pruned || !ret[0].Revoked {
		t.Errorf("RetiredIntermediates: %+v, want the one intermediate, pruned and revoked", ret)
	}
	loaded, err := LoadOrCreate(dir, Options{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	der, err := loaded.RootCRL()
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(loaded.Root()); err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(old.SerialNumber) != 0 || crl.RevokedCertificateEntries[0].ReasonCode != 2 {
		t.Errorf("root CRL lists %+v, want the pruned intermediate, cACompromise", crl.RevokedCertificateEntries)
	}
}

// TestRevokedIntermediatesFromRootCRL: an intermediate revoked on another
// node's copy of the CA directory (no RevokedFile here) counts as revoked
// once the root's CRL this CA serves lists it: adopted at the load
// (Options.ClusterRootCRL) or later (AdoptRootCRL), with the entry's time
// and reason; RevokedIntermediateCerts reads it from RootCRLFile or from a
// CRL given (the cluster's), RetiredIntermediates marks it, and
// RevokeIntermediate refuses it as revoked already. A CRL of another root
// that lists it counts for nothing. The former code counted RevokedFile
// alone: renewalInfo on such a node served the default window.
func TestRevokedIntermediatesFromRootCRL(t *testing.T) {
	_, dir1 := newTestCA(t, Options{})
	old, _, err := Rotate(dir1, RotateOptions{Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	// Node 2's copy of the CA directory, made after the rotation.
	dir2 := filepath.Join(t.TempDir(), "ca")
	if err := os.CopyFS(dir2, os.DirFS(dir1)); err != nil {
		t.Fatal(err)
	}
	if _, err := RevokeIntermediate(dir1, IntermediateID(old), 2, testNow.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	published, err := os.ReadFile(filepath.Join(dir1, RootCRLFile))
	if err != nil {
		t.Fatal(err)
	}
	// A root CRL of another CA listing the same serial.
	other, _ := newTestCA(t, Options{})
	otherKey, err := readKey(filepath.Join(other.dir, RootKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: testNow, NextUpdate: testNow.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: old.SerialNumber, RevocationTime: testNow, ReasonCode: 1}}}, other.Root(), otherKey)
	if err != nil {
		t.Fatal(err)
	}
	wantOld := func(what string, got []RevokedIntermediate) {
		t.Helper()
		if len(got) != 1 || !got[0].Cert.Equal(old) || got[0].Reason != 2 || !got[0].RevokedAt.Equal(testNow.Add(time.Hour)) {
			t.Errorf("%s: RevokedIntermediates %+v, want the old intermediate, revoked at %v, reason 2", what, got, testNow.Add(time.Hour))
		}
	}

	if got, err := RevokedIntermediateCerts(dir2, forged); err != nil || len(got) != 0 {
		t.Errorf("RevokedIntermediateCerts with another root's CRL: %d, %v; want none", len(got), err)
	}
	if got, err := RevokedIntermediateCerts(dir2, published); err != nil || len(got) != 1 || !got[0].Equal(old) {
		t.Errorf("RevokedIntermediateCerts with the cluster's CRL: %d, %v; want the old intermediate", len(got), err)
	}
	// Running: the CRL adopted later.
	running, err := LoadOrCreate(dir2, Options{Now: fixedClock, ClusterRootCRL: forged})
	if err != nil {
		t.Fatal(err)
	}
	if got := running.RevokedIntermediates(); len(got) != 0 {
		t.Errorf("before the adoption: %+v, want none", got)
	}
	if ok, err := running.AdoptRootCRL(published); !ok || err != nil {
		t.Fatalf("AdoptRootCRL: %v %v", ok, err)
	}
	wantOld("adopted while running", running.RevokedIntermediates())
	// Restarted: adopted at the load; RootCRLFile has it now.
	restarted, err := LoadOrCreate(dir2, Options{Now: fixedClock, ClusterRootCRL: published})
	if err != nil {
		t.Fatal(err)
	}
	wantOld("adopted at the load", restarted.RevokedIntermediates())
	if got, err := RevokedIntermediateCerts(dir2); err != nil || len(got) != 1 || !got[0].Equal(old) {
		t.Errorf("RevokedIntermediateCerts after the adoption: %d, %v; want the old intermediate", len(got), err)
	}
	if ri, err := RetiredIntermediates(dir2); err != nil || len(ri) != 1 || !ri[0].Revoked {
		t.Errorf("RetiredIntermediates: %+v, %v; want the old intermediate, revoked", ri, err)
	}
	if _, err := RevokeIntermediate(dir2, IntermediateID(old), 1, testNow.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "revoked at") {
		t.Errorf("revoking it again on node 2: %v, want refused as revoked already", err)
	}
}
