package local

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Files of intermediate rotation in the CA directory.
//
// RetiredDir holds the intermediates that signed before the current one,
// one subdirectory each, named by IntermediateID: IntermediateCertFile and
// IntermediateKeyFile (mode 0600), and RevokedFile once RevokeIntermediate
// revoked it. They sign no leaf any more, but go on signing the CRL and
// the OCSP responses about the leaves they signed, until those expire.
//
// OriginalFile, in RetiredDir, holds the IntermediateID of the
// intermediate created with the CA (or imported): the URLs of its leaves
// (AIA caIssuers, CRL distribution point) are the fixed
// /pki/intermediate.crt and /pki/crl, where those of an intermediate made
// by Rotate have its IntermediateID in their path (Rotated).
//
// PrunedFile, in a retired intermediate's subdirectory, records when
// PruneRetired removed its key (RFC 3339 time): its certificate stays, so
// that the certificates it signed are still told as this CA's, but it
// signs no CRL or OCSP response any more.
const (
	RetiredDir   = "retired"
	OriginalFile = "original"
	RevokedFile  = "revoked"
	PrunedFile   = "pruned"
)

// newSuffix ends the names of the new intermediate's files that Rotate
// writes before it renames them into place.
const newSuffix = ".new"

// finishRotation completes or undoes, in the CA directory dir, a rotation
// that was interrupted (a crash or kill) before its new key and
// certificate were both renamed into place: with the new key still beside
// the current one, the rotation had not begun to take effect, and the new
// files are removed (the current intermediate, also copied to RetiredDir,
// keeps signing: loadRetired skips that copy); with the key renamed but
// not the certificate, the certificate is renamed too.
func finishRotation(dir string) error {
	keyNew, crtNew := filepath.Join(dir, IntermediateKeyFile+newSuffix), filepath.Join(dir, IntermediateCertFile+newSuffix)
	if fileExists(keyNew) {
		for _, p := range []string{keyNew, crtNew} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("local CA: undo an interrupted rotation: %w", err)
			}
		}
		return nil
	}
	if fileExists(crtNew) {
		// A rotation to a key in a PKCS#11 token (RotateOptions.Key) has no
		// new key file: it removes the current key file before it renames
		// the certificate. A current key file that does not match the new
		// certificate is that rotation interrupted before it took effect.
		if key, err := readKey(filepath.Join(dir, IntermediateKeyFile)); err == nil {
			if _, c, err := readCert(crtNew); err == nil && !publicKeysEqual(key.Public(), c.PublicKey) {
				if err := os.Remove(crtNew); err != nil {
					return fmt.Errorf("local CA: undo an interrupted rotation: %w", err)
				}
				return nil
			}
		}
		if err := os.Rename(crtNew, filepath.Join(dir, IntermediateCertFile)); err != nil {
			return fmt.Errorf("local CA: complete an interrupted rotation: %w", err)
		}
		syncDir(dir)
	}
	return nil
}

// originalID returns the IntermediateID in dir's OriginalFile; "" when
// there is none (no rotation yet).
func originalID(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, RetiredDir, OriginalFile))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ErrRotate means Rotate refused: the CA cannot be rotated (no CA, no root
// key, a CA of more than two tiers). Nothing was changed. A refusal of
// RevokeIntermediate (ErrRevokeIntermediate) matches it too, as it did
// when both shared it.
var ErrRotate = errors.New("local CA: cannot rotate")

// ErrRevokeIntermediate means RevokeIntermediate refused: no CA, or the
// intermediate named is not one that can be revoked. Nothing was changed.
// errors.Is matches ErrRotate for it too.
var ErrRevokeIntermediate error = refusal{msg: "local CA: cannot revoke the intermediate", also: ErrRotate}

// refusal is a sentinel error with a message of its own that matches
// another sentinel too (errors.Is), for one split off from a shared one.
type refusal struct {
	msg  string
	also error
}

func (r refusal) Error() string { return r.msg }

// Is reports whether target is the sentinel r matches besides itself.
func (r refusal) Is(target error) bool { return target == r.also }

// IntermediateID returns the short name of an intermediate certificate in
// URLs and in RetiredDir: the first 16 hex digits of the SHA-256 of its DER.
func IntermediateID(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:8])
}

