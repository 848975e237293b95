// Package local is certgate's built-in certificate authority: a two-level
// hierarchy (an ECDSA P-384 root and an ECDSA P-256 intermediate when it
// creates one; an imported intermediate may also be ECDSA P-384 or RSA, see
// AcceptedIntermediateKeys, and may sit below further CA certificates,
// see ChainFile) whose keys live as PEM files in one directory.
// The root's private key is needed only to create a CA and to sign the
// root's CRL (RootCRL): an imported CA may come without it (an
// enterprise's issuing intermediate under an offline root), see
// RootKeyFile.
// It signs TLS server leaves for the RA, the HTTPS listener's own
// certificate, CRLs and OCSP responses.
//
// A *CA is safe for concurrent use; once loaded only its root CRL changes
// (RootCRL signs it anew when half its validity has passed).
package local

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/certlint"
)

// File names inside the CA directory. Certificates are PEM "CERTIFICATE"
// blocks; keys are PEM "PRIVATE KEY" blocks holding PKCS#8 (RFC 5208) DER,
// written with mode 0600 in a directory created with mode 0700.
//
// RootKeyFile is optional: a CA whose root key is kept elsewhere (offline)
// is the other three files. When it is present it must match RootCertFile.
//
// ChainFile is optional too: in a PKI of more than two tiers (root →
// policy CA → issuing CA) it holds the CA certificates between the root
// and the intermediate (the issuing CA), as PEM "CERTIFICATE" blocks
// ordered as in a TLS chain: first the one that signed the intermediate,
// last the one the root signed. certgate sends them after the
// intermediate in every chain it serves. A two-tier CA has no ChainFile.
const (
	RootCertFile         = "root.crt"
	RootKeyFile          = "root.key"
	IntermediateCertFile = "intermediate.crt"
	IntermediateKeyFile  = "intermediate.key"
	ChainFile            = "chain.crt"
)

// Defaults applied by LoadOrCreate to zero Options fields.
const (
	// DefaultRootValidity is the validity of a newly created root: ~10 years.
	DefaultRootValidity = 3653 * 24 * time.Hour
	// DefaultIntermediateValidity is the validity of a newly created
	// intermediate: ~5 years (clamped to the root's NotAfter).
	DefaultIntermediateValidity = 1826 * 24 * time.Hour
	// DefaultOrganization is the subject O= of the CA certificates.
	DefaultOrganization = "certgate"
)

// Errors returned by this package; test with errors.Is.
var (
	// ErrPartialCA means the CA directory holds some CA file but lacks one
	// of the three required ones (RootCertFile, IntermediateCertFile,
	// IntermediateKeyFile; RootKeyFile and ChainFile are optional).
	// LoadOrCreate never overwrites or completes such a directory.
	ErrPartialCA = errors.New("local CA: directory is partially initialised")
	// ErrInvalidCA means the CA files exist but are unusable (bad PEM, key
	// not matching certificate, intermediate not signed by root, ...).
	ErrInvalidCA = errors.New("local CA: invalid CA files")
	// ErrInvalidRequest means a LeafRequest or CRL request was rejected by
	// the CA's own checks before anything was signed.
	ErrInvalidRequest = errors.New("local CA: invalid request")
	// ErrLint means Options.LintBeforeSign was set and the pre-signed
	// certificate failed certlint; the wrapped error is a
	// *certlint.LintError naming the failing lints.
	ErrLint = errors.New("local CA: certificate failed lint")
	// ErrIntermediateExpired means SignLeaf was asked for a certificate
	// whose validity would start at or after the intermediate's notAfter,
	// or the intermediate has expired: no certificate it signed could
	// verify. A new intermediate (`certgate ca rotate`) is needed.
	ErrIntermediateExpired = errors.New("local CA: the intermediate's validity has ended")
)

