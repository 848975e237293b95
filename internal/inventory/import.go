package inventory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
	"github.com/smallstep/pkcs7"
)

// MaxImportFile is the largest file Import reads (bytes).
const MaxImportFile = 16 << 20

// FileResult is the outcome of importing one file. When Err is set the
// file was rejected as a whole and nothing from it was stored. When
// Skipped is set the file holds no certificate but only keys or
// certificate requests (e.g. certbot's privkey.pem beside its
// certificates), or, found in a directory, is a text file without a PEM
// block (certbot's README, lego's NAME.json): it is not an error.
type FileResult struct {
	Path     string   `json:"path"`              // the file read
	Imported []string `json:"imported"`          // serials of the certificates stored
	Present  []string `json:"already_present"`   // serials of certificates found by fingerprint
	Skipped  string   `json:"skipped,omitempty"` // why the file was skipped: "no certificate", "text file without a PEM block"
	Err      error    `json:"-"`                 // why the file was rejected
	Error    string   `json:"error,omitempty"`   // Err as text
}

// MarshalJSON writes imported and already_present as arrays, [] when
// there are none (not null), so that a script can iterate over them
// (jq '.[].already_present[]') whatever the file held.
func (r FileResult) MarshalJSON() ([]byte, error) {
	type plain FileResult // without this method
	p := plain(r)
	if p.Imported == nil {
		p.Imported = []string{}
	}
	if p.Present == nil {
		p.Present = []string{}
	}
	return json.Marshal(p)
}

// errNoCertificate: the file holds only private keys, public keys, key
// parameters or certificate requests (PEM or DER).
var errNoCertificate = errors.New("no certificate")

// Import imports the certificates of each path: a file, or a directory
// whose regular files, and symbolic links to regular files, are all
// imported (recursively, in lexical order; links to directories are not
// followed, a dangling link is reported as a failed file).
// Each file is PEM (CERTIFICATE and PKCS7 blocks; other blocks such as keys
// are ignored), DER, or a DER PKCS#7 SignedData bundle (.p7b/.p7c). A file's
// new certificates are stored in one transaction, with source "imported",
// issuer set to the issuer DN, and the certificates of the same file that
// issued it as its chain; a certificate whose serial is held by another
// certificate already (serials are unique per issuer only) is keyed
// "SERIAL-FINGERPRINT16" (its serial, a dash, the first 16 hex digits of its
// fingerprint); certificates already in the inventory (same
// SHA-256 fingerprint) are reported present. A file that cannot be read or
// parsed, or holds a bad certificate, is reported in its FileResult and
// nothing of it is stored; the other files are still imported. A file of
// keys or requests only, and a text file without a PEM block found in a
// directory (certbot's README), are reported skipped. The error
// return is for a path that cannot be walked or a cancelled context.
func (s *Service) Import(ctx context.Context, paths []string) ([]FileResult, error) {
	var out []FileResult
	dirs := map[string][]*x509.Certificate{} // the certificates of each directory's files, read once
	siblings := func(path string) func() []*x509.Certificate {
		return func() []*x509.Certificate {
			dir := filepath.Dir(path)
			cs, ok := dirs[dir]
			if !ok {
				cs = dirCertificates(dir)
				dirs[dir] = cs
			}
			return cs
		}
	}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			out = append(out, fail(root, err))
			continue
		}
		if !info.IsDir() {
			out = append(out, s.importFile(ctx, root, false, nil))
			continue
		}
		// A root named through a symbolic link is walked at its target,
		// and its files reported under the path given.
		walkRoot, err := filepath.EvalSymlinks(root)
		if err != nil {
			out = append(out, fail(root, err))
			continue
		}
		err = filepath.WalkDir(walkRoot, func(p string, d fs.DirEntry, err error) error {
			if rel, rerr := filepath.Rel(walkRoot, p); rerr == nil {
				p = filepath.Join(root, rel)
			}
			if err != nil {
				out = append(out, fail(p, err))
				return nil
			}
			switch {
			case d.Type().IsRegular():
				out = append(out, s.importFile(ctx, p, true, siblings(p)))
			case d.Type()&fs.ModeSymlink != 0:
				// A link to a file is imported (certbot's live/NAME/
				// holds only links into archive/); a link to a directory
				// is not followed (no loops); a dangling one is reported.
				info, err := os.Stat(p)
				switch {
				case err != nil:
					out = append(out, fail(p, err))
				case info.Mode().IsRegular():
					out = append(out, s.importFile(ctx, p, true, siblings(p)))
				}
			}
			return ctx.Err()
		})
		if err != nil {
			return out, fmt.Errorf("import %s: %w", root, err)
		}
	}
	return out, nil
}

