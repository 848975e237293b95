package local

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// maxCAFile bounds the size of one file that CopyForBackup and Restore
// copy: CA files are a few kilobytes (a root's CRL grows with revoked
// intermediates, still far below this).
const maxCAFile = 16 << 20

// CopyForBackup checks the CA in dir as Export does and copies its
// regular files (the CA files and RootCRLFile) into the new directory to,
// created with mode 0700 (it must not exist; its parent must), each file
// with mode 0600 and synced: a backup is as secret as the keys it holds.
// A file of dir that is a symbolic link is copied as what it leads to,
// which is what the server reads. It returns the root certificate.
func CopyForBackup(dir, to string) (*x509.Certificate, error) {
	if _, _, _, err := Export(dir); err != nil {
		return nil, err
	}
	if err := os.Mkdir(to, 0o700); err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	if err := copyCAFiles(dir, to, func(string) os.FileMode { return 0o600 }); err != nil {
		return nil, err
	}
	ca, _, err := loadExisting(to)
	if err != nil {
		return nil, fmt.Errorf("local CA: the copy of %s does not load: %w", dir, err)
	}
	return ca.root, nil
}

// CheckBackup checks the CA that CopyForBackup wrote in from as Restore
// does before it writes anything (the CA loads), and returns its root
// certificate; it writes nothing. A from that holds no CA file, or does
// not exist, gives an error wrapping fs.ErrNotExist.
func CheckBackup(from string) (*x509.Certificate, error) {
	ca, _, err := loadExisting(from)
	if err != nil {
		return nil, err
	}
	return ca.root, nil
}

// Restore copies the CA that CopyForBackup wrote in from into dir, which
// must hold no CA (else ErrCAExists), with the modes LoadOrCreate gives a
// new CA (directory 0700, keys 0600, other files 0644). As Import, it
// writes into a temporary directory next to dir (".DIR.import-*", which
// RemoveLeftovers removes after a kill), loads the copy from there, and
// moves it into place with one rename. It returns the root certificate.
func Restore(dir, from string) (*x509.Certificate, error) {
	if _, _, err := loadExisting(from); err != nil {
		return nil, err
	}
	parent, tmp, err := stageCA(dir)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // after a successful rename tmp no longer exists
	err = copyCAFiles(from, tmp, func(name string) os.FileMode {
		if name == RootKeyFile || name == IntermediateKeyFile {
			return 0o600
		}
		return 0o644
	})
	if err != nil {
		return nil, err
	}
	ca, _, err := load(tmp, extKey{})
	if err != nil {
		return nil, err
	}
	syncDir(tmp)
	if err := moveCAInto(tmp, dir, parent, "the restored CA"); err != nil {
		return nil, err
	}
	return ca.root, nil
}

// copyCAFiles copies the CA files and RootCRLFile found in from into the
// existing directory to, with the mode mode gives each name, synced, and
// the retired intermediates of a rotated CA (copyRetired). Other entries
// of from are left out: they are not the CA's.
func copyCAFiles(from, to string, mode func(name string) os.FileMode) error {
	if err := copyFiles(from, to, append(caFiles(), RootCRLFile), mode); err != nil {
		return err
	}
	return copyRetired(from, to, mode)
}

// copyRetired copies RetiredDir of from (OriginalFile, and each retired
// intermediate's certificate, key, RevokedFile and PrunedFile) into to, directories
// with mode 0700; none is no error.
func copyRetired(from, to string, mode func(name string) os.FileMode) error {
	entries, err := os.ReadDir(filepath.Join(from, RetiredDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	if err := os.Mkdir(filepath.Join(to, RetiredDir), 0o700); err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	if err := copyFiles(filepath.Join(from, RetiredDir), filepath.Join(to, RetiredDir), []string{OriginalFile}, mode); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(RetiredDir, e.Name())
		if err := os.Mkdir(filepath.Join(to, sub), 0o700); err != nil {
			return fmt.Errorf("local CA: %w", err)
		}
		if err := copyFiles(filepath.Join(from, sub), filepath.Join(to, sub), []string{IntermediateCertFile, IntermediateKeyFile, RevokedFile, PrunedFile}, mode); err != nil {
			return err
		}
	}
	syncDir(filepath.Join(to, RetiredDir))
	return nil
}

// copyFiles copies the files names found in from into to (see
// copyCAFiles); a missing one is skipped.
func copyFiles(from, to string, names []string, mode func(name string) os.FileMode) error {
	for _, name := range names {
		src := filepath.Join(from, name)
		fi, err := os.Stat(src)
		if errors.Is(err, fs.ErrNotExist) {
			continue // an optional file (root key, chain, CRL)
		}
		if err != nil {
			return fmt.Errorf("local CA: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("local CA: %s is not a regular file", src)
		}
		if fi.Size() > maxCAFile {
			return fmt.Errorf("local CA: %s is larger than %d bytes", src, maxCAFile)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("local CA: %w", err)
		}
		if err := writeExclusive(filepath.Join(to, name), data, mode(name)); err != nil {
			return err
		}
	}
	syncDir(to)
	return nil
}
