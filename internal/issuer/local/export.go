package local

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sharing one CA between several servers (nodes of one cluster), or
// bringing an enterprise's own CA: a bundle is the CA files concatenated as
// PEM, in the order BundleOrder names — four blocks, or three when the
// root key is not part of it, and one more per CA certificate between the
// root and the intermediate in a PKI of more than two tiers. Export reads
// a CA directory into a bundle; Import checks a bundle exactly as
// LoadOrCreate checks the files and writes it into an empty directory.

// ErrCAExists means Import found CA files in the target directory already.
// Import never overwrites or mixes CA files.
var ErrCAExists = errors.New("local CA: a CA already exists")

// ErrInvalidBundle means a bundle given to Import is malformed: not PEM
// blocks of the expected types in the expected order (BundleOrder), or a
// root that is not self-signed. A bundle whose blocks are well formed
// but do not belong together (a key not matching its certificate, an
// intermediate not signed by the root) gives ErrInvalidCA instead.
var ErrInvalidBundle = errors.New("local CA: invalid CA bundle")

// BundleOrder describes the blocks of a bundle, in order. Without the root
// key and in a two-tier PKI a bundle is three blocks: root certificate,
// intermediate certificate, intermediate key. In a PKI of more than two
// tiers the CA certificates between the root and the intermediate (the
// issuing CA) come before the intermediate, from the root down: root
// certificate, policy CA certificate, intermediate certificate,
// intermediate key.
const BundleOrder = "root certificate, root key (optional), CA certificates from the root down to the intermediate (optional), intermediate certificate, intermediate key"

// PEM block types of a bundle: certificates, and keys as unencrypted
// PKCS#8 (RFC 5208).
const (
	pemCert  = "CERTIFICATE"
	pemKey   = "PRIVATE KEY"
	pemCRL   = "X509 CRL"   // the root's CRL, last in a bundle with retired intermediates (RFC 7468 §6)
	pemBegin = "-----BEGIN" // starts a PEM block's first line (RFC 7468 §2)
)

// maxBundle bounds what Import accepts; real bundles are about 2.5 KB.
const maxBundle = 1 << 20

// Fingerprint returns the lower-case hex SHA-256 of c's DER encoding, the
// form `openssl x509 -noout -fingerprint -sha256` prints without colons.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Exists reports whether dir holds any of the CA files (RootCertFile,
// RootKeyFile, IntermediateCertFile, IntermediateKeyFile, ChainFile). A
// directory with some of them but lacking a required one exists too
// (LoadOrCreate refuses it with ErrPartialCA); a missing directory does
// not.
func Exists(dir string) (bool, error) {
	for _, name := range caFiles() {
		_, err := os.Lstat(filepath.Join(dir, name))
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("local CA: stat %s: %w", name, err)
		}
	}
	return false, nil
}

func caFiles() []string {
	return []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile, ChainFile}
}

// Export reads the CA in dir, checks it as LoadOrCreate does, and returns
// the bundle: the PEM blocks root certificate, root key, the certificates
// of ChainFile (from the root down), intermediate certificate,
// intermediate key, the keys as PKCS#8 "PRIVATE KEY"; the root key only
// when dir holds RootKeyFile (then withRootKey is true). The bundle holds private keys.
// It also returns the root certificate. A missing CA gives an error
// wrapping fs.ErrNotExist; a partial one ErrPartialCA. It carries the
// intermediate that signs now only: ExportWithRetired adds the retired
// ones.
func Export(dir string) (bundle []byte, root *x509.Certificate, withRootKey bool, err error) {
	return export(dir, false)
}

// ExportWithRetired is Export followed, when the CA was rotated, by its
// retired intermediates (RetiredDir), each as its certificate and key
// (a pruned one, PruneRetired, as its certificate alone): first the one
// created with the CA (OriginalFile), then the others oldest first; and
// last the root's CRL (RootCRLFile) as a PEM "X509 CRL" block, which
// names the revoked ones (RevokeIntermediate) and marks the bundle as one
// with retired intermediates (a CA without one is refused, ErrInvalidCA). Import restores all of it,
// so that the node it goes to signs the CRL and OCSP responses about the
// certificates the retired intermediates signed, at the URLs they name.
func ExportWithRetired(dir string) (bundle []byte, root *x509.Certificate, withRootKey bool, err error) {
	return export(dir, true)
}