// fail reports path as rejected for err. An *fs.PathError's own text
// ("stat PATH: no such file or directory") names the file again; Error and
// Summary give only its cause, the result already names the file. A
// dangling symbolic link (dehydrated's cert.pem once the certificate it
// names was revoked and renamed) is named with its target: "no such file
// or directory" for a file that ls lists says nothing.
func fail(path string, err error) FileResult {
	msg := err.Error()
	if pe, ok := err.(*fs.PathError); ok {
		msg = pe.Err.Error()
	}
	if errors.Is(err, fs.ErrNotExist) {
		if target, lerr := os.Readlink(path); lerr == nil {
			msg = fmt.Sprintf("symbolic link to %s, which does not exist", target)
		}
	}
	return FileResult{Path: path, Err: err, Error: msg}
}

// errTextFile: a text file without a PEM block, found in a directory
// (certbot's README in live/NAME/, lego's NAME.json): skipped, not rejected.
var errTextFile = errors.New("text file without a PEM block")

// isTextWithoutPEM reports whether data is non-empty UTF-8 text without
// NUL bytes and without a PEM BEGIN line: no certificate, and no damaged
// one either (DER starts with 0x30 and a length byte that is not valid
// UTF-8 after it, PEM has a BEGIN line).
func isTextWithoutPEM(data []byte) bool {
	return len(bytes.TrimSpace(data)) > 0 && utf8.Valid(data) &&
		bytes.IndexByte(data, 0) < 0 && !bytes.Contains(data, []byte("-----BEGIN "))
}

// importFile imports one file. inDir: the file was found in a directory
// given to Import, where a text file without a PEM block is skipped
// (errTextFile); named by itself, such a file is rejected. siblings (nil
// for a file named by itself) returns the certificates of the files beside
// it, where a certificate's chain continues when its file does not hold
// its issuer (certbot's live/NAME/cert.pem beside chain.pem).
func (s *Service) importFile(ctx context.Context, path string, inDir bool, siblings func() []*x509.Certificate) FileResult {
	f, err := os.Open(path)
	if err != nil {
		return fail(path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxImportFile+1))
	if err != nil {
		return fail(path, err)
	}
	if len(data) > MaxImportFile {
		return fail(path, fmt.Errorf("larger than %d MiB", MaxImportFile>>20))
	}
	if inDir && isTextWithoutPEM(data) {
		return FileResult{Path: path, Skipped: errTextFile.Error()}
	}
	certs, err := ParseCertificates(data)
	if errors.Is(err, errNoCertificate) {
		return FileResult{Path: path, Skipped: errNoCertificate.Error()}
	}
	if err != nil {
		return fail(path, err)
	}
	res, err := s.importCertificates(ctx, certs, siblings)
	res.Path = path
	if err != nil {
		return fail(path, err)
	}
	return res
}

// ImportCertificates stores the certificates of one file (see Import) in
// one transaction and reports which were new and which already present.
// With WithAudit, each new certificate's certificate.import event (its
// inventory record as the object after) is appended in that transaction.
// Nothing is stored when it returns an error.
func (s *Service) ImportCertificates(ctx context.Context, certs []*x509.Certificate) (FileResult, error) {
	return s.importCertificates(ctx, certs, nil)
}

