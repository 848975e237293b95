// Package hsm holds the built-in CA's issuing (intermediate) key in a
// hardware security module or any other PKCS#11 token (OASIS PKCS#11
// v2.40), through github.com/ThalesGroup/crypto11: the key never leaves
// the token, and the CA signs leaves, CRLs and OCSP responses with it as
// a crypto.Signer.
//
// PKCS#11 modules are C shared libraries: the package needs a cgo build
// (CGO_ENABLED=1, the default where a C compiler is present). A build
// without cgo has the same API, and Open then fails naming the cause.
//
// Every error names the setting to correct (pkcs11-module,
// pkcs11-token-label, pkcs11-slot, pkcs11-pin, pkcs11-pin-file,
// pkcs11-key-label, pkcs11-key-id), so that a failed start is one line.
package hsm

import (
	"crypto"
	"errors"
	"fmt"
)

// Config names the token and the key in it: the pkcs11-* settings
// (internal/config.PKCS11).
type Config struct {
	// Module is the path of the PKCS#11 module (shared library), e.g.
	// /usr/lib/softhsm/libsofthsm2.so (pkcs11-module).
	Module string
	// TokenLabel selects the token by its label (pkcs11-token-label);
	// Slot selects it by slot ID instead (pkcs11-slot) when it is not
	// negative. Exactly one of them is set.
	TokenLabel string
	Slot       int // the slot ID (pkcs11-slot), or negative for none
	// PIN is the user PIN (CKU_USER) that logs in to the token.
	// PINSetting names where it came from, for errors: "pkcs11-pin" or
	// "pkcs11-pin-file FILE"; "" means "pkcs11-pin".
	PIN, PINSetting string
	// KeyLabel (CKA_LABEL, pkcs11-key-label) and KeyID (CKA_ID,
	// pkcs11-key-id) name the key pair; at least one is set. A key pair
	// is its private key object and the public key object of the same
	// CKA_ID (crypto11 finds only keys with a CKA_ID).
	KeyLabel string
	KeyID    []byte // CKA_ID (pkcs11-key-id; nil: none)
}

// Signer is a key pair in the token: a crypto.Signer whose Sign runs in
// the token (C_Sign), safe for concurrent use, and that can be deleted
// from the token.
type Signer interface {
	crypto.Signer
	// Delete destroys the key pair's objects in the token.
	Delete() error
}

// ErrKeyExists is returned by GenerateKey when the token already holds a
// key pair of the label or ID: certgate never replaces or adds to a key.
var ErrKeyExists = errors.New("pkcs11: the token already holds a key of that label or ID")

// keyName describes the key of c in messages: `pkcs11-key-label "ca"`,
// `pkcs11-key-id 01ab`, or both.
func (c Config) keyName() string {
	switch {
	case c.KeyLabel != "" && len(c.KeyID) > 0:
		return fmt.Sprintf("pkcs11-key-label %q (pkcs11-key-id %x)", c.KeyLabel, c.KeyID)
	case c.KeyLabel != "":
		return fmt.Sprintf("pkcs11-key-label %q", c.KeyLabel)
	}
	return fmt.Sprintf("pkcs11-key-id %x", c.KeyID)
}

// KeyName describes the key c names, with its token, for messages:
// `pkcs11-key-label "ca" in the token "certgate"`.
func (c Config) KeyName() string { return c.keyName() + " in " + c.tokenName() }

// tokenName describes the token of c: `the token "certgate"` or
// `the token in pkcs11-slot 3`.
func (c Config) tokenName() string {
	if c.Slot >= 0 && c.TokenLabel == "" {
		return fmt.Sprintf("the token in pkcs11-slot %d", c.Slot)
	}
	return fmt.Sprintf("the token %q", c.TokenLabel)
}

func (c Config) pinSetting() string {
	if c.PINSetting == "" {
		return "pkcs11-pin"
	}
	return c.PINSetting
}

// check checks that c names a module, one token and a key.
func (c Config) check() error {
	switch {
	case c.Module == "":
		return errors.New("pkcs11-module: not set: give the path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so)")
	case c.TokenLabel == "" && c.Slot < 0:
		return errors.New("pkcs11-token-label: not set: give the token's label (or its slot with pkcs11-slot)")
	case c.TokenLabel != "" && c.Slot >= 0:
		return errors.New("pkcs11-token-label and pkcs11-slot: both set: give one")
	case c.KeyLabel == "" && len(c.KeyID) == 0:
		return errors.New("pkcs11-key-label: not set: give the label of the issuing key (or its CKA_ID with pkcs11-key-id)")
	}
	return nil
}