// export is Export, with the retired intermediates when retired is set.
func export(dir string, retired bool) (bundle []byte, root *x509.Certificate, withRootKey bool, err error) {
	ok, err := Exists(dir)
	if err != nil {
		return nil, nil, false, err
	}
	if !ok {
		return nil, nil, false, fmt.Errorf("no CA in %s to export%w", dir, errNotExistQuiet{})
	}
	if _, missing, err := caFilesIn(dir); err == nil && len(missing) == 1 && missing[0] == IntermediateKeyFile {
		// The key in a PKCS#11 token (or lost): the pkcs11-* settings
		// that partialErr suggests do not help here.
		return nil, nil, false, fmt.Errorf("%w: %s has no %s: the intermediate's key is in a PKCS#11 token (or lost), and a key in a token cannot leave it, "+
			"so this CA cannot be exported or backed up with its key; copy %s itself and give each node the token (docs/pki.md#keys-in-an-hsm-pkcs11)",
			ErrPartialCA, dir, IntermediateKeyFile, dir)
	}
	ca, rootKey, err := loadExisting(dir)
	if err != nil {
		return nil, nil, false, err
	}
	var b bytes.Buffer
	b.Write(ca.rootPEM)
	if rootKey != nil {
		rootKeyPEM, err := keyPEM(rootKey)
		if err != nil {
			return nil, nil, false, err
		}
		b.Write(rootKeyPEM)
	}
	for i := len(ca.upper) - 1; i >= 0; i-- { // from the root down
		b.Write(certPEM(ca.upper[i].Raw))
	}
	interKeyPEM, err := keyPEM(ca.interKey)
	if err != nil {
		return nil, nil, false, err
	}
	b.Write(ca.interPEM)
	b.Write(interKeyPEM)
	if retired {
		if err := writeRetired(&b, dir, ca); err != nil {
			return nil, nil, false, err
		}
	}
	return b.Bytes(), ca.root, rootKey != nil, nil
}

// writeRetired appends to b the retired intermediates of the CA ca loaded
// from dir, and its root's CRL (see ExportWithRetired); nothing when it
// has none.
func writeRetired(b *bytes.Buffer, dir string, ca *CA) error {
	if err := loadRetired(dir, ca); err != nil {
		return err
	}
	type one struct {
		cert *x509.Certificate
		key  crypto.Signer // nil: pruned
	}
	var all []one
	for _, r := range ca.retired {
		all = append(all, one{r.inter, r.interKey})
	}
	for _, c := range ca.pruned {
		all = append(all, one{c, nil})
	}
	if len(all) == 0 {
		return nil
	}
	orig := originalID(dir)
	slices.SortStableFunc(all, func(a, b one) int {
		switch {
		case IntermediateID(a.cert) == orig:
			return -1
		case IntermediateID(b.cert) == orig:
			return 1
		}
		return a.cert.NotBefore.Compare(b.cert.NotBefore)
	})
	for _, r := range all {
		b.Write(certPEM(r.cert.Raw))
		if r.key != nil {
			k, err := keyPEM(r.key)
			if err != nil {
				return err
			}
			b.Write(k)
		}
	}
	// The root's CRL ends the bundle, and tells Import that retired
	// intermediates come before it. A CA that rotated had the root key,
	// which signed one (LoadOrCreate).
	crl := readRootCRL(dir, ca.root)
	if crl == nil {
		return fmt.Errorf("%w: %s has no root CRL signed by its root (%s), which a bundle with retired intermediates ends with; start certgate serve on it once with %s there",
			ErrInvalidCA, dir, RootCRLFile, RootKeyFile)
	}
	b.Write(pem.EncodeToMemory(&pem.Block{Type: pemCRL, Bytes: crl.der}))
	return nil
}

