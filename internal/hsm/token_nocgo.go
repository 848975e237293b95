//go:build !cgo

package hsm

import "errors"

// Token is an open session pool on a PKCS#11 token; this build has none.
type Token struct{}

var errNoCgo = errors.New("pkcs11-module: this certgate was built without cgo (CGO_ENABLED=0), and PKCS#11 modules are C libraries: use a cgo build (the release binaries are one)")

// Open fails: PKCS#11 needs a cgo build.
func Open(cfg Config) (*Token, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return nil, errNoCgo
}

// Key fails: PKCS#11 needs a cgo build.
func (t *Token) Key() (Signer, error) { return nil, errNoCgo }

// GenerateKey fails: PKCS#11 needs a cgo build.
func (t *Token) GenerateKey(keyType string) (Signer, error) { return nil, errNoCgo }

// Check fails: PKCS#11 needs a cgo build.
func (t *Token) Check() error { return errNoCgo }

// Close does nothing.
func (t *Token) Close() error { return nil }
