package local

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Sharing one CA between several servers (nodes of one cluster): a bundle
// is the four CA files concatenated as PEM, in the order BundleOrder names.
// Export reads a CA directory into a bundle; Import checks a bundle exactly
// as LoadOrCreate checks the files and writes it into an empty directory.

// ErrCAExists means Import found CA files in the target directory already.
// Import never overwrites or mixes CA files.
var ErrCAExists = errors.New("local CA: a CA already exists")

// ErrInvalidBundle means a bundle given to Import is malformed: not exactly
// four PEM blocks of the expected types in the expected order (BundleOrder),
// or a root that is not self-signed. A bundle whose blocks are well formed
// but do not belong together (a key not matching its certificate, an
// intermediate not signed by the root) gives ErrInvalidCA instead.
var ErrInvalidBundle = errors.New("local CA: invalid CA bundle")

// BundleOrder describes the blocks of a bundle, in order.
const BundleOrder = "root certificate, root key, intermediate certificate, intermediate key"

// maxBundle bounds what Import accepts; real bundles are about 2.5 KB.
const maxBundle = 1 << 20

// Fingerprint returns the lower-case hex SHA-256 of c's DER encoding, the
// form `openssl x509 -noout -fingerprint -sha256` prints without colons.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// Exists reports whether dir holds any of the four CA files. A directory
// with some but not all of them exists too (LoadOrCreate refuses it with
// ErrPartialCA); a missing directory does not.
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
	return []string{RootCertFile, RootKeyFile, IntermediateCertFile, IntermediateKeyFile}
}

// Export reads the CA in dir, checks it as LoadOrCreate does, and returns
// the bundle: four PEM blocks, root certificate, root key, intermediate
// certificate, intermediate key, the keys as PKCS#8 "PRIVATE KEY". The
// bundle holds private keys. It also returns the root certificate.
func Export(dir string) ([]byte, *x509.Certificate, error) {
	ok, err := Exists(dir)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("no CA in %s to export%w", dir, errNotExistQuiet{})
	}
	ca, err := LoadOrCreate(dir, Options{}) // all four present: loads and checks, never creates
	if err != nil {
		return nil, nil, err
	}
	rootKey, err := readKey(filepath.Join(dir, RootKeyFile))
	if err != nil {
		return nil, nil, err
	}
	rootKeyPEM, err := keyPEM(rootKey)
	if err != nil {
		return nil, nil, err
	}
	interKeyPEM, err := keyPEM(ca.interKey)
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	b.Write(ca.rootPEM)
	b.Write(rootKeyPEM)
	b.Write(ca.interPEM)
	b.Write(interKeyPEM)
	return b.Bytes(), ca.root, nil
}