// loadExisting loads the CA of a directory Exists reported, refusing a
// partial one as LoadOrCreate does (ErrPartialCA), and never creates one.
func loadExisting(dir string) (*CA, crypto.Signer, error) {
	present, missing, err := caFilesIn(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(present) == 0 {
		// Not "partially initialised": nothing is there (or no dir).
		return nil, nil, fmt.Errorf("local CA: %s holds no CA (no %s)%w", dir, strings.Join(missing, ", "), errNotExistQuiet{})
	}
	if len(missing) > 0 {
		return nil, nil, partialErr(dir, present, missing)
	}
	return load(dir, extKey{})
}

// Import checks bundle (see Export) and writes it into dir as the CA files
// (RootKeyFile only when the bundle holds the root key, ChainFile only when
// it holds CA certificates between root and intermediate), with the modes
// LoadOrCreate gives a new CA (directory 0700, keys 0600, certificates
// 0644), so that LoadOrCreate(dir) then loads it.
//
// The bundle must be PEM blocks in BundleOrder (at least three: root
// certificate, intermediate certificate, intermediate key) with a
// self-signed root (else ErrInvalidBundle), and pass the checks of loading:
// each key matches its certificate, all are CA certificates, each is
// signed by the one before it in the bundle, none has more CA certificates
// below it than its path length constraint allows, the intermediate key is
// one of AcceptedIntermediateKeys; and the CA must be able to issue
// certificates that verify: a CA certificate with a keyUsage extension
// has keyCertSign, the intermediate's also cRLSign, and every certificate
// is valid now (else ErrInvalidCA, naming the certificate and what it
// lacks). When dir holds any CA file
// Import returns ErrCAExists and touches nothing.
//
// The files are written into a temporary directory next to dir, loaded
// from there, and moved into place with one rename, so an interrupted
// import leaves no partial CA. It returns the root certificate.
func Import(dir string, bundle []byte) (*x509.Certificate, error) {
	if len(bundle) > maxBundle {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidBundle, maxBundle)
	}
	bb, err := splitBundle(bundle)
	if err != nil {
		return nil, err
	}
	parent, tmp, err := stageCA(dir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // after a successful rename tmp no longer exists
	// Keys first and certificates last, as create writes them.
	files := []struct {
		name string
		blk  *pem.Block
		mode os.FileMode
	}{
		{RootKeyFile, bb.rootKey, 0o600},
		{IntermediateKeyFile, bb.interKey, 0o600},
		{RootCertFile, bb.root, 0o644},
		{IntermediateCertFile, bb.inter, 0o644},
	}
	for _, f := range files {
		if f.blk == nil {
			continue // the root key, left out of the bundle
		}
		if err := writeExclusive(filepath.Join(tmp, f.name), pem.EncodeToMemory(f.blk), f.mode); err != nil {
			return nil, err
		}
	}
	if len(bb.middle) > 0 {
		var chain []byte
		for i := len(bb.middle) - 1; i >= 0; i-- { // the intermediate's issuer first
			chain = append(chain, pem.EncodeToMemory(bb.middle[i])...)
		}
		if err := writeExclusive(filepath.Join(tmp, ChainFile), chain, 0o644); err != nil {
			return nil, err
		}
	}
	ca, _, err := load(tmp, extKey{})
	if err != nil {
		return nil, bundleErr(tmp, err)
	}
	if err := checkImported(ca, time.Now()); err != nil {
		return nil, err
	}
	if err := importRetired(tmp, ca, bb, time.Now()); err != nil {
		return nil, err
	}
	if err := moveCAInto(tmp, dir, parent, "imported CA"); err != nil {
		return nil, err
	}
	return ca.root, nil
}

// importRetired writes the retired intermediates of bb and its root's CRL
// into the staged CA directory tmp, whose CA ca load read: each into
// RetiredDir/ID (a pruned one with PrunedFile, at now), the first one's ID
// into OriginalFile, RevokedFile for those the root's CRL lists. Then it
// loads them as LoadOrCreate does (each key matching its certificate,
// each signed by the root), which reloads ca's intermediate too so that
// it is told as rotated. Nothing when bb has none.
func importRetired(tmp string, ca *CA, bb bundleParts, now time.Time) error {
	if len(bb.retired) == 0 {
		return nil
	}
	var crl *rootCRL
	if bb.rootCRL != nil {
		if crl = parseRootCRL(bb.rootCRL.Bytes, ca.root); crl == nil {
			return fmt.Errorf("%w: the bundle's root CRL does not parse, has no CRL number, or the root did not sign it", ErrInvalidCA)
		}
		if err := writeExclusive(filepath.Join(tmp, RootCRLFile), crl.der, 0o644); err != nil {
			return err
		}
	}
	if err := os.Mkdir(filepath.Join(tmp, RetiredDir), 0o700); err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	for i, r := range bb.retired {
		c, err := x509.ParseCertificate(r.cert.Bytes)
		if err != nil {
			return fmt.Errorf("%w: retired intermediate %d: %w", ErrInvalidBundle, i+1, err)
		}
		if selfSigned(c) {
			return fmt.Errorf("%w: retired intermediate %d is self-signed: a root, not an intermediate", ErrInvalidBundle, i+1)
		}
		id := IntermediateID(c)
		sub := filepath.Join(tmp, RetiredDir, id)
		if err := os.Mkdir(sub, 0o700); err != nil {
			return fmt.Errorf("%w: retired intermediate %d (%s) twice, or: %w", ErrInvalidBundle, i+1, id, err)
		}
		files := []caFile{{IntermediateCertFile, certPEM(c.Raw), 0o644}}
		if r.key != nil {
			files = append(files, caFile{IntermediateKeyFile, pem.EncodeToMemory(r.key), 0o600})
		} else {
			files = append(files, caFile{PrunedFile, []byte(now.UTC().Format(time.RFC3339) + "\n"), 0o644})
		}
		if i == 0 { // the original: its certificates name the fixed URLs
			if err := writeExclusive(filepath.Join(tmp, RetiredDir, OriginalFile), []byte(id+"\n"), 0o644); err != nil {
				return err
			}
		}
		for _, e := range crlEntriesOf(crl, c) {
			files = append(files, caFile{RevokedFile, []byte(e.RevocationTime.UTC().Format(time.RFC3339) + " " + strconv.Itoa(e.ReasonCode) + "\n"), 0o644})
		}
		for _, f := range files {
			if err := writeExclusive(filepath.Join(sub, f.name), f.data, f.mode); err != nil {
				return err
			}
		}
	}
	loaded, _, err := load(tmp, extKey{})
	if err != nil {
		return bundleErr(tmp, err)
	}
	if err := loadRetired(tmp, loaded); err != nil {
		return fmt.Errorf("a retired intermediate of the bundle: %w", bundleErr(tmp, err))
	}
	*ca = *loaded
	return nil
}

// crlEntriesOf returns the entry of crl (nil: none) that revokes c: at
// most one.
func crlEntriesOf(crl *rootCRL, c *x509.Certificate) []x509.RevocationListEntry {
	if crl == nil {
		return nil
	}
	for _, e := range crl.entries {
		if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
			return []x509.RevocationListEntry{e}
		}
	}
	return nil
}