// Options configures LoadOrCreate. The zero value is usable.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RootValidity is the lifetime of a newly created root; 0 means
	// DefaultRootValidity. Ignored when loading.
	RootValidity time.Duration
	// IntermediateValidity is the lifetime of a newly created intermediate;
	// 0 means DefaultIntermediateValidity. Ignored when loading.
	IntermediateValidity time.Duration
	// Organization is the subject O= of newly created CA certificates; ""
	// means DefaultOrganization. Ignored when loading.
	Organization string
	// Country is the subject C= (ISO 3166-1 alpha-2) of newly created CA
	// certificates, which CA/B Forum BR §7.1.2.10.2 asks of a CA (zlint
	// e_ca_country_name_missing); "" means none. Ignored when loading.
	Country string
	// KeyType is the key of a newly created intermediate, one of KeyTypes;
	// "" means "ecdsa-p256". RootKeyType is the root's, likewise; "" means
	// "ecdsa-p384". Each CA certificate is signed with the algorithm BR
	// §7.1.3.2 gives the root key's type. Ignored when loading.
	KeyType, RootKeyType string
	// RootCommonName and IntermediateCommonName are the subject CN= of a
	// newly created root and intermediate (at most 64 characters, RFC 5280
	// ub-common-name); "" means Organization followed by " Root CA " or
	// " Intermediate CA " and a random six-hex-digit tag that keeps the
	// names of different installations apart. Ignored when loading.
	RootCommonName, IntermediateCommonName string
	// LintBeforeSign makes SignLeaf first build the to-be-signed
	// certificate (with a throwaway key under a copy of the intermediate),
	// run certlint.Check on it with a dummy signature and refuse (ErrLint)
	// on any finding before the real key is used (the idea of Boulder's
	// linting signer); the real key then signs exactly the linted TBS.
	LintBeforeSign bool
	// IssuerURL and CRLURL are the defaults for LeafRequest fields left
	// empty, and the URLs ServerCertificate uses. Lint-clean values are
	// plain http:// URLs (see LeafRequest). "" means none.
	IssuerURL, CRLURL string
	// RootIssuerURL and RootCRLURL are the AIA caIssuers (the root
	// certificate, DER) and the CRL distribution point (the root's CRL,
	// RootCRL) of a newly created intermediate (CA/B Forum BR
	// §7.1.2.10.3, §7.1.2.11.2); "" means none. Ignored when loading:
	// an existing intermediate keeps its extensions.
	RootIssuerURL, RootCRLURL string
	// ClusterRootCRL is the root's CRL that the nodes sharing the
	// database last published (DER; nil: none). When the root signed it
	// and its cRLNumber is greater than that of RootCRLFile's, it replaces
	// that file before LoadOrCreate decides whether to sign a new one
	// (AdoptRootCRL), so that a node does not sign a root CRL of its own
	// beside the cluster's.
	ClusterRootCRL []byte
	// RotatedURLs, when not nil, gives the defaults that replace IssuerURL
	// and CRLURL when the intermediate was made by Rotate (Rotated): URLs
	// that name it by its IntermediateID, since those of the intermediate
	// created with the CA stay with it.
	RotatedURLs func(id string) (issuerURL, crlURL string)
	// IntermediateKey, when not nil, is the intermediate's key held outside
	// the CA directory, in a PKCS#11 token (internal/hsm): the directory
	// then holds no IntermediateKeyFile (one there is refused, ErrInvalidCA:
	// the key would be on disk too), the key must match
	// IntermediateCertFile, and a new CA's intermediate gets this key.
	// IntermediateKeyName names it in errors (e.g. `pkcs11-key-label "ca"
	// in the token "certgate"`).
	IntermediateKey     crypto.Signer
	IntermediateKeyName string // IntermediateKey's name in errors

	// afterWrite, when not nil, is called by create after it wrote each
	// CA file into its temporary directory (tests kill the process there).
	afterWrite func(name string)
}

// CA is a loaded built-in CA: root and intermediate certificates plus the
// intermediate's signing key. The root key is only used at creation time
// and to sign the root's CRL (RootCRL), read from its file each time (and
// checked against the root certificate at load when its file is there);
// it is not kept in memory.
type CA struct {
	now               func() time.Time
	issuerURL, crlURL string // defaults for LeafRequest
	root              *x509.Certificate
	inter             *x509.Certificate
	interKey          crypto.Signer
	sig               sigAlg // how interKey signs
	rootPEM, interPEM []byte
	// upper are the CA certificates between inter and root (ChainFile),
	// from inter's issuer up; upperPEM is them as PEM, in that order.
	upper    []*x509.Certificate
	upperPEM []byte
	// nameCheck evaluates the name constraints of the chain (CheckName);
	// nil when it has none.
	nameCheck *nameChecker

	// lint is the pre-issuance linter (a *certlint.Linter skipping
	// certlint.PreIssuanceSkipped()) when Options.LintBeforeSign is set,
	// else nil; SignLeaf runs it through a lintingSigner.
	lint certChecker

	// dir is the CA directory (RootCRL reads RootKeyFile there and
	// writes RootCRLFile); rootCRL holds the root's current CRL.
	dir     string
	rootCRL *rootCRLState

	// retired are the intermediates that signed before inter (RetiredDir),
	// oldest first; rotated is set when inter was made by Rotate
	// (OriginalFile); retiredOnly marks a retired intermediate's *CA, which
	// signs CRLs and OCSP responses but no leaf; revokedInters are the
	// retired intermediates RevokeIntermediate revoked (the root's CRL
	// lists them).
	retired       []*CA
	pruned        []*x509.Certificate // retired intermediates without key (PruneRetired)
	rotated       bool
	retiredOnly   bool
	revokedInters []RevokedIntermediate
}

// rootCRLState is the root's current CRL (nil when there is none),
// guarded by mu.
type rootCRLState struct {
	mu  sync.Mutex
	cur *rootCRL
}

// certChecker lints a DER certificate; *certlint.Linter is one (tests wrap
// it to see what was linted).
type certChecker interface {
	Check(der []byte) error
}