// Retired returns the intermediates that signed before the current one
// (RetiredDir), oldest first, each as a *CA that signs CRLs (SignCRL) and
// OCSP responses (SignOCSP) with its key, and refuses leaves. The caller
// must not modify them.
func (ca *CA) Retired() []*CA { return slices.Clone(ca.retired) }

// Rotated reports whether the intermediate was made by Rotate: its leaves'
// URLs then carry its IntermediateID (see OriginalFile).
func (ca *CA) Rotated() bool { return ca.rotated }

// RevokedIntermediate is an intermediate that RevokeIntermediate revoked:
// listed on the root's CRL.
type RevokedIntermediate struct {
	Cert      *x509.Certificate // the intermediate
	RevokedAt time.Time         // its revocation time, in whole seconds
	Reason    int               // RFC 5280 §5.3.1 CRLReason
}

// RotateOptions configures Rotate.
type RotateOptions struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// KeyType is the new intermediate's key: "" for the type of the
	// current one, or "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072",
	// "rsa-4096".
	KeyType string
	// Validity is the new intermediate's lifetime; 0 means
	// DefaultIntermediateValidity. It is clamped to the root's notAfter.
	Validity time.Duration
	// RootIssuerURL and RootCRLURL, when set, are the new intermediate's
	// AIA caIssuers and CRL distribution point (the root's certificate and
	// CRL, as Options.RootIssuerURL and Options.RootCRLURL); when empty
	// the new intermediate has the current one's.
	RootIssuerURL, RootCRLURL string
	// Key, when not nil, is the new intermediate's key, made in a PKCS#11
	// token (internal/hsm) by the caller: KeyType is then ignored, no key
	// file is written, and the current IntermediateKeyFile is removed
	// (after its copy to RetiredDir), so that the server loads the key
	// from the token (Options.IntermediateKey).
	Key crypto.Signer
}

// KeyTypes are the values RotateOptions.KeyType takes besides "", and
// those of Options.KeyType and Options.RootKeyType (`certgate init
// --ca-key-type`): the CA key types of CA/B Forum BR §6.1.5 (no Ed25519,
// which the BR do not allow for a CA issuing TLS server certificates).
var KeyTypes = []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"}