// stageCA checks that dir holds no CA (ErrCAExists) and makes the
// temporary directory (mode 0700) next to it that Import and Restore write
// a CA into before moveCAInto moves it into place; RemoveLeftovers removes
// it after a kill. It returns dir's parent and the temporary directory.
func stageCA(dir string) (parent, tmp string, err error) {
	if err := checkExists(dir); err != nil {
		return "", "", err
	}
	parent = filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", "", fmt.Errorf("local CA: create directory: %w", err)
	}
	if tmp, err = os.MkdirTemp(parent, importPrefix(dir)); err != nil {
		return "", "", fmt.Errorf("local CA: %w", err)
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		os.RemoveAll(tmp)
		return "", "", fmt.Errorf("local CA: chmod directory: %w", err)
	}
	return parent, tmp, nil
}

// moveCAInto moves the CA staged in tmp (stageCA) to dir with one rename
// and syncs parent. The target may exist as an empty directory (e.g. left
// by a failed start); rename replaces only a missing or empty one, and
// Remove fails on a non-empty one (ErrCAExists), so nothing already there
// is lost. what names the CA in the error of the rename.
func moveCAInto(tmp, dir, parent, what string) error {
	if err := checkExists(dir); err != nil {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s is not an empty directory (%w)", ErrCAExists, dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("local CA: move %s into %s: %w", what, dir, err)
	}
	syncDir(parent)
	return nil
}

func checkExists(dir string) error {
	ok, err := Exists(dir)
	if err != nil {
		return err
	}
	if ok {
		return fmt.Errorf("%w in %s; it is never overwritten (move the directory aside first to replace it)", ErrCAExists, dir)
	}
	return nil
}

// bundleParts are the PEM blocks of a bundle; rootKey is nil when the
// bundle has no root key, middle the CA certificates between root and
// intermediate, from the root down (none in a two-tier PKI).
type bundleParts struct {
	root, rootKey, inter, interKey *pem.Block
	middle                         []*pem.Block
	// retired are the retired intermediates after the intermediate key
	// (ExportWithRetired), the original one first; rootCRL the root's
	// CRL, nil when there is none.
	retired []retiredBlocks
	rootCRL *pem.Block
}

// retiredBlocks are a retired intermediate's blocks in a bundle: its
// certificate, and its key (nil for a pruned one).
type retiredBlocks struct{ cert, key *pem.Block }