// LoadOrCreate loads the CA from dir, or creates it when dir (or the
// directory itself) holds none of the CA files (RootCertFile, RootKeyFile,
// IntermediateCertFile, IntermediateKeyFile, ChainFile). Loading needs
// RootCertFile, a self-signed root, IntermediateCertFile and
// IntermediateKeyFile; RootKeyFile is optional and, when present, must
// match the root certificate;
// ChainFile is optional and, when present, must link the intermediate to
// the root.
//
// A new CA has a self-signed ECDSA P-384 root (ECDSA-SHA384, no path length
// constraint) and an ECDSA P-256 intermediate signed by it (pathLen 0, EKU
// serverAuth+clientAuth, certificate policy 2.23.140.1.2.1; AIA caIssuers
// Options.RootIssuerURL and CRL distribution point Options.RootCRLURL when
// set). Its files
// (keys with mode 0600, certificates 0644) are written into a temporary
// directory (mode 0700) that is then renamed to dir, so that a crash at
// any point leaves no CA or the whole CA (see install).
//
// When some file is present but a required one is missing it returns an
// error wrapping ErrPartialCA and touches nothing. Unparsable or
// inconsistent files give an error wrapping ErrInvalidCA, and so does a
// loaded CA certificate whose keyUsage extension lacks keyCertSign, or an
// intermediate whose lacks cRLSign (the error names it and the fix).
// Validity is not checked here (CheckValidAt): SignLeaf refuses once the
// intermediate has expired.
//
// When dir holds RootKeyFile, the root's CRL (RootCRL) is signed and
// written to RootCRLFile unless the file holds one of this root that is
// less than half its validity old.
func LoadOrCreate(dir string, opts Options) (*CA, error) {
	opts = opts.withDefaults()
	present, missing, err := caFilesIn(dir)
	if err != nil {
		return nil, err
	}
	if opts.IntermediateKey != nil {
		if slices.Contains(present, IntermediateKeyFile) {
			return nil, fmt.Errorf("%w: %s holds %s, but the intermediate's key is to be %s: remove the file (keep a copy offline) once the key is in the token, or unset the pkcs11-* settings",
				ErrInvalidCA, dir, IntermediateKeyFile, opts.IntermediateKeyName)
		}
		missing = slices.DeleteFunc(missing, func(n string) bool { return n == IntermediateKeyFile })
		present = slices.DeleteFunc(present, func(n string) bool { return n == IntermediateKeyFile })
	}
	var ca *CA
	switch {
	case len(missing) == 0:
		if err = finishRotation(dir); err == nil {
			ca, _, err = load(dir, extKey{opts.IntermediateKey, opts.IntermediateKeyName})
		}
		if err == nil {
			err = checkLoaded(dir, ca)
		}
	case len(present) == 0:
		ca, err = create(dir, opts)
	default:
		err = partialErr(dir, present, missing)
	}
	if err != nil {
		return nil, err
	}
	ca.now, ca.issuerURL, ca.crlURL = opts.Now, opts.IssuerURL, opts.CRLURL
	if ca.rotated && opts.RotatedURLs != nil {
		ca.issuerURL, ca.crlURL = opts.RotatedURLs(IntermediateID(ca.inter))
	}
	if err := loadRetired(dir, ca); err != nil {
		return nil, err
	}
	ca.dir, ca.rootCRL = dir, &rootCRLState{cur: readRootCRL(dir, ca.root)}
	if opts.ClusterRootCRL != nil {
		if _, err := ca.AdoptRootCRL(opts.ClusterRootCRL); err != nil {
			return nil, err
		}
	}
	if _, err := ca.RootCRL(); err != nil {
		return nil, err
	}
	if opts.LintBeforeSign {
		if ca.lint, err = certlint.NewPreIssuanceLinter(); err != nil {
			return nil, fmt.Errorf("local CA: %w", err)
		}
	}
	return ca, nil
}

// caFilesIn returns the CA files dir holds and the required ones it lacks
// (RootKeyFile and ChainFile are never missing: they are optional). A CA
// file that is a symbolic link to nothing is neither: it is refused
// (ErrInvalidCA) naming the link's target, which the operator meant to be
// there, rather than reported as missing.
func caFilesIn(dir string) (present, missing []string, err error) {
	for _, name := range caFiles() {
		path := filepath.Join(dir, name)
		_, err := os.Stat(path)
		switch {
		case err == nil:
			present = append(present, name)
		case errors.Is(err, fs.ErrNotExist):
			if target, lerr := os.Readlink(path); lerr == nil {
				return nil, nil, fmt.Errorf("%w: %s is a dangling symbolic link: its target %s does not exist", ErrInvalidCA, path, target)
			}
			if name != RootKeyFile && name != ChainFile { // optional
				missing = append(missing, name)
			}
		default:
			return nil, nil, fmt.Errorf("local CA: stat %s: %w", name, err)
		}
	}
	return present, missing, nil
}