// Rotate makes a new intermediate for the CA in dir, signed by the root
// key (RootKeyFile must be there; a CA with a ChainFile is refused: its
// intermediate's issuer is not the root), and makes it the one that
// signs. The new intermediate has the profile and the AIA and CRL
// distribution point URLs of the current one (or opts' URLs), a subject that differs from
// it in the common name's tag, and a key of the current one's type unless
// opts.KeyType says otherwise. The current intermediate moves to
// RetiredDir/ID (written and synced first), from where LoadOrCreate loads
// it to sign the CRL and OCSP responses about its leaves. The caller holds
// the data directory's lock (no server runs on dir). It returns the
// retired and the new intermediate.
func Rotate(dir string, opts RotateOptions) (old, cur *x509.Certificate, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Validity <= 0 {
		opts.Validity = DefaultIntermediateValidity
	}
	present, missing, err := caFilesIn(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(present) == 0 {
		return nil, nil, fmt.Errorf("%w: no CA in %s yet: `certgate serve` creates it on its first run%w", ErrRotate, dir, errNotExistQuiet{})
	}
	if len(missing) == 1 && missing[0] == IntermediateKeyFile {
		return nil, nil, fmt.Errorf("%w: %s has no %s: the current intermediate's key is in a PKCS#11 token (or lost), and rotating away from a key in a token is not supported yet: the retired intermediate could not sign its CRL and OCSP responses",
			ErrRotate, dir, IntermediateKeyFile)
	}
	if len(missing) > 0 {
		return nil, nil, partialErr(dir, present, missing)
	}
	if err := finishRotation(dir); err != nil {
		return nil, nil, err
	}
	ca, rootKey, err := load(dir, extKey{})
	if err != nil {
		return nil, nil, err
	}
	if err := loadRetired(dir, ca); err != nil {
		return nil, nil, err
	}
	// A chain.crt first: with one, the root key would not help (the
	// intermediate's issuer is another CA), so asking for it misleads.
	if len(ca.upper) > 0 {
		return nil, nil, fmt.Errorf("%w: %s has a %s: the intermediate was signed by %q, whose key certgate does not hold; have that CA issue the new intermediate and import it into a new data directory",
			ErrRotate, dir, ChainFile, ca.inter.Issuer.String())
	}
	if rootKey == nil {
		return nil, nil, fmt.Errorf("%w: %s has no %s: the new intermediate must be signed by the root key; put it back for the rotation", ErrRotate, dir, RootKeyFile)
	}
	key := opts.Key
	if key == nil {
		if key, err = newIntermediateKey(opts.KeyType, ca.interKey.Public()); err != nil {
			return nil, nil, err
		}
	} else if _, err := sigAlgFor(key.Public()); err != nil {
		return nil, nil, fmt.Errorf("%w: the new %w", ErrRotate, err)
	}
	now := opts.Now().UTC().Truncate(time.Second)
	notBefore := now.Add(-time.Hour)
	serial, err := RandomSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := notBefore.Add(opts.Validity)
	if notAfter.After(ca.root.NotAfter) {
		notAfter = ca.root.NotAfter
	}
	if !notAfter.After(now) {
		return nil, nil, fmt.Errorf("%w: the root expires %s: a new root is needed, not a new intermediate", ErrRotate, ca.root.NotAfter.Format(time.RFC3339))
	}
	subject := ca.inter.Subject
	subject.ExtraNames, subject.Names = nil, nil
	tag := make([]byte, 3)
	if _, err := rand.Read(tag); err != nil {
		return nil, nil, fmt.Errorf("local CA: random: %w", err)
	}
	subject.CommonName = newCommonName(ca.inter.Subject.CommonName, hex.EncodeToString(tag))
	tmpl := intermediateTemplate(serial, subject, notBefore, notAfter)
	tmpl.IssuingCertificateURL, tmpl.CRLDistributionPoints = ca.inter.IssuingCertificateURL, ca.inter.CRLDistributionPoints
	if opts.RootIssuerURL != "" {
		tmpl.IssuingCertificateURL = []string{opts.RootIssuerURL}
	}
	if opts.RootCRLURL != "" {
		tmpl.CRLDistributionPoints = []string{opts.RootCRLURL}
	}
	if rs, err := sigAlgFor(rootKey.Public()); err == nil {
		tmpl.SignatureAlgorithm = rs.alg
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.root, key.Public(), rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: sign the new intermediate: %w", err)
	}
	cur, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("local CA: parse the new intermediate: %w", err)
	}
	var keyPEMBytes []byte
	if opts.Key == nil {
		if keyPEMBytes, err = keyPEM(key); err != nil {
			return nil, nil, err
		}
	}
	// The current intermediate first goes to RetiredDir, whole and synced,
	// so that it is never lost; then the new one replaces it.
	oldKeyPEM, err := os.ReadFile(filepath.Join(dir, IntermediateKeyFile))
	if err != nil {
		return nil, nil, readError(filepath.Join(dir, IntermediateKeyFile), err)
	}
	retired := filepath.Join(dir, RetiredDir, IntermediateID(ca.inter))
	if err := os.MkdirAll(retired, 0o700); err != nil {
		return nil, nil, fmt.Errorf("local CA: %w", err)
	}
	if err := writeReplace(filepath.Join(retired, IntermediateKeyFile), oldKeyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeReplace(filepath.Join(retired, IntermediateCertFile), ca.interPEM, 0o644); err != nil {
		return nil, nil, err
	}
	syncDir(filepath.Dir(retired))
	if !ca.rotated {
		// The intermediate created with the CA, whose certificates name the
		// fixed URLs.
		if err := writeReplace(filepath.Join(dir, RetiredDir, OriginalFile), []byte(IntermediateID(ca.inter)+"\n"), 0o644); err != nil {
			return nil, nil, err
		}
	}
	if opts.Key != nil {
		// The key is in the token: the new certificate beside the current
		// one, synced; the current key file (copied to RetiredDir above)
		// removed; then the certificate renamed over the current one.
		// finishRotation undoes a rotation interrupted before the removal
		// (the key file does not match the new certificate) and completes
		// one interrupted after it.
		if err := writeReplace(filepath.Join(dir, IntermediateCertFile+newSuffix), certPEM(der), 0o644); err != nil {
			return nil, nil, err
		}
		if err := os.Remove(filepath.Join(dir, IntermediateKeyFile)); err != nil {
			return nil, nil, fmt.Errorf("local CA: %w", err)
		}
		syncDir(dir)
		if err := os.Rename(filepath.Join(dir, IntermediateCertFile+newSuffix), filepath.Join(dir, IntermediateCertFile)); err != nil {
			return nil, nil, fmt.Errorf("local CA: %w", err)
		}
		syncDir(dir)
		return ca.inter, cur, nil
	}
	// The new key and certificate next to the current ones, synced, then
	// renamed over them, key first: finishRotation completes or undoes a
	// rotation interrupted between the renames.
	if err := writeReplace(filepath.Join(dir, IntermediateKeyFile+newSuffix), keyPEMBytes, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeReplace(filepath.Join(dir, IntermediateCertFile+newSuffix), certPEM(der), 0o644); err != nil {
		return nil, nil, err
	}
	for _, name := range []string{IntermediateKeyFile, IntermediateCertFile} {
		if err := os.Rename(filepath.Join(dir, name+newSuffix), filepath.Join(dir, name)); err != nil {
			return nil, nil, fmt.Errorf("local CA: %w", err)
		}
		syncDir(dir)
	}
	return ca.inter, cur, nil
}

// newCommonName is the common name of a rotated intermediate: the current
// one's with its last word, when it is a six-digit hex tag, replaced by
// tag, else with tag appended; at most 64 characters (ub-common-name).
func newCommonName(cn, tag string) string {
	base := cn
	if i := strings.LastIndexByte(cn, ' '); i >= 0 {
		if w := cn[i+1:]; len(w) == 6 {
			if _, err := hex.DecodeString(w); err == nil {
				base = cn[:i]
			}
		}
	}
	if base == "" {
		base = DefaultOrganization + " Intermediate CA"
	}
	if r := []rune(base); len(r) > 64-7 {
		base = strings.TrimSpace(string(r[:64-7]))
	}
	return base + " " + tag
}

// KeyTypeOf returns the key type of pub as KeyTypes name them
// ("ecdsa-p256", "rsa-3072"; "rsa-BITS" for any RSA size), "" for a key
// of another kind: what Rotate makes when RotateOptions.KeyType is "".
func KeyTypeOf(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa-p" + strconv.Itoa(k.Curve.Params().BitSize)
	case *rsa.PublicKey:
		return "rsa-" + strconv.Itoa(k.N.BitLen())
	}
	return ""
}

// newIntermediateKey generates the key of a rotated intermediate: of the
// type kt names, or of cur's type when kt is "".
func newIntermediateKey(kt string, cur crypto.PublicKey) (crypto.Signer, error) {
	if kt == "" {
		kt = KeyTypeOf(cur)
	}
	k, err := generateKey(kt)
	if kerr := (keyTypeError{}); errors.As(err, &kerr) {
		return nil, fmt.Errorf("%w: %w", ErrRotate, err)
	}
	if err != nil {
		return nil, fmt.Errorf("local CA: generate the intermediate key: %w", err)
	}
	return k, nil
}

// keyTypeError is generateKey's error for a key type it does not know.
type keyTypeError struct{ kt string }

func (e keyTypeError) Error() string {
	return fmt.Sprintf("key type %q is not one of %s", e.kt, strings.Join(KeyTypes, ", "))
}

// generateKey generates a CA key of type kt: one of KeyTypes, or
// "rsa-BITS" for BITS a multiple of 8 from 2048 to 8192 (an imported
// intermediate's size, kept by Rotate). An unknown kt gives an error
// that is a keyTypeError, naming KeyTypes.
func generateKey(kt string) (crypto.Signer, error) {
	switch kt {
	case "ecdsa-p256":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	bits, ok := strings.CutPrefix(kt, "rsa-")
	n, aerr := strconv.Atoi(bits)
	if !ok || aerr != nil || n < 2048 || n > 8192 || n%8 != 0 {
		return nil, keyTypeError{kt}
	}
	return rsa.GenerateKey(rand.Reader, n)
}

// retiredEntry is one subdirectory of RetiredDir: its path, and the
// intermediate certificate it holds (PEM and parsed).
type retiredEntry struct {
	sub  string
	pem  []byte
	cert *x509.Certificate
}

// readRetired reads the certificates of the retired intermediates of the
// CA in dir (RetiredDir/ID/IntermediateCertFile), oldest notBefore first,
// checking that each directory is named by its certificate's
// IntermediateID, except the copy of the current intermediate cur that an
// interrupted rotation left (finishRotation), which is skipped. None is no
// error.
func readRetired(dir string, cur *x509.Certificate) ([]retiredEntry, error) {
	entries, err := os.ReadDir(filepath.Join(dir, RetiredDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	var out []retiredEntry
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, RetiredDir, e.Name())
		pemBytes, c, err := readCert(filepath.Join(sub, IntermediateCertFile))
		if err != nil {
			return nil, err
		}
		if cur != nil && c.Equal(cur) {
			continue // the copy of an interrupted rotation (finishRotation)
		}
		if IntermediateID(c) != e.Name() {
			return nil, fmt.Errorf("%w: %s holds the intermediate %s", ErrInvalidCA, sub, IntermediateID(c))
		}
		out = append(out, retiredEntry{sub: sub, pem: pemBytes, cert: c})
	}
	slices.SortFunc(out, func(a, b retiredEntry) int { return a.cert.NotBefore.Compare(b.cert.NotBefore) })
	return out, nil
}

// retiredEntries reads the retired intermediates of the CA in dir beside
// its current one (readRetired); the error wraps fs.ErrNotExist when dir
// holds no intermediate.
func retiredEntries(dir string) ([]retiredEntry, error) {
	cur, err := ReadIntermediate(dir)
	if err != nil {
		return nil, err
	}
	return readRetired(dir, cur)
}

// retiredCerts returns the certificates of the retired intermediates of
// the CA in dir, oldest first (readRetired), pruned ones included.
func retiredCerts(dir string) ([]*x509.Certificate, error) {
	entries, err := retiredEntries(dir)
	if err != nil {
		return nil, err
	}
	out := make([]*x509.Certificate, len(entries))
	for i, e := range entries {
		out[i] = e.cert
	}
	return out, nil
}

// RevokedIntermediateCerts returns the certificates of the retired
// intermediates of the CA in dir that are revoked, as
// CA.RevokedIntermediates has them: those RevokeIntermediate revoked
// (RevokedFile), oldest first, then those that a root CRL lists besides,
// RootCRLFile or one of rootCRLs (DER; e.g. the one the nodes of a
// cluster share, which this directory may not have adopted yet), each
// counted only when the root signed it. It reads certificates, revocation
// marks and CRLs only (no key): what a command that shows renewal windows
// needs (ra.SignedByRevoked). None is no error; the error wraps
// fs.ErrNotExist when dir holds no intermediate.
func RevokedIntermediateCerts(dir string, rootCRLs ...[]byte) ([]*x509.Certificate, error) {
	entries, err := retiredEntries(dir)
	if err != nil {
		return nil, err
	}
	var revoked []RevokedIntermediate
	for _, e := range entries {
		rev, err := readRevoked(filepath.Join(e.sub, RevokedFile))
		if err != nil {
			return nil, err
		}
		if rev != nil {
			revoked = append(revoked, RevokedIntermediate{Cert: e.cert})
		}
	}
	if len(entries) > 0 {
		_, root, err := readCert(filepath.Join(dir, RootCertFile))
		if err != nil {
			return nil, err
		}
		var known []*x509.Certificate
		for _, e := range entries {
			if checkPath(root, nil, e.cert) == nil {
				known = append(known, e.cert)
			}
		}
		crls := []*rootCRL{readRootCRL(dir, root)}
		for _, der := range rootCRLs {
			crls = append(crls, parseRootCRL(der, root))
		}
		for _, c := range crls {
			if c != nil {
				revoked = appendListed(revoked, c.entries, known)
			}
		}
	}
	out := make([]*x509.Certificate, len(revoked))
	for i, r := range revoked {
		out[i] = r.Cert
	}
	return out, nil
}

// loadRetired reads the retired intermediates of the CA in dir (RetiredDir),
// oldest notBefore first, each checked as load checks the current one: its
// key matches it, and root signed it. One whose key PruneRetired removed
// (PrunedFile) signs nothing any more: it is kept in ca.pruned, without a
// key. None is no error.
func loadRetired(dir string, ca *CA) error {
	entries, err := readRetired(dir, ca.inter)
	if err != nil {
		return err
	}
	orig := originalID(dir)
	for _, e := range entries {
		sub, c := e.sub, e.cert
		if err := checkPath(ca.root, nil, c); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidCA, sub, err)
		}
		// A revoked intermediate stays on the root's CRL, pruned or not.
		rev, err := readRevoked(filepath.Join(sub, RevokedFile))
		if err != nil {
			return err
		}
		if rev != nil {
			rev.Cert = c
			ca.revokedInters = append(ca.revokedInters, *rev)
		}
		key, err := readKey(filepath.Join(sub, IntermediateKeyFile))
		if errors.Is(err, fs.ErrNotExist) && fileExists(filepath.Join(sub, PrunedFile)) {
			ca.pruned = append(ca.pruned, c)
			continue
		}
		if err != nil {
			return err
		}
		if !publicKeysEqual(key.Public(), c.PublicKey) {
			return fmt.Errorf("%w: %s does not match %s", ErrInvalidCA, filepath.Join(sub, IntermediateKeyFile), filepath.Join(sub, IntermediateCertFile))
		}
		sig, err := sigAlgFor(c.PublicKey)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidCA, sub, err)
		}
		r := &CA{now: ca.now, root: ca.root, inter: c, interKey: key, sig: sig, rootPEM: ca.rootPEM, interPEM: e.pem,
			rotated: orig != "" && IntermediateID(c) != orig, retiredOnly: true}
		ca.retired = append(ca.retired, r)
	}
	return nil
}

