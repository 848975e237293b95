package acmeupstream

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFile is where the account key of upstream name lives below the data
// directory data: data/issuers/NAME/account.key (PKCS #8 PEM, mode 0600).
func KeyFile(data, name string) string {
	return filepath.Join(data, "issuers", name, "account.key")
}

// accountKey is the upstream account's key.
type accountKey struct {
	signer crypto.Signer
}

// loadOrCreateKey reads the account key at path, or makes an ECDSA P-256
// key and stores it there (directory 0700, file 0600, synced) when there
// is none. Two processes creating it at once end with the same key: the
// file appears whole, by a hard link that fails when it exists.
func loadOrCreateKey(path string) (*accountKey, error) {
	k, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("upstream account key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("upstream account key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("upstream account key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".account.key-*")
	if err != nil {
		return nil, fmt.Errorf("upstream account key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("upstream account key: %w", err)
	}
	if _, err := tmp.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("upstream account key: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("upstream account key: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("upstream account key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("upstream account key: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the link itself durable
		d.Close()
	}
	return readKey(path)
}

// readKey reads a PKCS #8 PEM private key from path.
func readKey(path string) (*accountKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("upstream account key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("upstream account key: %s holds no PKCS #8 PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("upstream account key: %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("upstream account key: %s: not a signing key", path)
	}
	return &accountKey{signer: s}, nil
}
