//go:build cgo

package hsm

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// Token is an open PKCS#11 token: a logged-in session pool (crypto11),
// safe for concurrent use. Close it when done.
//
// A token that loses its sessions or object handles while open (an HSM
// restarted or failed over, a USB token pulled and put back: the module
// answers CKR_OBJECT_HANDLE_INVALID, CKR_SESSION_HANDLE_INVALID,
// CKR_DEVICE_REMOVED and the like) is reopened: the module is
// finalised and initialised again, logged in to, and the key pairs found
// anew, by the next signature (which is then retried once) or by Check.
type Token struct {
	cfg Config

	mu     sync.RWMutex
	ctx    *crypto11.Context // nil after a reopening that failed, or Close
	gen    uint64            // counts the reopenings
	closed bool
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
	ctx, err := configure(cfg)
	if err != nil {
		return nil, err
	}
	return &Token{ctx: ctx, cfg: cfg}, nil
}

// configure opens cfg's token and logs in (crypto11.Configure); errors as
// Open's.
func configure(cfg Config) (*crypto11.Context, error) {
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
	return ctx, nil
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
// with a public key object of the same CKA_ID). The key pair is found
// again after the token is reopened (see Token); a signature then fails
// if the token holds another key under the name.
func (t *Token) Key() (Signer, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	s, err := t.findKey()
	if err != nil {
		return nil, err
	}
	return &tokenKey{t: t, pub: s.Public(), cur: s, gen: t.gen}, nil
}

// findKey finds the key pair Config names in t.ctx; t.mu is held.
func (t *Token) findKey() (crypto11.Signer, error) {
	if t.ctx == nil {
		return nil, t.notOpen()
	}
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

// notOpen is the error of a token that is closed, or whose reopening
// failed; t.mu is held.
func (t *Token) notOpen() error {
	if t.closed {
		return errors.New("pkcs11: the token is closed")
	}
	return fmt.Errorf("pkcs11-module: %s is not open: reopening it failed", t.cfg.tokenName())
}

// reopen closes the token's module context and opens it again (see
// Token), unless another caller did since gen was read: the module is
// finalised when no other Token of the process holds it, so that it
// reads the token's objects anew.
func (t *Token) reopen(gen uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return t.notOpen()
	}
	if t.gen != gen && t.ctx != nil {
		return nil
	}
	if t.ctx != nil {
		t.ctx.Close()
		t.ctx = nil
	}
	ctx, err := configure(t.cfg)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	t.ctx = ctx
	t.gen++
	return nil
}

// reopenedSince reports whether the token was reopened (or closed) since
// generation gen.
func (t *Token) reopenedSince(gen uint64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.gen != gen || t.ctx == nil
}

// Check finds the key pair Config names in the token, reopening the
// token when that fails (see Token), and returns the error when the key
// pair is still not found: for a readiness probe. It costs a search of the
// token's objects (C_FindObjects) when the token is well.
func (t *Token) Check() error {
	t.mu.RLock()
	gen := t.gen
	_, err := t.findKey()
	t.mu.RUnlock()
	if err == nil {
		return nil
	}
	if err := t.reopen(gen); err != nil {
		return err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, err = t.findKey()
	return err
}

// lostHandle reports whether err from the module means the token lost
// the session or the key's object handle (see Token).
func lostHandle(err error) bool {
	var rv pkcs11.Error
	if !errors.As(err, &rv) {
		return false
	}
	switch rv {
	case pkcs11.CKR_OBJECT_HANDLE_INVALID, pkcs11.CKR_KEY_HANDLE_INVALID, pkcs11.CKR_SESSION_HANDLE_INVALID,
		pkcs11.CKR_SESSION_CLOSED, pkcs11.CKR_DEVICE_REMOVED, pkcs11.CKR_TOKEN_NOT_PRESENT,
		pkcs11.CKR_TOKEN_NOT_RECOGNIZED, pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED,
		pkcs11.CKR_DEVICE_ERROR:
		return true
	}
	return false
}

// tokenKey is a key pair of a Token that outlives the token's reopening
// (see Token): its Public stays, its Sign finds the key pair again.
type tokenKey struct {
	t   *Token
	pub crypto.PublicKey

	mu  sync.Mutex
	cur crypto11.Signer // found in the token's context of generation gen
	gen uint64
}

// Public returns the key pair's public key.
func (k *tokenKey) Public() crypto.PublicKey { return k.pub }

// Sign signs digest in the token (C_Sign). When the token lost the
// session or the key's handle, it reopens the token and signs once more.
func (k *tokenKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s, gen, err := k.signer()
	if err != nil && k.t.reopenedSince(gen) { // a reopening failed: try again
		if rerr := k.t.reopen(gen); rerr != nil {
			return nil, fmt.Errorf("%s: %w", k.t.keySetting(), rerr)
		}
		s, gen, err = k.signer()
	}
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(r, digest, opts)
	switch {
	case err == nil:
		return sig, nil
	case lostHandle(err):
		if rerr := k.t.reopen(gen); rerr != nil {
			return nil, fmt.Errorf("%s: %w; %w", k.t.keySetting(), err, rerr)
		}
	case !k.t.reopenedSince(gen): // else the context s was in closed while it signed
		return nil, err
	}
	if s, _, err = k.signer(); err != nil {
		return nil, err
	}
	return s.Sign(r, digest, opts)
}

// Delete destroys the key pair's objects in the token.
func (k *tokenKey) Delete() error {
	s, _, err := k.signer()
	if err != nil {
		return err
	}
	return s.Delete()
}

// signer returns the key pair in the token's current context and that
// context's generation, finding the key pair again after a reopening.
func (k *tokenKey) signer() (crypto11.Signer, uint64, error) {
	k.t.mu.RLock()
	defer k.t.mu.RUnlock()
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gen != k.t.gen || k.t.ctx == nil {
		s, err := k.t.findKey()
		if err != nil {
			return nil, k.t.gen, err
		}
		if !s.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.pub) {
			return nil, k.t.gen, fmt.Errorf("%s: %s now holds another key pair by that name than the one the server started with", k.t.keySetting(), k.t.cfg.tokenName())
		}
		k.cur, k.gen = s, k.t.gen
	}
	return k.cur, k.gen, nil
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
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.ctx == nil {
		return nil, t.notOpen()
	}
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
	var k crypto11.Signer
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
	return &tokenKey{t: t, pub: k.Public(), cur: k, gen: t.gen}, nil
}

// Close logs out and closes the token's sessions; the key pairs it
// returned sign no more.
func (t *Token) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.ctx == nil {
		return nil
	}
	ctx := t.ctx
	t.ctx = nil
	if err := ctx.Close(); err != nil {
		return fmt.Errorf("pkcs11: close: %w", err)
	}
	return nil
}