// readRevoked reads a RevokedFile: "RFC3339-TIME REASON"; nil when there
// is none.
func readRevoked(path string) (*RevokedIntermediate, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, readError(path, err)
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return nil, fmt.Errorf("%w: %s: want a time and a reason code", ErrInvalidCA, path)
	}
	at, err := time.Parse(time.RFC3339, f[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidCA, path, err)
	}
	reason, err := strconv.Atoi(f[1])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidCA, path, err)
	}
	return &RevokedIntermediate{RevokedAt: at, Reason: reason}, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// IntermediateReasonAllowed reports whether reason, an RFC 5280 §5.3.1
// CRLReason code, may be given for an intermediate: 1 to 5 and 9. Not 0
// (unspecified: a CA certificate's CRL entry must carry a reason code and
// one of 0 is never encoded, CA/B Forum BR §7.2.2), 6 (certificateHold,
// which BR §7.2.2 forbids), 7 (unused), 8 (removeFromCRL) or 10
// (aACompromise, an attribute authority's).
func IntermediateReasonAllowed(reason int) bool {
	return (reason >= 1 && reason <= 5) || reason == 9
}

// RevokeIntermediate revokes the retired intermediate of the CA in dir,
// pruned (PruneRetired) or not, whose IntermediateID is id (or whose serial, in hex, it is) for reason
// (RFC 5280 §5.3.1 CRLReason; not 0, unspecified, which a CA
// certificate's CRL entry may not give (CA/B Forum BR §7.2.2: a reason
// code must be present, and 0 is never encoded), 6, certificateHold, 7,
// unused, 8, removeFromCRL, nor 10, aACompromise, which is an attribute
// authority's), at
// now: it writes its RevokedFile and signs the root's CRL anew, listing
// it (RootKeyFile must be there). The current intermediate cannot be
// revoked: rotate first. Revoking one already revoked is refused. The
// caller holds the data directory's lock. It returns the revoked
// intermediate.
func RevokeIntermediate(dir, id string, reason int, now time.Time) (*x509.Certificate, error) {
	ca, err := open(dir, func() time.Time { return now }, ErrRevokeIntermediate)
	if err != nil {
		return nil, err
	}
	if !IntermediateReasonAllowed(reason) {
		return nil, fmt.Errorf("%w: reason %d is not a CRL reason code for a CA certificate", ErrRevokeIntermediate, reason)
	}
	match := intermediateMatcher(id)
	if match(ca.inter) {
		return nil, fmt.Errorf("%w: %s is the intermediate that signs now; run 'certgate ca rotate' first, then revoke it", ErrRevokeIntermediate, id)
	}
	// A pruned intermediate is one too: its key is gone, but its
	// certificate is valid until its notAfter, and the root's CRL that
	// revokes it is signed with the root key alone.
	var target *x509.Certificate
	for _, r := range ca.retired {
		if match(r.inter) {
			target = r.inter
		}
	}
	for _, c := range ca.pruned {
		if match(c) {
			target = c
		}
	}
	if target == nil {
		return nil, fmt.Errorf("%w: no retired intermediate %s in %s", ErrRevokeIntermediate, id, filepath.Join(dir, RetiredDir))
	}
	// Revoked already: in this directory, or on another node's, which
	// the root's CRL adopted from the cluster lists.
	for _, r := range ca.RevokedIntermediates() {
		if r.Cert.Equal(target) {
			return nil, fmt.Errorf("%w: the intermediate %s was revoked at %s already", ErrRevokeIntermediate, IntermediateID(target), r.RevokedAt.Format(time.RFC3339))
		}
	}
	key, err := readKey(filepath.Join(dir, RootKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s: the root's CRL that lists the revocation is signed by the root key; put it back for the revocation", ErrRevokeIntermediate, dir, RootKeyFile)
	}
	if err != nil {
		return nil, err
	}
	at := now.UTC().Truncate(time.Second)
	ca.revokedInters = append(ca.revokedInters, RevokedIntermediate{Cert: target, RevokedAt: at, Reason: reason})
	// The root's CRL first: were the RevokedFile written and the CRL not,
	// the next start would sign one that lists it anyway (LoadOrCreate).
	ca.rootCRL.mu.Lock()
	defer ca.rootCRL.mu.Unlock()
	next, err := ca.writeRootCRL(key, now, ca.rootCRL.cur)
	if err != nil {
		return nil, err
	}
	ca.rootCRL.cur = next
	line := at.Format(time.RFC3339) + " " + strconv.Itoa(reason) + "\n"
	if err := writeReplace(filepath.Join(dir, RetiredDir, IntermediateID(target), RevokedFile), []byte(line), 0o644); err != nil {
		return nil, err
	}
	return target, nil
}

// RevokedIntermediates returns the retired intermediates, pruned or not,
// that are revoked: those RevokeIntermediate revoked in this CA directory
// (RevokedFile), then those that the root's CRL in use lists besides, with
// the time and reason of their entry. That CRL is this CA's (RootCRL) or
// one another node of the cluster signed, which the root signed too
// (AdoptRootCRL, Options.ClusterRootCRL): an intermediate revoked on
// another node's data directory counts as revoked here from the moment
// this CA serves the CRL that lists it, without a RevokedFile.
func (ca *CA) RevokedIntermediates() []RevokedIntermediate {
	out := slices.Clone(ca.revokedInters)
	if ca.rootCRL == nil {
		return out
	}
	ca.rootCRL.mu.Lock()
	cur := ca.rootCRL.cur // replaced, never modified
	ca.rootCRL.mu.Unlock()
	if cur == nil {
		return out
	}
	known := slices.Clone(ca.pruned)
	for _, r := range ca.retired {
		known = append(known, r.inter)
	}
	return appendListed(out, cur.entries, known)
}

// appendListed appends to out the certificates of known, retired
// intermediates of the root that signed the CRL whose entries these are,
// that the entries list by serial and out lacks.
func appendListed(out []RevokedIntermediate, entries []x509.RevocationListEntry, known []*x509.Certificate) []RevokedIntermediate {
	for _, c := range known {
		if slices.ContainsFunc(out, func(r RevokedIntermediate) bool { return r.Cert.Equal(c) }) {
			continue
		}
		for _, e := range entries {
			if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				out = append(out, RevokedIntermediate{Cert: c, RevokedAt: e.RevocationTime.UTC(), Reason: e.ReasonCode})
				break
			}
		}
	}
	return out
}