// importCertificates is ImportCertificates; a chain that certs do not
// complete continues with issuers from more (may be nil), whose signature
// must verify.
func (s *Service) importCertificates(ctx context.Context, certs []*x509.Certificate, more func() []*x509.Certificate) (FileResult, error) {
	var res FileResult
	now := s.now().UTC()
	var recs []*store.Certificate
	seen, usedSerials := map[string]bool{}, map[string]bool{}
	pool := indexSubjects(certs)
	for _, c := range certs {
		// A certificate given twice is looked at once (a chain built,
		// the database asked, for each copy made a file of N copies take
		// time in N squared).
		fp := sha256.Sum256(c.Raw)
		if seen[string(fp[:])] {
			continue
		}
		seen[string(fp[:])] = true
		r := Record(c, chainPEM(c, pool, more), store.SourceImported)
		old, err := s.st.GetCertificateByFingerprint(ctx, r.FingerprintSHA256)
		switch {
		case err == nil:
			res.Present = append(res.Present, old.Serial)
			continue
		case !errors.Is(err, store.ErrNotFound):
			return res, fmt.Errorf("look up fingerprint: %w", err)
		}
		if err := s.keySerial(ctx, r, usedSerials); err != nil {
			return res, err
		}
		r.CreatedAt = now
		recs = append(recs, r)
	}
	if len(recs) > 0 {
		var events []*store.AuditAppend
		if s.audit != nil {
			for _, r := range recs {
				ev, err := s.audit.Prepare(ctx, audit.Event{Actor: s.actor, Action: audit.ActionCertificateImport,
					ObjectType: audit.ObjectCertificate, ObjectID: r.Serial, After: view(r, now)})
				if err != nil {
					return res, err
				}
				events = append(events, ev)
			}
		}
		if err := s.st.InsertCertificates(ctx, recs, events...); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return res, fmt.Errorf("a certificate's serial is already taken by another certificate in the inventory (%w)", err)
			}
			return res, fmt.Errorf("store certificates: %w", err)
		}
	}
	for _, r := range recs {
		res.Imported = append(res.Imported, r.Serial)
	}
	return res, nil
}

// keySerial keys r by its serial, or, when another certificate holds that
// serial already (in the inventory, or in used: those about to be stored
// with r), by "SERIAL-FINGERPRINT16": serials are unique per issuer, not
// across issuers. It adds r's key to used.
func (s *Service) keySerial(ctx context.Context, r *store.Certificate, used map[string]bool) error {
	taken := used[r.Serial]
	if !taken {
		_, err := s.st.GetCertificate(ctx, r.Serial)
		switch {
		case err == nil:
			taken = true
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("look up serial: %w", err)
		}
	}
	if taken {
		r.Serial += "-" + r.FingerprintSHA256[:16]
	}
	used[r.Serial] = true
	return nil
}

// subjectIndex holds certificates by their raw subject, each name's in the
// order given: what chainPEM looks an issuer up in.
type subjectIndex map[string][]*x509.Certificate

// indexSubjects is the subjectIndex of pool.
func indexSubjects(pool []*x509.Certificate) subjectIndex {
	idx := subjectIndex{}
	for _, c := range pool {
		idx[string(c.RawSubject)] = append(idx[string(c.RawSubject)], c)
	}
	return idx
}

// chainPEM returns leaf followed by the certificates of pool that issued
// it, its issuer's issuer and so on, PEM-encoded. Of pool's certificates
// named as the issuer, the first whose key verifies the signature is
// taken, else (a signature Go does not verify, such as SHA-1) the first
// whose subject key identifier does not contradict the authority key
// identifier: so that of two CAs of one name in a file (an old and a new
// intermediate in a key rollover) the one that signed is taken. Where
// pool has no issuer, the chain goes on with one from more (the
// certificates of the files beside leaf's; nil for none), whose signature
// must verify: another file's certificate of the same name is no proof.
func chainPEM(leaf *x509.Certificate, pool subjectIndex, more func() []*x509.Certificate) string {
	var b bytes.Buffer
	b.Write(encodePEM(leaf.Raw))
	cur := leaf
	used := map[string]bool{string(leaf.Raw): true}
	for {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) {
			break // self-signed: the chain ends here
		}
		next := issuerOf(cur, pool[string(cur.RawIssuer)], used, false)
		if next == nil && more != nil {
			next = issuerOf(cur, more(), used, true)
		}
		if next == nil {
			break
		}
		used[string(next.Raw)] = true
		b.Write(encodePEM(next.Raw))
		cur = next
	}
	return b.String()
}

// issuerOf is the certificate of candidates, not in used, that issued
// cur: named as its issuer, with a key that verifies its signature; when
// none verifies and mustVerify is false, the first named so whose subject
// key identifier does not differ from cur's authority key identifier; nil
// when there is none.
func issuerOf(cur *x509.Certificate, candidates []*x509.Certificate, used map[string]bool, mustVerify bool) *x509.Certificate {
	var fallback *x509.Certificate
	for _, c := range candidates {
		if used[string(c.Raw)] || !bytes.Equal(c.RawSubject, cur.RawIssuer) {
			continue
		}
		if len(cur.AuthorityKeyId) > 0 && len(c.SubjectKeyId) > 0 && !bytes.Equal(cur.AuthorityKeyId, c.SubjectKeyId) {
			continue // a CA of the same name with another key
		}
		if cur.CheckSignatureFrom(c) == nil {
			return c
		}
		if fallback == nil && !mustVerify {
			fallback = c
		}
	}
	return fallback
}