// splitBundle returns the PEM blocks of bundle after checking their types,
// number and order and that the first certificate is a self-signed root;
// text between the blocks is ignored, a block that does not parse refused.
// Each refusal is one line naming the block (counted from 1) and what was
// expected there.
func splitBundle(bundle []byte) (bundleParts, error) {
	// Text outside the blocks (openssl's "Bag Attributes" lines) is
	// skipped, as openssl does; but pem.Decode also skips a block that does
	// not parse (a BEGIN line without its END, a body that is not base64),
	// so a BEGIN line in what it skipped is refused.
	var blocks []*pem.Block
	for rest := bundle; ; {
		b, after := pem.Decode(rest)
		skipped := rest[:len(rest)-len(after)] // the text before b, and b
		if b == nil {
			skipped = rest
		}
		if n := bytes.Count(skipped, []byte(pemBegin)); (b == nil && n > 0) || n > 1 {
			where := "the first PEM block"
			if len(blocks) > 0 {
				where = fmt.Sprintf("the PEM block after block %d", len(blocks))
			}
			return bundleParts{}, fmt.Errorf("%w: %s does not parse (a %s line without its matching -----END line, or a body that is not base64)",
				ErrInvalidBundle, where, pemBegin)
		}
		if b == nil {
			break
		}
		blocks = append(blocks, b)
		rest = after
	}
	for i, b := range blocks {
		switch {
		case b.Type != pemKey && strings.HasSuffix(b.Type, pemKey):
			return bundleParts{}, fmt.Errorf("%w: block %d is %q, want %q (unencrypted PKCS#8; convert with openssl pkcs8 -topk8 -nocrypt)",
				ErrInvalidBundle, i+1, b.Type, pemKey)
		case b.Type == "EC PARAMETERS":
			return bundleParts{}, fmt.Errorf("%w: block %d is %q (openssl ecparam output), want only the key as %q (unencrypted PKCS#8; convert with openssl pkcs8 -topk8 -nocrypt)",
				ErrInvalidBundle, i+1, b.Type, pemKey)
		case b.Type == pemCRL && i == len(blocks)-1 && i > 0:
			// The root's CRL, last (ExportWithRetired).
		case b.Type != pemCert && b.Type != pemKey:
			return bundleParts{}, fmt.Errorf("%w: block %d is %q, want only %q and %q blocks (order: %s)",
				ErrInvalidBundle, i+1, b.Type, pemCert, pemKey, BundleOrder)
		case len(b.Headers) > 0:
			return bundleParts{}, fmt.Errorf("%w: block %d has PEM headers (encrypted keys are not supported)", ErrInvalidBundle, i+1)
		}
	}
	var rootCRL *pem.Block
	if len(blocks) > 0 && blocks[len(blocks)-1].Type == pemCRL {
		rootCRL, blocks = blocks[len(blocks)-1], blocks[:len(blocks)-1]
	}
	// In a bundle that ends with the root's CRL (ExportWithRetired), the
	// retired intermediates follow the intermediate key: the first key
	// after block 2 (block 2 may be the root key).
	var retired []retiredBlocks
	if k := slices.IndexFunc(blocks[min(2, len(blocks)):], func(b *pem.Block) bool { return b.Type == pemKey }) + 2; rootCRL != nil && k >= 2 && k < len(blocks)-1 {
		for i, b := range blocks[k+1:] {
			switch {
			case b.Type == pemCert:
				retired = append(retired, retiredBlocks{cert: b})
			case len(retired) == 0 || retired[len(retired)-1].key != nil:
				return bundleParts{}, fmt.Errorf("%w: block %d is a key that follows no retired intermediate's certificate (after the intermediate key come the retired intermediates, each certificate then key)",
					ErrInvalidBundle, k+2+i)
			default:
				retired[len(retired)-1].key = b
			}
		}
		blocks = blocks[:k+1]
	}
	if rootCRL != nil && len(retired) == 0 {
		return bundleParts{}, fmt.Errorf("%w: the root's CRL comes only after retired intermediates (certgate ca export --with-retired)", ErrInvalidBundle)
	}
	if n := len(blocks); n < 3 {
		got := fmt.Sprintf("%d PEM blocks", n)
		switch n {
		case 0:
			got = "no PEM block"
		case 1:
			got = "1 PEM block" // a root certificate alone, say
		}
		return bundleParts{}, fmt.Errorf("%w: %s, want at least 3 (order: %s)", ErrInvalidBundle, got, BundleOrder)
	}
	last := len(blocks) - 1
	if blocks[last].Type != pemKey {
		return bundleParts{}, fmt.Errorf("%w: block %d, the last, is %q, want the intermediate key %q (order: %s)",
			ErrInvalidBundle, last+1, blocks[last].Type, pemKey, BundleOrder)
	}
	if blocks[0].Type != pemCert {
		return bundleParts{}, fmt.Errorf("%w: block 1 is %q, want the root certificate %q (order: %s)", ErrInvalidBundle, blocks[0].Type, pemCert, BundleOrder)
	}
	bb := bundleParts{root: blocks[0], interKey: blocks[last], retired: retired, rootCRL: rootCRL}
	certs := blocks[1:last] // [root key,] CA certificates..., intermediate certificate
	if certs[0].Type == pemKey {
		bb.rootKey, certs = certs[0], certs[1:]
	}
	if len(certs) == 0 {
		return bundleParts{}, fmt.Errorf("%w: no intermediate certificate before the intermediate key, block %d (order: %s)", ErrInvalidBundle, last+1, BundleOrder)
	}
	for i, b := range certs {
		if b.Type != pemCert {
			return bundleParts{}, fmt.Errorf("%w: block %d is %q, want %q: only block 2 (the root key) and the last block (the intermediate key) are keys (order: %s)",
				ErrInvalidBundle, last-len(certs)+i+1, b.Type, pemCert, BundleOrder)
		}
	}
	bb.middle, bb.inter = certs[:len(certs)-1], certs[len(certs)-1]
	root, err := x509.ParseCertificate(bb.root.Bytes)
	if err != nil {
		return bundleParts{}, fmt.Errorf("%w: root certificate: %w", ErrInvalidBundle, err)
	}
	inter, err := x509.ParseCertificate(bb.inter.Bytes)
	if err != nil {
		return bundleParts{}, fmt.Errorf("%w: intermediate certificate: %w", ErrInvalidBundle, err)
	}
	if !selfSigned(root) {
		if selfSigned(inter) {
			return bundleParts{}, fmt.Errorf("%w: the root comes after the intermediate; the order is %s", ErrInvalidBundle, BundleOrder)
		}
		for _, b := range bb.middle {
			if c, err := x509.ParseCertificate(b.Bytes); err == nil && selfSigned(c) {
				return bundleParts{}, fmt.Errorf("%w: the root is not the first certificate; the order is %s", ErrInvalidBundle, BundleOrder)
			}
		}
		return bundleParts{}, fmt.Errorf("%w: the first certificate is not a self-signed root (order: %s)", ErrInvalidBundle, BundleOrder)
	}
	for i, b := range bb.middle {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return bundleParts{}, fmt.Errorf("%w: CA certificate %d below the root: %w", ErrInvalidBundle, i+1, err)
		}
		if selfSigned(c) {
			return bundleParts{}, fmt.Errorf("%w: CA certificate %d below the root (block %d) is self-signed; only the first certificate is a root (order: %s)",
				ErrInvalidBundle, i+1, len(blocks)-len(bb.middle)-2+i+1, BundleOrder)
		}
	}
	return bb, nil
}

