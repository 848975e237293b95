package config

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// PKCS11 holds the pkcs11-* settings: the built-in CA's issuing
// (intermediate) key in a PKCS#11 token (docs/pki.md, "Keys in an HSM
// (PKCS#11)"). Module "" means the key is DATA/ca/intermediate.key.
type PKCS11 struct {
	Module     string // pkcs11-module: path of the PKCS#11 module (shared library)
	TokenLabel string // pkcs11-token-label
	Slot       int    // pkcs11-slot; -1: none (the token is chosen by label)
	// PIN is the user PIN: from CERTGATE_PKCS11_PIN or the config file's
	// pkcs11-pin (refused on the command line), or read from PINFile
	// (pkcs11-pin-file, trimmed).
	PIN      string
	PINFile  string // pkcs11-pin-file: file holding the user PIN ("": none)
	KeyLabel string // pkcs11-key-label: CKA_LABEL of the key pair
	KeyID    []byte // pkcs11-key-id: CKA_ID of the key pair (given in hex)
}

// PINSetting names the setting the PIN came from, for errors:
// "pkcs11-pin-file FILE" or "pkcs11-pin".
func (p *PKCS11) PINSetting() string {
	if p.PINFile != "" {
		return "pkcs11-pin-file " + p.PINFile
	}
	return "pkcs11-pin"
}

// PKCS11Flags registers the pkcs11-* settings on fs (they are among the
// serve settings too) for a command that opens the token outside the
// server (`certgate ca rotate`), and returns a function that checks them
// once the command's flags are resolved (config.Resolve: flag, CERTGATE_*
// variable, configuration file; the commands' PreRunE runs it). Errors
// name the setting.
func PKCS11Flags(fs *pflag.FlagSet) func() (*PKCS11, error) {
	p := &PKCS11{}
	check := pkcs11Flags(fs, p)
	return func() (*PKCS11, error) {
		if err := check(); err != nil {
			return nil, err
		}
		return p, nil
	}
}

func pkcs11Flags(fs *pflag.FlagSet, p *PKCS11) func() error {
	var keyID string
	fs.StringVar(&p.Module, "pkcs11-module", "", "PKCS#11 module (shared library) of the token holding the built-in CA's issuing key, e.g. /usr/lib/softhsm/libsofthsm2.so; empty: the key is DATA/ca/intermediate.key (needs a cgo build)")
	fs.StringVar(&p.TokenLabel, "pkcs11-token-label", "", "label of the PKCS#11 token holding the issuing key (or pkcs11-slot)")
	fs.IntVar(&p.Slot, "pkcs11-slot", -1, "slot ID of the PKCS#11 token holding the issuing key, instead of pkcs11-token-label; -1: none")
	fs.StringVar(&p.PIN, "pkcs11-pin", "", "user PIN of the PKCS#11 token: from CERTGATE_PKCS11_PIN or the config file only (refused on the command line), or use pkcs11-pin-file")
	fs.StringVar(&p.PINFile, "pkcs11-pin-file", "", "file holding the user PIN of the PKCS#11 token")
	fs.StringVar(&p.KeyLabel, "pkcs11-key-label", "", "CKA_LABEL of the issuing key pair in the PKCS#11 token")
	fs.StringVar(&keyID, "pkcs11-key-id", "", "CKA_ID of the issuing key pair in the PKCS#11 token, in hex (with or without pkcs11-key-label)")
	markSecret(fs, "pkcs11-pin")
	return func() error {
		if f := fs.Lookup("pkcs11-pin"); f != nil && f.Changed {
			return fmt.Errorf("pkcs11-pin: not accepted on the command line (every user of the machine can read it): set %s, the config file's pkcs11-pin, or pkcs11-pin-file", EnvName("pkcs11-pin"))
		}
		if keyID != "" {
			id, err := hex.DecodeString(strings.ReplaceAll(keyID, ":", ""))
			if err != nil || len(id) == 0 {
				return fmt.Errorf("pkcs11-key-id: %q is not a CKA_ID in hex (e.g. 01 or 3f:a1)", keyID)
			}
			p.KeyID = id
		}
		if p.Module == "" {
			for _, name := range []string{"pkcs11-token-label", "pkcs11-slot", "pkcs11-pin", "pkcs11-pin-file", "pkcs11-key-label", "pkcs11-key-id"} {
				if f := fs.Lookup(name); f != nil && f.Value.String() != f.DefValue {
					return fmt.Errorf("%s: set, but pkcs11-module is not: give the PKCS#11 module's path too", name)
				}
			}
			return nil
		}
		if p.Slot < -1 {
			return fmt.Errorf("pkcs11-slot: %d is not a slot ID (or -1 for none)", p.Slot)
		}
		if (p.TokenLabel == "") == (p.Slot < 0) {
			return fmt.Errorf("pkcs11-token-label and pkcs11-slot: give one of them to choose the token")
		}
		if p.KeyLabel == "" && len(p.KeyID) == 0 {
			return fmt.Errorf("pkcs11-key-label: not set: give the label of the issuing key pair (or its CKA_ID with pkcs11-key-id)")
		}
		var err error
		if p.PIN, err = secretOf("pkcs11-pin", p.PIN, p.PINFile); err != nil {
			return err
		}
		if p.PIN == "" && p.PINFile != "" {
			return fmt.Errorf("pkcs11-pin-file %s: the file is empty: write the token's user PIN in it", p.PINFile)
		}
		if p.PIN == "" {
			return fmt.Errorf("pkcs11-pin: not set: give the token's user PIN in %s, the config file's pkcs11-pin, or pkcs11-pin-file", EnvName("pkcs11-pin"))
		}
		return nil
	}
}