// rootCRLEntries are the entries of the root's next CRL: the revoked
// intermediates of this CA directory, and those cur (the CRL in use, nil
// for none) lists besides, which another node of the cluster revoked
// (AdoptRootCRL): a revocation is never dropped by a node that lacks it.
func (ca *CA) rootCRLEntries(cur *rootCRL) []x509.RevocationListEntry {
	var out []x509.RevocationListEntry
	for _, r := range ca.revokedInters {
		out = append(out, x509.RevocationListEntry{SerialNumber: r.Cert.SerialNumber, RevocationTime: r.RevokedAt, ReasonCode: r.Reason})
	}
	if cur != nil {
		for _, e := range cur.entries {
			if !slices.ContainsFunc(out, func(o x509.RevocationListEntry) bool { return o.SerialNumber.Cmp(e.SerialNumber) == 0 }) {
				out = append(out, x509.RevocationListEntry{SerialNumber: e.SerialNumber, RevocationTime: e.RevocationTime, ReasonCode: e.ReasonCode})
			}
		}
	}
	return out
}

// rootCRLListsAll reports whether the root CRL der lists every revoked
// intermediate.
func (ca *CA) rootCRLListsAll(der []byte) bool {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return false
	}
	for _, r := range ca.revokedInters {
		if !slices.ContainsFunc(crl.RevokedCertificateEntries, func(e x509.RevocationListEntry) bool {
			return e.SerialNumber.Cmp(r.Cert.SerialNumber) == 0
		}) {
			return false
		}
	}
	return true
}