// ParseCertificates parses a PEM, DER or DER PKCS#7 file into its
// certificates. PEM files may hold CERTIFICATE, PKCS7 and CMS blocks (other
// block types are skipped). Errors name what is wrong: no certificates,
// a truncated PEM block, or the block that fails to parse. A file of keys
// or certificate requests only (PEM blocks such as PRIVATE KEY or
// CERTIFICATE REQUEST, or a DER key or request) returns an error that
// Import reports as skipped rather than rejected.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return parsePEM(data)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file")
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		return []*x509.Certificate{c}, nil
	} else if cs, cerr := x509.ParseCertificates(data); cerr == nil && len(cs) > 1 {
		// Certificates in DER one after the other (a chain that some
		// tools write so): each is imported, as from a PEM bundle.
		return cs, nil
	} else if p7, p7err := pkcs7.Parse(data); p7err == nil {
		if len(p7.Certificates) == 0 {
			return nil, errors.New("PKCS#7 bundle holds no certificates")
		}
		return p7.Certificates, nil
	} else if isDERKeyOrRequest(data) {
		return nil, errNoCertificate
	} else if isPKCS12(data) { // before looksLikeCertificate: its length bytes may look like a SEQUENCE tag
		return nil, errors.New("a PKCS#12 (.p12/.pfx) file, which is not read: export its certificates as PEM " +
			"(openssl pkcs12 -in FILE -nokeys -out FILE.pem) and import that")
	} else if looksLikeCertificate(data) {
		return nil, fmt.Errorf("bad DER certificate: %w", parseError{err})
	}
	return nil, errors.New("not a PEM, DER or PKCS#7 certificate file")
}