func partialErr(dir string, present, missing []string) error {
	if len(missing) == 1 && missing[0] == IntermediateKeyFile {
		return fmt.Errorf("%w: %s has %s but lacks %s; restore it, or, when the intermediate's key is in a PKCS#11 token, give the pkcs11-* settings (pkcs11-module, pkcs11-token-label, pkcs11-pin, pkcs11-key-label)",
			ErrPartialCA, dir, strings.Join(present, ", "), IntermediateKeyFile)
	}
	return fmt.Errorf("%w: %s has %s but lacks %s; restore the missing files or empty the directory",
		ErrPartialCA, dir, strings.Join(present, ", "), strings.Join(missing, ", "))
}

// ReadRootPEM returns the PEM contents of dir/root.crt (RootCertFile). If
// the file does not exist the error wraps fs.ErrNotExist and says how to
// create the CA.
func ReadRootPEM(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, RootCertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no CA in %s yet: `certgate serve` creates it on its first run (give the same --data), or `certgate init` beforehand%w", dir, errNotExistQuiet{})
	}
	if err != nil {
		return nil, fmt.Errorf("local CA: read root certificate: %w", err)
	}
	if blk, _ := pem.Decode(b); blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("local CA: %s is not a PEM certificate", filepath.Join(dir, RootCertFile))
	} else if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return nil, fmt.Errorf("local CA: %s: %w", filepath.Join(dir, RootCertFile), err)
	}
	return b, nil
}

// ReadIntermediate returns the intermediate certificate of the CA in dir
// (dir/intermediate.crt, IntermediateCertFile), without its key: what a
// command that does not sign needs to tell this CA's certificates (e.g.
// `certgate cert revoke`). The error wraps fs.ErrNotExist when there is
// no such file, ErrInvalidCA when it is not a PEM certificate.
func ReadIntermediate(dir string) (*x509.Certificate, error) {
	_, c, err := readCert(filepath.Join(dir, IntermediateCertFile))
	return c, err
}

// ReadIntermediates returns the intermediate certificates of the CA in dir
// without their keys: the current one (IntermediateCertFile) first, then
// the retired ones (RetiredDir/ID/IntermediateCertFile, revoked or not,
// and those whose key PruneRetired removed), oldest first. A certificate
// any of them signed is this CA's. The error wraps fs.ErrNotExist when
// there is no current intermediate, ErrInvalidCA when a file is not a PEM
// certificate.
func ReadIntermediates(dir string) ([]*x509.Certificate, error) {
	cur, err := ReadIntermediate(dir)
	if err != nil {
		return nil, err
	}
	retired, err := retiredCerts(dir)
	if err != nil {
		return nil, err
	}
	out := []*x509.Certificate{cur}
	for _, c := range retired {
		if !c.Equal(cur) {
			out = append(out, c)
		}
	}
	return out, nil
}

// errNotExistQuiet wraps fs.ErrNotExist without adding text to the message.
type errNotExistQuiet struct{}

func (errNotExistQuiet) Error() string { return "" }
func (errNotExistQuiet) Unwrap() error { return fs.ErrNotExist }

// Root returns the root certificate. The caller must not modify it.
func (ca *CA) Root() *x509.Certificate { return ca.root }

// Intermediate returns the issuing (intermediate) certificate. The caller
// must not modify it.
func (ca *CA) Intermediate() *x509.Certificate { return ca.inter }

// RootPEM returns the root certificate as one PEM "CERTIFICATE" block (a
// fresh copy).
func (ca *CA) RootPEM() []byte { return bytes.Clone(ca.rootPEM) }

// IntermediatePEM returns the intermediate certificate as one PEM
// "CERTIFICATE" block (a fresh copy).
func (ca *CA) IntermediatePEM() []byte { return bytes.Clone(ca.interPEM) }

func (o Options) withDefaults() Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RootValidity <= 0 {
		o.RootValidity = DefaultRootValidity
	}
	if o.IntermediateValidity <= 0 {
		o.IntermediateValidity = DefaultIntermediateValidity
	}
	if o.Organization == "" {
		o.Organization = DefaultOrganization
	}
	return o
}

// CheckCommonName checks a CA certificate's common name given in Options
// (RootCommonName, IntermediateCommonName; `certgate init --ca-root-cn`,
// `--ca-intermediate-cn`): 1 to 64 characters (RFC 5280 ub-common-name)
// without control characters or surrounding spaces. The error quotes cn
// and says so, e.g. `"a\nb" must be 1 to 64 characters ...`.
func CheckCommonName(cn string) error {
	if cn == "" || strings.TrimSpace(cn) != cn || utf8.RuneCountInString(cn) > 64 || strings.ContainsFunc(cn, unicode.IsControl) {
		return fmt.Errorf("%q must be 1 to 64 characters without control characters or surrounding spaces (RFC 5280 ub-common-name)", cn)
	}
	return nil
}

