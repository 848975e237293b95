//go:build cgo

package hsm

import (
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// Token is an open PKCS#11 token: a logged-in session pool (crypto11),
// safe for concurrent use. Close it when done.
type Token struct {
	ctx *crypto11.Context
	cfg Config
}

// Open loads cfg.Module, finds the token and logs in with cfg.PIN. Errors
// name the setting: pkcs11-module for a module that does not exist or does
// not load, pkcs11-token-label (or pkcs11-slot) for no such token,
// pkcs11-pin (or pkcs11-pin-file FILE) for a PIN the token refuses or a
// locked PIN. PKCS#11 logins are per process: while another Token of the
// process is open on the same token, the session is logged in already and
// cfg.PIN is not checked (the server and the commands open one).
func Open(cfg Config) (*Token, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.Module); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("pkcs11-module: %s: %w (is the PKCS#11 library installed, e.g. apt-get install softhsm2, or your HSM vendor's client?)", cfg.Module, err)
	}
	c := &crypto11.Config{Path: cfg.Module, Pin: cfg.PIN}
	if cfg.TokenLabel != "" {
		c.TokenLabel = cfg.TokenLabel
	} else {
		slot := cfg.Slot
		c.SlotNumber = &slot
	}
	ctx, err := crypto11.Configure(c)
	if err != nil {
		return nil, openError(cfg, err)
	}
	return &Token{ctx: ctx, cfg: cfg}, nil
}

// openError names the setting behind a failed crypto11.Configure.
func openError(cfg Config, err error) error {
	var rv pkcs11.Error
	if errors.As(err, &rv) {
		switch rv {
		case pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_INVALID, pkcs11.CKR_PIN_LEN_RANGE:
			return fmt.Errorf("%s: %s refused the PIN (%s)", cfg.pinSetting(), cfg.tokenName(), ckrName(rv))
		case pkcs11.CKR_PIN_LOCKED:
			return fmt.Errorf("%s: the PIN of %s is locked after too many wrong PINs (%s): the security officer must unlock it", cfg.pinSetting(), cfg.tokenName(), ckrName(rv))
		case pkcs11.CKR_PIN_EXPIRED:
			return fmt.Errorf("%s: the PIN of %s has expired (%s): set a new one", cfg.pinSetting(), cfg.tokenName(), ckrName(rv))
		case pkcs11.CKR_USER_PIN_NOT_INITIALIZED:
			return fmt.Errorf("%s: %s has no user PIN yet (%s): initialise it (e.g. softhsm2-util --init-token)", cfg.pinSetting(), cfg.tokenName(), ckrName(rv))
		}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "could not find PKCS#11 token"):
		if cfg.TokenLabel != "" {
			return fmt.Errorf("pkcs11-token-label: the module %s has no initialised token labelled %q (softhsm2-util --show-slots or pkcs11-tool --list-slots lists them)", cfg.Module, cfg.TokenLabel)
		}
		return fmt.Errorf("pkcs11-slot: the module %s has no initialised token in slot %d (softhsm2-util --show-slots or pkcs11-tool --list-slots lists them)", cfg.Module, cfg.Slot)
	case strings.Contains(msg, "failed to open module"):
		return fmt.Errorf("pkcs11-module: %s could not be loaded as a shared library (not a PKCS#11 module for this system?)", cfg.Module)
	case strings.Contains(msg, "failed to initialize module"):
		return fmt.Errorf("pkcs11-module: %s did not initialise (C_Initialize: %w); for SoftHSM check SOFTHSM2_CONF and its tokendir", cfg.Module, errors.Unwrap(err))
	}
	return fmt.Errorf("pkcs11-module: %s: %w", cfg.Module, err)
}