// isPKCS12 reports whether data is a DER PKCS#12 PFX (RFC 7292 §4): a
// SEQUENCE of version 3 and a PKCS#7 ContentInfo of type data or
// signedData (the keys and certificates inside are not read).
func isPKCS12(data []byte) bool {
	var pfx struct {
		Version  int
		AuthSafe struct {
			ContentType asn1.ObjectIdentifier
			Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
		}
		MacData asn1.RawValue `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(data, &pfx); err != nil || pfx.Version != 3 {
		return false
	}
	ct := pfx.AuthSafe.ContentType
	return ct.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}) || ct.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2})
}

// maxSiblingFiles bounds the directories whose files complete each other's
// chains: a client's directory (certbot's live/NAME/, lego's certificates/,
// dehydrated's certs/NAME/) holds a few files; a bulk export of one file
// per certificate (docs/operations.md) would be read twice for nothing.
const maxSiblingFiles = 100

// dirCertificates returns the CA certificates of the files in dir (regular
// files and links to them, not below it), for chains that continue in
// another file of the directory; none for a directory of more than
// maxSiblingFiles entries. Files that cannot be read or parsed add none:
// each is reported when it is imported itself.
func dirCertificates(dir string) []*x509.Certificate {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) > maxSiblingFiles {
		return nil
	}
	var out []*x509.Certificate
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if info, err := os.Stat(p); err != nil || !info.Mode().IsRegular() || info.Size() > MaxImportFile {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if cs, err := ParseCertificates(data); err == nil {
			for _, c := range cs {
				if c.IsCA { // only a CA issues (CheckSignatureFrom requires it too)
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// parseError is a crypto/x509 parse error without the package's "x509: "
// prefix ("trailing data", not "x509: trailing data"): the message names
// the file and block already, and the prefix is Go's, not the user's.
type parseError struct{ err error }

func (e parseError) Error() string {
	msg := strings.TrimPrefix(e.err.Error(), "x509: ")
	if msg == "trailing data" {
		return "other data after the certificate (trailing data)"
	}
	return msg
}

func (e parseError) Unwrap() error { return e.err }

// looksLikeCertificate reports whether DER data starts like a certificate
// (an ASN.1 SEQUENCE holding a SEQUENCE), to tell a damaged certificate
// from a file of another kind.
func looksLikeCertificate(data []byte) bool {
	return len(data) > 4 && data[0] == 0x30 && (data[2] == 0x30 || data[3] == 0x30 || data[4] == 0x30)
}

// isDERKeyOrRequest reports whether data is a DER private key (PKCS#8,
// PKCS#1, SEC 1), public key (SPKI) or certificate request (PKCS#10).
func isDERKeyOrRequest(data []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(data); err == nil {
		return true
	}
	if _, err := x509.ParsePKIXPublicKey(data); err == nil {
		return true
	}
	_, err := x509.ParseCertificateRequest(data)
	return err == nil
}

// keyOrRequestBlock reports whether a PEM block type holds a key, key
// parameters or a certificate request: what sits beside certificates
// (certbot's privkey.pem, a CSR) and is no certificate.
func keyOrRequestBlock(typ string) bool {
	return strings.HasSuffix(typ, "PRIVATE KEY") || strings.HasSuffix(typ, "PUBLIC KEY") ||
		strings.HasSuffix(typ, "CERTIFICATE REQUEST") || strings.HasSuffix(typ, " PARAMETERS")
}

func parsePEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	keysOnly := true // every block so far is a key or request
	rest := data
	for n := 1; ; n++ {
		var b *pem.Block
		before := rest
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		// pem.Decode skips a block it cannot decode (bad base64, an END
		// line of another type) and returns the next one: a BEGIN line
		// before the decoded one is a bad block, which rejects the file.
		if pemBeginLines(before[:len(before)-len(rest)]) > 1 {
			return nil, fmt.Errorf("PEM block %d: malformed (bad base64, headers or END line)", n)
		}
		switch b.Type {
		case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
			der := b.Bytes
			if b.Type == "TRUSTED CERTIFICATE" {
				var err error
				if der, err = trustedCertificateDER(der); err != nil {
					return nil, fmt.Errorf("PEM block %d: bad trusted certificate: %w", n, err)
				}
			}
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d: bad certificate: %w", n, parseError{err})
			}
			out = append(out, c)
		case "PKCS7", "CMS":
			p7, err := pkcs7.Parse(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d: bad PKCS#7 bundle: %w", n, err)
			}
			out = append(out, p7.Certificates...)
		}
		keysOnly = keysOnly && keyOrRequestBlock(b.Type)
	}
	if bytes.Contains(rest, []byte("-----BEGIN ")) {
		return nil, errors.New("truncated or malformed PEM block")
	}
	if len(out) == 0 && keysOnly && !bytes.Equal(rest, data) {
		return nil, errNoCertificate
	}
	if len(out) == 0 {
		return nil, errors.New("no certificates in the PEM file")
	}
	return out, nil
}

// trustedCertificateDER returns the certificate of an OpenSSL TRUSTED
// CERTIFICATE block (openssl x509 -trustout): the certificate's DER,
// optionally followed by one ASN.1 SEQUENCE of trust settings
// (X509_CERT_AUX), which certgate does not use. Anything after that
// SEQUENCE is an error.
func trustedCertificateDER(data []byte) ([]byte, error) {
	var cert asn1.RawValue
	rest, err := asn1.Unmarshal(data, &cert)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if len(rest) > 0 {
		var aux asn1.RawValue
		trailing, err := asn1.Unmarshal(rest, &aux)
		if err != nil || aux.Class != asn1.ClassUniversal || aux.Tag != asn1.TagSequence {
			return nil, errors.New("trust settings after the certificate are not an ASN.1 SEQUENCE")
		}
		if len(trailing) > 0 {
			return nil, errors.New("trailing data after the trust settings")
		}
	}
	return cert.FullBytes, nil
}

// pemBeginLines counts the lines of b that begin with "-----BEGIN ",
// where encoding/pem looks for blocks.
func pemBeginLines(b []byte) int {
	n := 0
	for line := range bytes.Lines(b) {
		if bytes.HasPrefix(line, []byte("-----BEGIN ")) {
			n++
		}
	}
	return n
}

// Summary is the one-line outcome of a file (for the CLI).
func (r FileResult) Summary() string {
	if r.Err != nil {
		msg := r.Error
		if msg == "" {
			msg = r.Err.Error()
		}
		return r.Path + ": " + msg
	}
	if r.Skipped != "" {
		return r.Path + ": skipped (" + r.Skipped + ")"
	}
	parts := []string{fmt.Sprintf("%d imported", len(r.Imported))}
	if len(r.Present) > 0 {
		parts = append(parts, fmt.Sprintf("%d already present", len(r.Present)))
	}
	return r.Path + ": " + strings.Join(parts, ", ")
}