// checkNew checks the Options fields that only creation reads: key types
// and common names (ErrInvalidRequest).
func (o Options) checkNew() error {
	for _, k := range []struct{ name, v string }{{"intermediate", o.KeyType}, {"root", o.RootKeyType}} {
		if k.v != "" && !slices.Contains(KeyTypes, k.v) {
			return fmt.Errorf("%w: %s key type %q is not one of %s", ErrInvalidRequest, k.name, k.v, strings.Join(KeyTypes, ", "))
		}
	}
	for _, n := range []struct{ name, v string }{{"root", o.RootCommonName}, {"intermediate", o.IntermediateCommonName}} {
		if err := CheckCommonName(n.v); n.v != "" && err != nil {
			return fmt.Errorf("%w: %s common name %w", ErrInvalidRequest, n.name, err)
		}
	}
	if o.RootCommonName != "" && o.RootCommonName == o.IntermediateCommonName {
		return fmt.Errorf("%w: the root and the intermediate need different common names (%q): a certificate whose issuer and subject are the same name is self-issued", ErrInvalidRequest, o.RootCommonName)
	}
	return nil
}

// Create creates a new CA in dir as LoadOrCreate does when dir holds none
// (the same code: key types, names and validities from opts), and returns
// it loaded. When dir holds any CA file it returns ErrCAExists and touches
// nothing: `certgate init` never replaces a CA (rotate the intermediate
// with Rotate, or import another CA into an empty directory with Import).
// The caller holds the data directory's lock.
func Create(dir string, opts Options) (*CA, error) {
	if err := checkExists(dir); err != nil {
		return nil, err
	}
	if err := opts.checkNew(); err != nil {
		return nil, err
	}
	return LoadOrCreate(dir, opts)
}

// country is the subject C= of new CA certificates: none when Country is
// "".
func (o Options) country() []string {
	if o.Country == "" {
		return nil
	}
	return []string{o.Country}
}

// create makes a new root and intermediate and writes them to dir.
func create(dir string, opts Options) (*CA, error) {
	now := opts.Now().UTC().Truncate(time.Second)
	notBefore := now.Add(-time.Hour) // tolerate clock skew of relying parties
	if err := opts.checkNew(); err != nil {
		return nil, err
	}
	rootKey, err := generateKey(cmp.Or(opts.RootKeyType, "ecdsa-p384"))
	if err != nil {
		return nil, fmt.Errorf("local CA: root key: %w", err)
	}
	var interKey crypto.Signer = opts.IntermediateKey
	if interKey == nil {
		if interKey, err = generateKey(cmp.Or(opts.KeyType, "ecdsa-p256")); err != nil {
			return nil, fmt.Errorf("local CA: intermediate key: %w", err)
		}
	}
	rootSig, err := sigAlgFor(rootKey.Public())
	if err != nil {
		return nil, fmt.Errorf("local CA: root %w", err)
	}
	// A short random tag keeps the names of different installations apart
	// in trust stores.
	tag := make([]byte, 3)
	if _, err := rand.Read(tag); err != nil {
		return nil, fmt.Errorf("local CA: random: %w", err)
	}
	suffix := hex.EncodeToString(tag)
	rootCN := cmp.Or(opts.RootCommonName, opts.Organization+" Root CA "+suffix)
	interCN := cmp.Or(opts.IntermediateCommonName, opts.Organization+" Intermediate CA "+suffix)

	rootSerial, err := RandomSerial()
	if err != nil {
		return nil, err
	}
	rootTmpl := &x509.Certificate{
		SerialNumber: rootSerial,
		Subject: pkix.Name{
			Country:      opts.country(),
			Organization: []string{opts.Organization},
			CommonName:   rootCN,
		},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(opts.RootValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SignatureAlgorithm:    rootSig.alg,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("local CA: sign root: %w", err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, fmt.Errorf("local CA: parse new root: %w", err)
	}

	interSerial, err := RandomSerial()
	if err != nil {
		return nil, err
	}
	interNotAfter := notBefore.Add(opts.IntermediateValidity)
	if interNotAfter.After(root.NotAfter) {
		interNotAfter = root.NotAfter
	}
	interTmpl := intermediateTemplate(interSerial, pkix.Name{
		Country:      opts.country(),
		Organization: []string{opts.Organization},
		CommonName:   interCN,
	}, notBefore, interNotAfter)
	interTmpl.SignatureAlgorithm = rootSig.alg
	if opts.RootIssuerURL != "" {
		interTmpl.IssuingCertificateURL = []string{opts.RootIssuerURL}
	}
	if opts.RootCRLURL != "" {
		interTmpl.CRLDistributionPoints = []string{opts.RootCRLURL}
	}
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, root, interKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("local CA: sign intermediate: %w", err)
	}
	inter, err := x509.ParseCertificate(interDER)
	if err != nil {
		return nil, fmt.Errorf("local CA: parse new intermediate: %w", err)
	}

	rootKeyPEM, err := keyPEM(rootKey)
	if err != nil {
		return nil, err
	}
	sig, err := sigAlgFor(interKey.Public())
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err) // one of KeyTypes, or a token's key of another type
	}
	ca := &CA{
		root:     root,
		inter:    inter,
		interKey: interKey,
		sig:      sig,
		rootPEM:  certPEM(rootDER),
		interPEM: certPEM(interDER),
	}
	files := []caFile{{RootKeyFile, rootKeyPEM, 0o600}}
	if opts.IntermediateKey == nil { // else it stays in its token
		interKeyPEM, err := keyPEM(interKey)
		if err != nil {
			return nil, err
		}
		files = append(files, caFile{IntermediateKeyFile, interKeyPEM, 0o600})
	}
	files = append(files, caFile{RootCertFile, ca.rootPEM, 0o644}, caFile{IntermediateCertFile, ca.interPEM, 0o644})
	if err := install(dir, files, opts.afterWrite); err != nil {
		return nil, err
	}
	return ca, nil
}