// ckrName is the name of a PKCS#11 return value (CKR_PIN_INCORRECT).
func ckrName(rv pkcs11.Error) string {
	s := rv.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// Key returns the key pair Config names. Errors name pkcs11-key-label
// (or pkcs11-key-id) when the token holds no such key pair (a private key
// with a public key object of the same CKA_ID).
func (t *Token) Key() (Signer, error) {
	pairs, err := t.ctx.FindKeyPairs(t.cfg.KeyID, []byte(t.cfg.KeyLabel))
	if err != nil {
		return nil, fmt.Errorf("%s: look for the key in %s: %w", t.keySetting(), t.cfg.tokenName(), err)
	}
	switch len(pairs) {
	case 0:
		return nil, fmt.Errorf("%s: %s holds no key pair by that name (a private key, and a public key object of the same CKA_ID): check the label or ID (pkcs11-tool --list-objects), or make the key with `certgate ca rotate` and the pkcs11-* settings",
			t.keySetting(), t.cfg.tokenName())
	case 1:
		return pairs[0], nil
	}
	return nil, fmt.Errorf("%s: %s holds %d key pairs by that name: give pkcs11-key-id too, to name one", t.keySetting(), t.cfg.tokenName(), len(pairs))
}

// keySetting names the key setting with its value.
func (t *Token) keySetting() string { return t.cfg.keyName() }

// GenerateKey creates the key pair Config names in the token (CKA_TOKEN,
// CKA_SENSITIVE, not CKA_EXTRACTABLE: the private key never leaves it),
// of keyType: "ecdsa-p256", "ecdsa-p384" or "rsa-BITS" (BITS from 2048
// to 8192, a multiple of 8; the key signs only). Its CKA_LABEL is
// KeyLabel (none when ""), its CKA_ID KeyID or, when that is empty, 8
// random bytes. A token that holds a key of the label or ID already is
// refused with an error wrapping ErrKeyExists.
func (t *Token) GenerateKey(keyType string) (Signer, error) {
	for _, q := range []struct {
		id, label []byte
	}{{nil, []byte(t.cfg.KeyLabel)}, {t.cfg.KeyID, nil}} {
		if len(q.id) == 0 && len(q.label) == 0 {
			continue
		}
		// Private keys with any CKA_ID, then key pairs (with a CKA_ID).
		found, err := t.ctx.FindPrivateKeys(q.id, q.label)
		if err != nil {
			return nil, fmt.Errorf("%s: look for the key in %s: %w", t.keySetting(), t.cfg.tokenName(), err)
		}
		if len(found) > 0 {
			return nil, fmt.Errorf("%s: %w (%s): choose another, or delete that key first", t.keySetting(), ErrKeyExists, t.cfg.tokenName())
		}
	}
	id := t.cfg.KeyID
	if len(id) == 0 {
		id = make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return nil, fmt.Errorf("pkcs11: random key ID: %w", err)
		}
	}
	pub, err := crypto11.NewAttributeSetWithID(id)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: %w", err)
	}
	if t.cfg.KeyLabel != "" {
		if err := pub.Set(crypto11.CkaLabel, []byte(t.cfg.KeyLabel)); err != nil {
			return nil, fmt.Errorf("pkcs11: %w", err)
		}
	}
	priv := pub.Copy()
	var k Signer
	switch keyType {
	case "ecdsa-p256":
		k, err = t.ctx.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P256())
	case "ecdsa-p384":
		k, err = t.ctx.GenerateECDSAKeyPairWithAttributes(pub, priv, elliptic.P384())
	default:
		bits, ok := strings.CutPrefix(keyType, "rsa-")
		n, aerr := strconv.Atoi(bits)
		if !ok || aerr != nil || n < 2048 || n > 8192 || n%8 != 0 {
			return nil, fmt.Errorf("pkcs11: key type %q is not ecdsa-p256, ecdsa-p384 or rsa-BITS", keyType)
		}
		// A CA key signs; it decrypts nothing.
		if err := priv.Set(crypto11.CkaDecrypt, false); err != nil {
			return nil, fmt.Errorf("pkcs11: %w", err)
		}
		if err := pub.Set(crypto11.CkaEncrypt, false); err != nil {
			return nil, fmt.Errorf("pkcs11: %w", err)
		}
		k, err = t.ctx.GenerateRSAKeyPairWithAttributes(pub, priv, n)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: generate a %s key in %s: %w", t.keySetting(), keyType, t.cfg.tokenName(), err)
	}
	return k, nil
}

// Close logs out and closes the token's sessions; the key pairs it
// returned sign no more.
func (t *Token) Close() error {
	if err := t.ctx.Close(); err != nil {
		return fmt.Errorf("pkcs11: close: %w", err)
	}
	return nil
}