// errOpen names the refusals of Open.
var errOpen = errors.New("local CA")

// Open loads the CA in dir, which must hold one, with its retired
// intermediates and its root's CRL (RootCRLFile), as LoadOrCreate does but
// without creating, signing or writing anything until a method is called:
// for a command on the CA directory of a stopped server, such as
// publishing the root's CRL (RootCRL signs it anew when it lacks a revoked
// intermediate, AdoptRootCRL adopts another node's). When the
// intermediate's key is in a PKCS#11 token, the CA has its public key
// only and signs no leaf. now is its clock (nil: time.Now). Without a CA
// in dir, the error wraps fs.ErrNotExist. The caller holds the data
// directory's lock.
func Open(dir string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	return open(dir, now, errOpen)
}

// open loads the CA in dir, which must hold one, with its retired
// intermediates and its root's CRL, without signing anything. Without a CA
// in dir, the error wraps op (the refusal of the caller's operation, e.g.
// ErrPrune) and fs.ErrNotExist.
func open(dir string, now func() time.Time, op error) (*CA, error) {
	present, missing, err := caFilesIn(dir)
	if err != nil {
		return nil, err
	}
	if len(present) == 0 {
		return nil, fmt.Errorf("%w: no CA in %s yet: `certgate serve` creates it on its first run%w", op, dir, errNotExistQuiet{})
	}
	var ext extKey
	if len(missing) == 1 && missing[0] == IntermediateKeyFile {
		// The intermediate's key is in a PKCS#11 token: what open's callers
		// sign, they sign with the root key or a retired intermediate's.
		inter, err := ReadIntermediate(dir)
		if err != nil {
			return nil, err
		}
		ext, missing = extKey{key: PublicKeyOnly(inter.PublicKey), name: "in the PKCS#11 token"}, nil
	}
	if len(missing) > 0 {
		return nil, partialErr(dir, present, missing)
	}
	if err := finishRotation(dir); err != nil {
		return nil, err
	}
	ca, _, err := load(dir, ext)
	if err != nil {
		return nil, err
	}
	ca.now = now
	if err := loadRetired(dir, ca); err != nil {
		return nil, err
	}
	ca.dir, ca.rootCRL = dir, &rootCRLState{cur: readRootCRL(dir, ca.root)}
	return ca, nil
}