// caFile is one file of a new CA: its name in the CA directory, contents
// and mode.
type caFile struct {
	name string
	data []byte
	mode os.FileMode
}

// createPrefix starts the name of the temporary directory, next to the CA
// directory DIR, in which create writes a new CA: ".DIR.create-".
func createPrefix(dir string) string { return "." + filepath.Base(dir) + ".create-" }

// importPrefix starts the name of the temporary directory, next to the CA
// directory DIR, in which Import writes the imported CA: ".DIR.import-".
func importPrefix(dir string) string { return "." + filepath.Base(dir) + ".import-" }

// RemoveLeftovers removes the temporary directories that an interrupted
// Import or creation of the CA in dir (a process killed before its
// rename) left next to dir — ".DIR.import-*" and ".DIR.create-*", mode
// 0700, holding private keys — and returns the paths it removed, for the
// caller to log. The caller holds the data directory's lock, so that no
// import or creation is running meanwhile (certgate serve and certgate ca
// import call it). A missing parent directory is not an error.
func RemoveLeftovers(dir string) ([]string, error) {
	return removeTemps(filepath.Clean(dir), createPrefix(dir), importPrefix(dir))
}

// removeTemps removes the entries of dir's parent whose names start with
// one of prefixes, and returns their paths.
func removeTemps(dir string, prefixes ...string) ([]string, error) {
	parent := filepath.Dir(dir)
	entries, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	var removed []string
	for _, e := range entries {
		for _, p := range prefixes {
			if !strings.HasPrefix(e.Name(), p) {
				continue
			}
			path := filepath.Join(parent, e.Name())
			if err := os.RemoveAll(path); err != nil {
				return removed, fmt.Errorf("local CA: remove the leftover of an interrupted CA import or creation: %w", err)
			}
			removed = append(removed, path)
			break
		}
	}
	return removed, nil
}

// install writes files into a new temporary directory next to dir (mode
// 0700; each file synced), then moves that directory into place with one
// rename, as Import does: a crash or kill at any moment leaves either no
// CA in dir or the whole CA, never a partial or torn one (a file created
// but not yet written) that the next start would refuse as ErrPartialCA or
// ErrInvalidCA. What a crash before the rename leaves is the temporary
// directory only, holding keys that never signed anything; install removes
// such leftovers of earlier attempts first (the data directory lock keeps
// other processes from creating a CA in the same place meanwhile). dir may
// exist as an empty directory; one holding other files (but no CA file:
// LoadOrCreate checked) gets the synced files by hard links, keys first,
// as before: a crash between two links leaves a partial CA there, but no
// torn file. afterWrite, when not nil, is called after each
// file is written (tests kill the process there).
func install(dir string, files []caFile, afterWrite func(name string)) error {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("local CA: create directory: %w", err)
	}
	if _, err := removeTemps(dir, createPrefix(dir)); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, createPrefix(dir))
	if err != nil {
		return fmt.Errorf("local CA: %w", err)
	}
	defer os.RemoveAll(tmp) // after a successful rename tmp no longer exists
	// The directory will hold private keys.
	if err := os.Chmod(tmp, 0o700); err != nil {
		return fmt.Errorf("local CA: chmod directory: %w", err)
	}
	for _, f := range files {
		if err := writeExclusive(filepath.Join(tmp, f.name), f.data, f.mode); err != nil {
			return err
		}
		if afterWrite != nil {
			afterWrite(f.name)
		}
	}
	syncDir(tmp)
	switch err := os.Remove(dir); {
	case err == nil, errors.Is(err, fs.ErrNotExist):
		if err := os.Rename(tmp, dir); err != nil {
			return fmt.Errorf("local CA: move the new CA into %s: %w", dir, err)
		}
		syncDir(parent)
		return nil
	case !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST):
		return fmt.Errorf("local CA: %s: %w", dir, err)
	}
	// dir holds other files: link the synced ones in (failing if a CA file
	// appeared meanwhile), keys first.
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("local CA: chmod directory: %w", err)
	}
	for _, f := range files {
		if err := os.Link(filepath.Join(tmp, f.name), filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("local CA: %w", err)
		}
	}
	syncDir(dir)
	return nil
}