// bundleErr rewrites an error of load on the temporary directory so that
// it names the bundle's blocks rather than temporary files; errors.Is still
// sees the original error (ErrInvalidCA).
func bundleErr(tmp string, err error) error {
	msg := err.Error()
	for _, r := range []struct{ file, block string }{
		{RootCertFile, "root certificate"}, {RootKeyFile, "root key"},
		{IntermediateCertFile, "intermediate certificate"}, {IntermediateKeyFile, "intermediate key"},
		{ChainFile, "CA certificates between root and intermediate"},
	} {
		msg = strings.ReplaceAll(msg, filepath.Join(tmp, r.file), "the bundle's "+r.block)
		msg = strings.ReplaceAll(msg, " "+r.file, " the bundle's "+r.block)
	}
	return &rewritten{msg: msg, err: err}
}

// selfSigned reports whether c is issued by its own subject and signed by
// its own key, as a root is. Its keyUsage is not looked at here (a root
// without keyCertSign is refused as such by load, checkKeyUsage, rather
// than told as not self-signed).
func selfSigned(c *x509.Certificate) bool {
	signer := *c
	signer.KeyUsage = 0
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(&signer) == nil
}

// rewritten carries a rewritten message while still matching err.
type rewritten struct {
	msg string
	err error
}

func (w *rewritten) Error() string { return w.msg }
func (w *rewritten) Unwrap() error { return w.err }

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