// Import checks bundle (see Export) and writes it into dir as the four CA
// files, with the modes LoadOrCreate gives a new CA (directory 0700, keys
// 0600, certificates 0644), so that LoadOrCreate(dir) then loads it.
//
// The bundle must be exactly four PEM blocks in BundleOrder with a
// self-signed root (else ErrInvalidBundle) and pass the checks of loading:
// each key matches its certificate, both are CA certificates, the
// intermediate is signed by the root (else ErrInvalidCA). When dir holds
// any CA file Import returns ErrCAExists and touches nothing.
//
// The files are written into a temporary directory next to dir, loaded
// from there, and moved into place with one rename, so an interrupted
// import leaves no partial CA. It returns the root certificate.
func Import(dir string, bundle []byte) (*x509.Certificate, error) {
	if len(bundle) > maxBundle {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidBundle, maxBundle)
	}
	blocks, err := splitBundle(bundle)
	if err != nil {
		return nil, err
	}
	if err := checkExists(dir); err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("local CA: create directory: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".import-")
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	defer os.RemoveAll(tmp) // after a successful rename tmp no longer exists
	if err := os.Chmod(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("local CA: chmod directory: %w", err)
	}
	// Keys first and certificates last, as create writes them.
	files := []struct {
		name string
		blk  *pem.Block
		mode os.FileMode
	}{
		{RootKeyFile, blocks[1], 0o600},
		{IntermediateKeyFile, blocks[3], 0o600},
		{RootCertFile, blocks[0], 0o644},
		{IntermediateCertFile, blocks[2], 0o644},
	}
	for _, f := range files {
		if err := writeExclusive(filepath.Join(tmp, f.name), pem.EncodeToMemory(f.blk), f.mode); err != nil {
			return nil, err
		}
	}
	ca, err := load(tmp, Options{})
	if err != nil {
		return nil, bundleErr(tmp, err)
	}
	// The target may exist as an empty directory (e.g. left by a failed
	// start); rename replaces only a missing or empty one, and Remove
	// fails on a non-empty one, so nothing already there is lost.
	if err := checkExists(dir); err != nil {
		return nil, err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is not an empty directory (%w)", ErrCAExists, dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("local CA: move imported CA into %s: %w", dir, err)
	}
	syncDir(parent)
	return ca.root, nil
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

// splitBundle returns the four PEM blocks of bundle after checking their
// number, types, order and that the first certificate is a self-signed
// root.
func splitBundle(bundle []byte) ([]*pem.Block, error) {
	var blocks []*pem.Block
	rest := bundle
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(bytes.TrimSpace(rest)) > 0 && bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("%w: a PEM block after block %d is malformed", ErrInvalidBundle, len(blocks))
	}
	want := []string{"CERTIFICATE", "PRIVATE KEY", "CERTIFICATE", "PRIVATE KEY"}
	if len(blocks) != len(want) {
		return nil, fmt.Errorf("%w: %d PEM blocks, want 4 (%s)", ErrInvalidBundle, len(blocks), BundleOrder)
	}
	for i, b := range blocks {
		if b.Type != want[i] {
			return nil, fmt.Errorf("%w: block %d is %q, want %q (order: %s)", ErrInvalidBundle, i+1, b.Type, want[i], BundleOrder)
		}
		if len(b.Headers) > 0 {
			return nil, fmt.Errorf("%w: block %d has PEM headers (encrypted keys are not supported)", ErrInvalidBundle, i+1)
		}
	}
	root, err := x509.ParseCertificate(blocks[0].Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: root certificate: %w", ErrInvalidBundle, err)
	}
	inter, err := x509.ParseCertificate(blocks[2].Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: intermediate certificate: %w", ErrInvalidBundle, err)
	}
	if !bytes.Equal(root.RawSubject, root.RawIssuer) || root.CheckSignatureFrom(root) != nil {
		if bytes.Equal(inter.RawSubject, inter.RawIssuer) && inter.CheckSignatureFrom(inter) == nil {
			return nil, fmt.Errorf("%w: the root comes after the intermediate; the order is %s", ErrInvalidBundle, BundleOrder)
		}
		return nil, fmt.Errorf("%w: the first certificate is not a self-signed root (order: %s)", ErrInvalidBundle, BundleOrder)
	}
	return blocks, nil
}

// bundleErr rewrites an error of load on the temporary directory so that
// it names the bundle's blocks rather than temporary files; errors.Is still
// sees the original error (ErrInvalidCA).
func bundleErr(tmp string, err error) error {
	msg := err.Error()
	for _, r := range []struct{ file, block string }{
		{RootCertFile, "root certificate"}, {RootKeyFile, "root key"},
		{IntermediateCertFile, "intermediate certificate"}, {IntermediateKeyFile, "intermediate key"},
	} {
		msg = strings.ReplaceAll(msg, filepath.Join(tmp, r.file), "the bundle's "+r.block)
		msg = strings.ReplaceAll(msg, " "+r.file, " the bundle's "+r.block)
	}
	return &rewritten{msg: msg, err: err}
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