// extKey is the intermediate's key held outside the CA directory
// (Options.IntermediateKey) and its name in errors; key nil: the key is
// IntermediateKeyFile.
type extKey struct {
	key  crypto.Signer
	name string
}

// load reads and cross-checks the CA files: the three required ones and
// RootKeyFile when it exists; the intermediate's key is ext's when that
// is set, instead of IntermediateKeyFile. It also returns the root key,
// nil when its file does not exist.
func load(dir string, ext extKey) (*CA, crypto.Signer, error) {
	rootPEM, root, err := readCert(filepath.Join(dir, RootCertFile))
	if err != nil {
		return nil, nil, err
	}
	interPEM, inter, err := readCert(filepath.Join(dir, IntermediateCertFile))
	if err != nil {
		return nil, nil, err
	}
	rootKey, err := readKey(filepath.Join(dir, RootKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		rootKey = nil // optional: the root key is kept elsewhere
	} else if err != nil {
		return nil, nil, err
	}
	interKey := ext.key
	if interKey == nil {
		if interKey, err = readKey(filepath.Join(dir, IntermediateKeyFile)); err != nil {
			return nil, nil, err
		}
	}
	upperPEM, upper, err := readChain(filepath.Join(dir, ChainFile))
	if err != nil {
		return nil, nil, err
	}
	if rootKey != nil && !publicKeysEqual(rootKey.Public(), root.PublicKey) {
		return nil, nil, fmt.Errorf("%w: %s does not match %s", ErrInvalidCA, RootKeyFile, RootCertFile)
	}
	if !publicKeysEqual(interKey.Public(), inter.PublicKey) {
		if ext.key != nil {
			return nil, nil, fmt.Errorf("%w: the key %s does not match %s (%s, the certificate's %s): name the key of this intermediate",
				ErrInvalidCA, ext.name, filepath.Join(dir, IntermediateCertFile), describeKey(interKey.Public()), describeKey(inter.PublicKey))
		}
		return nil, nil, fmt.Errorf("%w: %s does not match %s", ErrInvalidCA, IntermediateKeyFile, IntermediateCertFile)
	}
	if !root.IsCA || !inter.IsCA {
		return nil, nil, fmt.Errorf("%w: root and intermediate must both be CA certificates", ErrInvalidCA)
	}
	// keyCertSign first: crypto/x509 checks it with the signatures, and
	// would tell a root without it as not self-signed.
	if err := checkKeyUsage(append(append([]*x509.Certificate{inter}, upper...), root), 1); err != nil {
		return nil, nil, fmt.Errorf("%w: %w; it must be issued again with keyCertSign (or without a keyUsage extension)", ErrInvalidCA, err)
	}
	if !selfSigned(root) {
		return nil, nil, fmt.Errorf("%w: %s is not self-signed (issuer %q, subject %q); the root must be issued and signed by its own key",
			ErrInvalidCA, RootCertFile, root.Issuer.String(), root.Subject.String())
	}
	if err := checkPath(root, upper, inter); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidCA, err)
	}
	sig, err := sigAlgFor(inter.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidCA, err)
	}
	nameCheck, err := newNameChecker(append(append([]*x509.Certificate{inter}, upper...), root))
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: name constraints: %w", err)
	}
	return &CA{
		nameCheck: nameCheck,
		root:      root,
		inter:     inter,
		interKey:  interKey,
		sig:       sig,
		rootPEM:   rootPEM,
		interPEM:  interPEM,
		upper:     upper,
		upperPEM:  upperPEM,
		rotated:   originalID(dir) != "" && IntermediateID(inter) != originalID(dir),
	}, rootKey, nil
}

// readChain reads ChainFile at path: one or more PEM CERTIFICATE blocks.
// A missing file is a two-tier CA: no certificates, no error.
func readChain(path string) ([]byte, []*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, readError(path, err)
	}
	var out []byte
	var certs []*x509.Certificate
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, nil, fmt.Errorf("%w: %s: block %d is %q, want CERTIFICATE", ErrInvalidCA, path, len(certs)+1, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: certificate %d: %w", ErrInvalidCA, path, len(certs)+1, err)
		}
		certs = append(certs, c)
		out = append(out, certPEM(block.Bytes)...)
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("%w: %s: no PEM CERTIFICATE block", ErrInvalidCA, path)
	}
	return out, certs, nil
}

