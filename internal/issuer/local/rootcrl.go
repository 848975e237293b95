package local

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// RootCRLFile is the root's CRL (DER) in the CA directory: the CRL that
// the intermediate's CRL distribution point names (RootCRLURL). It is
// optional and not one of the CA's files: LoadOrCreate signs it with the
// root key when the directory holds RootKeyFile, and serves the one the
// directory holds otherwise (a root key taken offline after creation).
const RootCRLFile = "root.crl"

// RootCRLValidity is nextUpdate − thisUpdate of the root's CRL. CA/B Forum
// BR §4.9.7 has a CRL over subordinate CA certificates re-issued at least
// every twelve months with nextUpdate at most twelve months after
// thisUpdate; 365 days is never more. The CRL is signed anew once half of
// it has passed (see RootCRL).
const RootCRLValidity = 365 * 24 * time.Hour

// rootCRL is the root's current CRL.
type rootCRL struct {
	der        []byte
	number     *big.Int
	thisUpdate time.Time
	nextUpdate time.Time
	entries    []x509.RevocationListEntry // the revoked certificates it lists
}

// RootCRL returns the root's CRL (DER, RFC 5280 §5): version 2, signed by
// the root with its authority key identifier, listing the intermediates
// revoked by RevokeIntermediate, nextUpdate RootCRLValidity after
// thisUpdate. When half of its validity has passed, or it lacks a revoked
// intermediate, and the CA directory
// holds RootKeyFile, it is signed anew (the key is read for that and not
// kept) and written to RootCRLFile. It returns nil when there is no root
// CRL: the directory holds neither the root key nor a RootCRLFile of this
// root (a CA imported without its root key). A failure to sign or write
// the new CRL leaves the current one in use, and is returned with it.
func (ca *CA) RootCRL() ([]byte, error) {
	if ca.rootCRL == nil { // not loaded by LoadOrCreate
		return nil, nil
	}
	ca.rootCRL.mu.Lock()
	defer ca.rootCRL.mu.Unlock()
	now := ca.now()
	cur := ca.rootCRL.cur
	if cur != nil && now.Before(cur.thisUpdate.Add(RootCRLValidity/2)) && ca.rootCRLListsAll(cur.der) {
		return cur.der, nil
	}
	next, err := ca.signRootCRL(now, cur)
	if err != nil || next == nil {
		if cur == nil {
			return nil, err
		}
		return cur.der, err
	}
	ca.rootCRL.cur = next
	return next.der, nil
}

// signRootCRL signs a new root CRL at now with the root key in ca.dir and
// writes it to RootCRLFile; nil, nil when the directory has no root key.
// Its number is now in Unix nanoseconds, or one more than cur's when the
// clock is behind it (RFC 5280 §5.2.3: monotonically increasing).
func (ca *CA) signRootCRL(now time.Time, cur *rootCRL) (*rootCRL, error) {
	if ca.dir == "" {
		return nil, nil
	}
	key, err := readKey(filepath.Join(ca.dir, RootKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(key.Public(), ca.root.PublicKey) {
		return nil, fmt.Errorf("%w: %s does not match %s", ErrInvalidCA, RootKeyFile, RootCertFile)
	}
	return ca.writeRootCRL(key, now, cur)
}

// writeRootCRL signs the root CRL with key (see signRootCRL) and writes it.
func (ca *CA) writeRootCRL(key crypto.Signer, now time.Time, cur *rootCRL) (*rootCRL, error) {
	thisUpdate := now.UTC().Truncate(time.Second)
	number := big.NewInt(now.UnixNano())
	if cur != nil && number.Cmp(cur.number) <= 0 {
		number = new(big.Int).Add(cur.number, big.NewInt(1))
	}
	sig, err := sigAlgFor(key.Public())
	if err != nil {
		return nil, fmt.Errorf("local CA: root CRL: %w", err)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		SignatureAlgorithm:        sig.alg,
		RevokedCertificateEntries: ca.rootCRLEntries(cur),
		Number:                    number,
		ThisUpdate:                thisUpdate,
		NextUpdate:                thisUpdate.Add(RootCRLValidity),
	}, ca.root, key)
	if err != nil {
		return nil, fmt.Errorf("local CA: sign root CRL: %w", err)
	}
	if ca.dir != "" {
		if err := writeReplace(filepath.Join(ca.dir, RootCRLFile), der, 0o644); err != nil {
			return nil, err
		}
	}
	return &rootCRL{der: der, number: number, thisUpdate: thisUpdate, nextUpdate: thisUpdate.Add(RootCRLValidity), entries: ca.rootCRLEntries(cur)}, nil
}

// AdoptRootCRL makes der, a root CRL signed by another node of the
// cluster, this CA's root CRL (served by RootCRL and written to
// RootCRLFile) when the root signed it and its cRLNumber is greater than
// the current one's, and reports whether it did. Another CA's CRL, one
// that does not parse, or an older one is left aside (false, nil): of the
// root CRLs of a cluster, the one with the greatest number wins. An error
// is a failure to write the file; the CRL is in use then all the same.
func (ca *CA) AdoptRootCRL(der []byte) (bool, error) {
	if ca.rootCRL == nil {
		return false, nil
	}
	c := parseRootCRL(der, ca.root)
	if c == nil {
		return false, nil
	}
	ca.rootCRL.mu.Lock()
	defer ca.rootCRL.mu.Unlock()
	if cur := ca.rootCRL.cur; cur != nil && c.number.Cmp(cur.number) <= 0 {
		return false, nil
	}
	ca.rootCRL.cur = c
	if ca.dir != "" {
		if err := writeReplace(filepath.Join(ca.dir, RootCRLFile), der, 0o644); err != nil {
			return true, err
		}
	}
	return true, nil
}

// CurrentRootCRL returns the root's CRL in use, without signing a new one
// (see RootCRL); nil when there is none.
func (ca *CA) CurrentRootCRL() []byte {
	if ca.rootCRL == nil {
		return nil
	}
	ca.rootCRL.mu.Lock()
	defer ca.rootCRL.mu.Unlock()
	if ca.rootCRL.cur == nil {
		return nil
	}
	return ca.rootCRL.cur.der
}

// parseRootCRL returns der as a rootCRL when it is a CRL that root signed
// with a cRLNumber, else nil.
func parseRootCRL(der []byte, root *x509.Certificate) *rootCRL {
	crl, err := x509.ParseRevocationList(der)
	if err != nil || crl.CheckSignatureFrom(root) != nil || crl.Number == nil {
		return nil
	}
	return &rootCRL{der: der, number: crl.Number, thisUpdate: crl.ThisUpdate, nextUpdate: crl.NextUpdate, entries: crl.RevokedCertificateEntries}
}

// readRootCRL returns the RootCRLFile in dir when it is a CRL that root
// signed, else nil (none, unreadable, or another root's: signed anew).
func readRootCRL(dir string, root *x509.Certificate) *rootCRL {
	der, err := os.ReadFile(filepath.Join(dir, RootCRLFile))
	if err != nil {
		return nil
	}
	return parseRootCRL(der, root)
}

// writeReplace writes data to path through a synced temporary file in the
// same directory renamed over it, so that readers see the old file or the
// new one, never a torn one.
func writeReplace(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename: no such file
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("local CA: chmod %s: %w", path, err)
	}
	if err := writeSyncClose(f, path, data); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}
