package main

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/hsm"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer/local"
	"github.com/certgate/certgate/internal/server"
	"github.com/certgate/certgate/internal/va"
	"github.com/certgate/certgate/internal/wfe"
	"github.com/spf13/cobra"
)

// initOpts are the settings of `certgate init`.
type initOpts struct {
	data, keyType, rootKeyType      string
	org, country, rootCN, interCN   string
	hostname, listen, pkiURL, cfgTo string
	rootValidity, interValidity     time.Duration
}

// newInit is `certgate init`: a data directory with the built-in CA made
// to the operator's choice, before the first `serve` (which otherwise
// creates one with the defaults).
func newInit() *cobra.Command {
	var o initOpts
	var checkPKCS11 func() (*config.PKCS11, error)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a data directory with the built-in CA (key types, names, validity, URLs) before the first serve",
		Long: `Create the built-in CA in DATA/ca with the choices 'certgate serve' would otherwise make
on its first start: the intermediate's and the root's key types (--ca-key-type,
--ca-root-key-type: ` + strings.Join(local.KeyTypes, ", ") + `; the CA/B Forum BR allow no
Ed25519 CA key), the subjects (--ca-organization, --ca-country, --ca-root-cn,
--ca-intermediate-cn), the validities, and the URLs of the root certificate and root CRL that
the intermediate names (AIA caIssuers, CRL distribution point): under --pki-url, by default
http://HOSTNAME:PORT of --hostname and --listen, where serve publishes /pki. With
--config-out FILE it also writes a commented starter configuration file (YAML, the keys
'certgate serve --config FILE' reads; an existing file is never overwritten).

'certgate serve --data DATA' then uses this CA. A data directory that holds a CA already is
refused: rotate its intermediate with 'certgate ca rotate', or move DATA/ca aside and
'certgate ca import' another. Refused too while a server runs on the data directory. The
database is not touched: the first serve records the CA in it (docs/pki.md#creating-the-ca-before-the-first-start-certgate-init).

With --pkcs11-module (and --pkcs11-token-label or --pkcs11-slot, --pkcs11-key-label and/or
--pkcs11-key-id, and the PIN in CERTGATE_PKCS11_PIN, the config file or --pkcs11-pin-file)
the intermediate's key (--ca-key-type) is made in that PKCS#11 token (an HSM), never on disk;
start certgate serve with the same pkcs11-* settings (docs/pki.md#keys-in-an-hsm-pkcs11).
Needs a cgo build.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := config.Resolve(cmd.Flags()); err != nil {
				return err
			}
			opts, err := o.caOptions()
			if err != nil {
				return err
			}
			p11, err := checkPKCS11()
			if err != nil {
				return err
			}
			// Everything that can be refused is refused before anything is
			// made: the starter configuration's file is created (empty,
			// exclusively) before the CA, and removed again, with a data
			// directory init made, when init fails.
			done := false
			var cfgFile *os.File
			if o.cfgTo != "" {
				cfgFile, err = os.OpenFile(o.cfgTo, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if errors.Is(err, fs.ErrExist) {
					return fmt.Errorf("--config-out %s exists; refusing to overwrite it (choose a new file)", o.cfgTo)
				}
				if err != nil {
					return fmt.Errorf("--config-out: %w", err)
				}
				defer func() {
					if cfgFile != nil {
						cfgFile.Close()
					}
					if !done {
						os.Remove(o.cfgTo)
					}
				}()
			}
			_, statErr := os.Lstat(o.data)
			newData := errors.Is(statErr, fs.ErrNotExist)
			unlock, err := lockData(o.data, "initialising it")
			if err != nil {
				if newData {
					os.Remove(o.data)
				}
				return err
			}
			defer func() {
				if !done && newData { // leave no empty data directory behind
					os.Remove(filepath.Join(o.data, server.LockFile))
					os.Remove(server.CADir(o.data))
					os.Remove(o.data)
				}
				unlock()
			}()
			dir := server.CADir(o.data)
			removed, err := local.RemoveLeftovers(dir)
			for _, p := range removed {
				fmt.Fprintf(cmd.ErrOrStderr(), "removed %s, the leftover of an interrupted CA import or creation\n", p)
			}
			if err != nil {
				return err
			}
			var tokenKey hsm.Signer
			if p11.Module != "" {
				exists, err := local.Exists(dir)
				if err != nil {
					return err
				}
				if !exists { // else refused below, and no key is made
					var tok *hsm.Token
					if tok, tokenKey, opts.IntermediateKeyName, err = newTokenKey(p11, o.keyType, ""); err != nil {
						return err
					}
					defer tok.Close()
					opts.IntermediateKey = tokenKey
				}
			}
			ca, err := local.Create(dir, opts)
			if err != nil && tokenKey != nil {
				// Nothing signs with it: not left in the token.
				if derr := tokenKey.Delete(); derr != nil {
					err = fmt.Errorf("%w (and deleting the new key %s failed: %v)", err, opts.IntermediateKeyName, derr)
				}
			}
			if errors.Is(err, local.ErrCAExists) {
				what := "a CA"
				if b, rerr := local.ReadRootPEM(dir); rerr == nil {
					if blk, _ := pem.Decode(b); blk != nil {
						if root, perr := x509.ParseCertificate(blk.Bytes); perr == nil {
							what = fmt.Sprintf("the CA with root SHA-256 %s (%s)", local.Fingerprint(root), root.Subject.CommonName)
						}
					}
				}
				return fmt.Errorf("%s already holds %s; certgate init never replaces it: rotate its intermediate with 'certgate ca rotate', or move %s aside and 'certgate ca import' another",
					dir, what, dir)
			}
			if err != nil {
				return err
			}
			done = true // the CA exists: it and its directory stay
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created the built-in CA in %s: root %q (%s, until %s, SHA-256 %s), intermediate %q (%s, until %s)\n",
				dir, ca.Root().Subject.CommonName, keyName(ca.Root().PublicKey), ca.Root().NotAfter.UTC().Format(time.DateOnly), local.Fingerprint(ca.Root()),
				ca.Intermediate().Subject.CommonName, keyName(ca.Intermediate().PublicKey), ca.Intermediate().NotAfter.UTC().Format(time.DateOnly))
			if tokenKey != nil {
				fmt.Fprintf(out, "the intermediate's key is %s, not on disk: start certgate serve with the same pkcs11-* settings\n", opts.IntermediateKeyName)
			}
			start := "certgate serve --data " + o.data
			if o.cfgTo != "" {
				err := writeStarterConfig(cfgFile, o, opts.RootIssuerURL, p11)
				cfgFile = nil
				if err != nil {
					os.Remove(o.cfgTo)
					return fmt.Errorf("created the CA, but: %w", err)
				}
				fmt.Fprintf(out, "wrote the starter configuration %s\n", o.cfgTo)
				start = "certgate serve --config " + o.cfgTo
			}
			fmt.Fprintf(out, "next: %s; clients trust the root: certgate ca root --data %s --out certgate-root.pem\n", start, o.data)
			return nil
		},
	}
	f := cmd.Flags()
	dataFlags(cmd, &o.data)
	f.StringVar(&o.keyType, "ca-key-type", "ecdsa-p256", "key of the intermediate, which signs certificates, CRLs and OCSP responses: "+strings.Join(local.KeyTypes, ", "))
	f.StringVar(&o.rootKeyType, "ca-root-key-type", "ecdsa-p384", "key of the root: "+strings.Join(local.KeyTypes, ", "))
	f.StringVar(&o.org, "ca-organization", local.DefaultOrganization, "subject O= of the root and the intermediate (as serve's --ca-organization)")
	f.StringVar(&o.country, "ca-country", "", "subject C= (ISO 3166-1 two-letter code, e.g. DE) of the root and the intermediate; CA/B Forum BR §7.1.2.10.2 asks a CA for it. Empty: none")
	f.StringVar(&o.rootCN, "ca-root-cn", "", `subject CN= of the root (default: "ORGANIZATION Root CA" and a random 6-hex-digit tag)`)
	f.StringVar(&o.interCN, "ca-intermediate-cn", "", `subject CN= of the intermediate (default: "ORGANIZATION Intermediate CA" and the tag)`)
	f.Var(config.DurationValue(&o.rootValidity, local.DefaultRootValidity), "ca-root-validity", "validity of the root (e.g. 3653d)")
	f.Var(config.DurationValue(&o.interValidity, local.DefaultIntermediateValidity), "ca-intermediate-validity", "validity of the intermediate, at most the root's (e.g. 1826d)")
	f.StringVar(&o.hostname, "hostname", "localhost", "host name clients use to reach the server (as serve's --hostname): the default --pki-url's host, and the starter configuration's")
	f.StringVar(&o.listen, "listen", ":8443", "HTTPS listen address of the server (as serve's --listen): the default --pki-url's port, and the starter configuration's")
	f.StringVar(&o.pkiURL, "pki-url", "", "http://HOST:PORT where certgate serve publishes /pki: the intermediate names the root certificate and root CRL there (default http://HOSTNAME:PORT of --hostname and --listen)")
	f.StringVar(&o.cfgTo, "config-out", "", "also write a commented starter configuration file (YAML) for 'certgate serve --config FILE'; never overwrites")
	checkPKCS11 = config.PKCS11Flags(f)
	return cmd
}

// keyName names a public key as the inventory does ("ECDSA P-256", "RSA
// 4096").
func keyName(pub crypto.PublicKey) string {
	t, _ := inventory.KeyInfo(pub)
	return t
}

// caOptions checks the settings and returns the options of the CA to
// create; errors are one line naming the flag.
func (o *initOpts) caOptions() (local.Options, error) {
	for _, k := range []struct{ flag, v string }{{"ca-key-type", o.keyType}, {"ca-root-key-type", o.rootKeyType}} {
		if !slices.Contains(local.KeyTypes, k.v) {
			why := ""
			if strings.EqualFold(k.v, "ed25519") {
				why = " (the CA/B Forum BR allow no Ed25519 CA key)"
			}
			return local.Options{}, fmt.Errorf("--%s %q is not one of %s%s", k.flag, k.v, strings.Join(local.KeyTypes, ", "), why)
		}
	}
	for _, n := range []struct{ flag, v string }{{"ca-root-cn", o.rootCN}, {"ca-intermediate-cn", o.interCN}} {
		if err := local.CheckCommonName(n.v); n.v != "" && err != nil {
			return local.Options{}, fmt.Errorf("--%s %w", n.flag, err)
		}
	}
	if o.rootCN != "" && o.rootCN == o.interCN {
		return local.Options{}, fmt.Errorf("--ca-root-cn and --ca-intermediate-cn are the same (%q): the root and the intermediate need different common names", o.rootCN)
	}
	country, err := config.CheckCASubject(o.org, o.country)
	if err != nil {
		return local.Options{}, fmt.Errorf("--%w", err)
	}
	o.country = country
	if o.rootValidity <= 0 || o.interValidity <= 0 {
		return local.Options{}, errors.New("--ca-root-validity and --ca-intermediate-validity must be positive")
	}
	if o.interValidity > o.rootValidity {
		return local.Options{}, fmt.Errorf("--ca-intermediate-validity %s is longer than --ca-root-validity %s: an intermediate cannot outlive its root",
			config.FormatDuration(o.interValidity), config.FormatDuration(o.rootValidity))
	}
	if err := config.CheckHostname(o.hostname); err != nil {
		return local.Options{}, fmt.Errorf("--%w", err)
	}
	o.hostname = config.NormalizeHostname(o.hostname)
	base := o.pkiURL
	if base == "" {
		_, port, err := net.SplitHostPort(o.listen)
		if err != nil || port == "" || port == "0" {
			return local.Options{}, fmt.Errorf("--listen %q has no fixed port for the default --pki-url: give --pki-url http://HOST:PORT", o.listen)
		}
		base = "http://" + net.JoinHostPort(o.hostname, port)
	}
	if base, err = parsePKIURL(base); err != nil {
		return local.Options{}, err
	}
	return local.Options{KeyType: o.keyType, RootKeyType: o.rootKeyType, Organization: o.org, Country: o.country,
		RootCommonName: o.rootCN, IntermediateCommonName: o.interCN, RootValidity: o.rootValidity, IntermediateValidity: o.interValidity,
		RootIssuerURL: base + wfe.RootCertPath, RootCRLURL: base + wfe.RootCRLPath}, nil
}

// writeStarterConfig writes the commented starter configuration of o to
// f (a new file, mode 0600: it may later hold a database password), and
// closes it:
// the serve settings init knows, and the common others commented out.
// rootURL is the root certificate's URL the intermediate names; p11's
// settings, but the PIN, are written when its Module is set.
func writeStarterConfig(f *os.File, o initOpts, rootURL string, p11 *config.PKCS11) error {
	path := o.cfgTo
	data, err := filepath.Abs(o.data)
	if err != nil {
		f.Close()
		return err
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) } // a YAML double-quoted scalar
	country := "# ca-country: \"DE\""
	if o.country != "" {
		country = "ca-country: " + q(o.country)
	}
	text := `# certgate configuration, written by 'certgate init' on ` + time.Now().UTC().Format(time.DateOnly) + `.
# Keys are the flag names of 'certgate serve' (certgate serve --help); a flag or a
# CERTGATE_* environment variable overrides a key here. Start the server with:
#   certgate serve --config ` + path + `

# Data directory: the SQLite database, the built-in CA (DATA/ca) and the lock file.
data: ` + q(data) + `

# Host name ACME clients use to reach this server, and the HTTPS listen address (plain
# HTTP on the same port serves /pki). The CA's intermediate names its root certificate
# at ` + rootURL + `: keep them so.
hostname: ` + q(o.hostname) + `
listen: ` + q(o.listen) + `

# The built-in CA exists (certgate init made it with these names): serve never changes
# its subject; these apply only to a CA it would create.
ca-organization: ` + q(o.org) + `
` + country + `

# Database: empty uses SQLite at DATA/certgate.db. Nodes of a cluster share PostgreSQL:
# db: "postgres://certgate@db.internal:5432/certgate?sslmode=verify-full"

# Prometheus metrics, /healthz and /readyz on a plain-HTTP address of their own:
# metrics-listen: "127.0.0.1:9464"

# The admin API (/api/v1) on its own HTTPS address instead of listen:
# admin-listen: "127.0.0.1:9443"

# Networks that http-01 and tls-alpn-01 validation never connect to; a public-facing
# CA should deny the internal ones:
# va-deny-networks: "` + va.PublicDenyNetworks + `"

# Validity of issued certificates (default 90d, shortened as the CA/B Forum BR require):
# cert-validity: "90d"

# The OCSP responder at /pki/ocsp, named in issued certificates (on by default):
# ocsp: true
`
	if p11 != nil && p11.Module != "" {
		text += "\n# The intermediate's key is in this PKCS#11 token (docs/pki.md#keys-in-an-hsm-pkcs11); the\n" +
			"# PIN comes from CERTGATE_PKCS11_PIN, pkcs11-pin-file, or a pkcs11-pin key here.\n" +
			"pkcs11-module: " + q(p11.Module) + "\n"
		if p11.TokenLabel != "" {
			text += "pkcs11-token-label: " + q(p11.TokenLabel) + "\n"
		} else {
			text += fmt.Sprintf("pkcs11-slot: %d\n", p11.Slot)
		}
		if p11.KeyLabel != "" {
			text += "pkcs11-key-label: " + q(p11.KeyLabel) + "\n"
		}
		if len(p11.KeyID) > 0 {
			text += "pkcs11-key-id: " + q(hex.EncodeToString(p11.KeyID)) + "\n"
		}
		if p11.PINFile != "" {
			if abs, err := filepath.Abs(p11.PINFile); err == nil {
				text += "pkcs11-pin-file: " + q(abs) + "\n"
			}
		}
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