// checkPath checks the certification path from inter up through upper
// (inter's issuer first) to root: each certificate is a CA certificate
// issued (by name, RFC 5280 §6.1.3) and signed by the next, none between
// intermediate and root is self-signed, and none has
// more CA certificates below it than its pathLenConstraint allows (RFC 5280
// §4.2.1.9; the leaf does not count). Errors name the certificates as
// "root", "intermediate" or by subject.
func checkPath(root *x509.Certificate, upper []*x509.Certificate, inter *x509.Certificate) error {
	path := append(append([]*x509.Certificate{inter}, upper...), root) // bottom up
	name := func(i int) string {
		switch i {
		case 0:
			return "intermediate"
		case len(path) - 1:
			return "root"
		}
		return fmt.Sprintf("CA certificate %q", path[i].Subject.String())
	}
	for i, c := range path {
		if !c.IsCA {
			return fmt.Errorf("%s is not a CA certificate", name(i))
		}
		if c.MaxPathLen >= 0 && i > c.MaxPathLen {
			return fmt.Errorf("%s allows %d CA certificates below it (pathLenConstraint), but %d follow", name(i), c.MaxPathLen, i)
		}
		if i > 0 && i < len(path)-1 && selfSigned(c) {
			return fmt.Errorf("%s is self-signed; only the root may be", name(i))
		}
	}
	for i, c := range path[:len(path)-1] {
		parent := path[i+1]
		// The names first: a certificate of another CA is told by its
		// issuer, rather than by the signature check's error, which for
		// another key type names Go types ("*ecdsa.PublicKey").
		if !bytes.Equal(c.RawIssuer, parent.RawSubject) {
			return fmt.Errorf("%s is not signed by %s: its issuer %q is not that subject (%q)", name(i), name(i+1), c.Issuer.String(), parent.Subject.String())
		}
		if err := c.CheckSignatureFrom(parent); err != nil {
			return fmt.Errorf("%s is not signed by %s: its %s signature does not verify with the key of %s (another CA of the same name?): %w",
				name(i), name(i+1), c.SignatureAlgorithm, name(i+1), err)
		}
	}
	return nil
}

// describeKey describes a public key for a message: its type and size,
// and the first 8 hex digits of the SHA-256 of its SubjectPublicKeyInfo
// ("ECDSA P-256 key 3fa1c2d0"), which tell two keys of one type apart.
func describeKey(pub crypto.PublicKey) string {
	kind := fmt.Sprintf("%T key", pub)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		kind = "ECDSA " + k.Curve.Params().Name + " key"
	case *rsa.PublicKey:
		kind = fmt.Sprintf("RSA-%d key", k.N.BitLen())
	}
	if der, err := x509.MarshalPKIXPublicKey(pub); err == nil {
		sum := sha256.Sum256(der)
		kind += " " + hex.EncodeToString(sum[:4])
	}
	return kind
}

// PublicKeyOnly returns a crypto.Signer of pub that cannot sign (Sign
// fails): the intermediate's key for a command that loads the CA but signs
// nothing with it (linting a profile, whose certificate is signed by a
// throwaway key), when the key is in a PKCS#11 token the command does not
// open. Give it as Options.IntermediateKey.
func PublicKeyOnly(pub crypto.PublicKey) crypto.Signer { return publicOnly{pub} }

// publicOnly is PublicKeyOnly's signer.
type publicOnly struct{ pub crypto.PublicKey }

func (p publicOnly) Public() crypto.PublicKey { return p.pub }

func (publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("local CA: the intermediate's key is in a PKCS#11 token that this command does not open")
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// readError is the error of reading the CA file at path: the path once
// ("local CA: read PATH: permission denied"), where the *fs.PathError of
// os.ReadFile would name it a second time ("read PATH: open PATH: ...").
func readError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("local CA: read %s: %w", path, err)
}

func readCert(path string) ([]byte, *x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, readError(path, err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%w: %s: no PEM CERTIFICATE block", ErrInvalidCA, path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrInvalidCA, path, err)
	}
	return certPEM(block.Bytes), c, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, readError(path, err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s: no PEM PRIVATE KEY (PKCS#8) block", ErrInvalidCA, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidCA, path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s: key type %T cannot sign", ErrInvalidCA, path, k)
	}
	return s, nil
}

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("local CA: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeExclusive creates path (failing if it exists), writes data, syncs.
func writeExclusive(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("local CA: create %s: %w", path, err)
	}
	return writeSyncClose(f, path, data)
}

// writeSyncClose writes data to f, syncs it to disk and closes it; f is
// closed whatever fails. path names the file in the errors, which wrap
// the failing call's.
func writeSyncClose(f *os.File, path string, data []byte) error {
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("local CA: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("local CA: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("local CA: close %s: %w", path, err)
	}
	return nil
}

// RandomSerial returns a positive serial number with 128 bits from
// crypto/rand, well above the 64 bits of entropy CA/B BR §7.1 requires and
// within the 20-octet limit of RFC 5280 §4.1.2.2.
func RandomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("local CA: random serial: %w", err)
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// intermediateTemplate is the profile of every intermediate the built-in CA
// makes (at creation and by Rotate): pathLen 0, EKU serverAuth and
// clientAuth, the CA/B Forum domain-validated policy, and digitalSignature
// besides certSign and cRLSign, so that it signs OCSP responses directly
// (RFC 6960 §4.2.2.2). The caller sets the AIA and CRL distribution point.
func intermediateTemplate(serial *big.Int, subject pkix.Name, notBefore, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		Policies:              []x509.OID{oidDomainValidated()},
	}
}
