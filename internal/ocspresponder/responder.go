// Package ocspresponder is certgate's OCSP responder (RFC 6960) for the
// certificates of one issuer (the built-in CA's intermediate). It answers
// GET {Path}/{url-encoded base64 OCSPRequest} (RFC 6960 Appendix A.1, the
// form HTTP caches can keep) and POST {Path} with an
// application/ocsp-request body, and returns application/ocsp-response.
//
// Signed responses are cached per serial (and CertID hash algorithm) for
// Config.Refresh and dropped at once by Invalidate, which the RA calls on
// every revocation through this process; a revocation made elsewhere (by
// another node of a cluster, or an administrative command) is therefore
// reflected within Config.Refresh.
package ocspresponder

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultRefresh bounds how long a signed response is served before
	// it is signed anew from the database.
	DefaultRefresh = time.Minute
	// DefaultValidity is nextUpdate − thisUpdate of every response.
	DefaultValidity = 24 * time.Hour
	// DefaultMaxEntries bounds the cache (about 0.5 KiB a response).
	DefaultMaxEntries = 1 << 14
	// maxRequestBytes bounds a POST body or decoded GET request; a
	// single-certificate request is about 100 bytes.
	maxRequestBytes = 8 << 10
)

// ContentType is the media type of OCSP responses (RFC 6960 Appendix C.2);
// requests are application/ocsp-request (C.1).
const ContentType = "application/ocsp-response"

// Store is what the responder reads: the certificate records whose serial
// number is serial (lower-case hex), whichever inventory key they are
// stored under (serial, or "serial-FINGERPRINT16" for an imported
// certificate whose serial another certificate held), none when there is
// no such record (store.Store.CertificatesWithSerial: one range of the
// primary key).
type Store interface {
	// CertificatesWithSerial returns the records of the certificates with
	// serial (lower-case hex), ordered by key; none is no error.
	CertificatesWithSerial(ctx context.Context, serial string) ([]*store.Certificate, error)
}

// Config configures a Responder.
type Config struct {
	// Path is the URL path of POST requests; GET requests are below it
	// (Path + "/" + request). Required.
	Path string
	// IssuerName is the issuer name stored with the certificates this
	// responder answers for ("local"). A serial without a record, or with
	// a record of another issuer, is answered "unauthorized" (unsigned;
	// see status), unless the record is stored under the issuing
	// certificate's subject (an imported certificate) and that
	// certificate's key signed it (issuer.SignedSerial): then it is
	// answered as one of IssuerName's.
	IssuerName string
	// Refresh is how long a signed response is reused; revocations not
	// made through this process show within it. Default DefaultRefresh.
	Refresh time.Duration
	// Validity is nextUpdate − thisUpdate; default DefaultValidity. It is
	// raised to Refresh when shorter.
	Validity time.Duration
	// MaxEntries bounds the cache; default DefaultMaxEntries.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Retired are the intermediates of the issuer that signed before the
	// current one (a rotated built-in CA). A request whose CertID names
	// one of them is answered with its key, about the records of
	// IssuerName whose issuer is its subject (byte for byte), and the
	// imported ones it signed; with any, the same holds for the current
	// one.
	Retired []issuer.OCSPSigner
}

// Responder is an http.Handler answering OCSP requests. It is safe for
// concurrent use. Create it with New.
type Responder struct {
	cfg   Config
	store Store
	log   *slog.Logger
	// signers are the issuing certificates it answers for: the current
	// one, then Config.Retired.
	signers []*signer

	mu    sync.Mutex
	gen   uint64 // bumped by Invalidate: a fill that saw an older one is dropped
	cache map[cacheKey]*entry
}

// signer is one issuing certificate the responder answers for.
type signer struct {
	issuer.OCSPSigner
	// ca is the issuing certificate (OCSPIssuer) and caDN its subject as
	// the inventory stores an imported certificate's issuer.
	ca   *x509.Certificate
	caDN string
	// hashes maps each CertID hash algorithm to the issuer's name and key
	// hashes under it (RFC 6960 §4.1.1).
	hashes map[crypto.Hash][2][]byte
}

// newSigner returns s with its CertID hashes.
func newSigner(s issuer.OCSPSigner) (*signer, error) {
	iss := s.OCSPIssuer()
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(iss.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("ocspresponder: issuer public key: %w", err)
	}
	hashes := map[crypto.Hash][2][]byte{}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		nh := h.New()
		nh.Write(iss.RawSubject)
		kh := h.New()
		kh.Write(spki.PublicKey.RightAlign())
		hashes[h] = [2][]byte{nh.Sum(nil), kh.Sum(nil)}
	}
	return &signer{OCSPSigner: s, ca: iss, caDN: iss.Subject.String(), hashes: hashes}, nil
}

type cacheKey struct {
	signer int // index in Responder.signers
	serial string
	hash   crypto.Hash
}

type entry struct {
	der        []byte
	etag       string // hex SHA-1 of der (RFC 5019 §6.2)
	thisUpdate time.Time
	nextUpdate time.Time // the response's nextUpdate
	until      time.Time // served until then (signing time + Refresh)
}

// New returns a responder for the certificates current's OCSPIssuer issued
// (and those of Config.Retired), reading their status from st.
func New(cfg Config, current issuer.OCSPSigner, st Store, log *slog.Logger) (*Responder, error) {
	if cfg.Path == "" || !strings.HasPrefix(cfg.Path, "/") || strings.HasSuffix(cfg.Path, "/") {
		return nil, fmt.Errorf("ocspresponder: path %q must start and not end with /", cfg.Path)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Validity <= 0 {
		cfg.Validity = DefaultValidity
	}
	cfg.Validity = max(cfg.Validity, cfg.Refresh)
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Responder{cfg: cfg, store: st, log: log, cache: map[cacheKey]*entry{}}
	for _, sg := range append([]issuer.OCSPSigner{current}, cfg.Retired...) {
		si, err := newSigner(sg)
		if err != nil {
			return nil, err
		}
		r.signers = append(r.signers, si)
	}
	return r, nil
}

// Refresh is the effective refresh interval (see Config.Refresh).
func (r *Responder) Refresh() time.Duration { return r.cfg.Refresh }

// Invalidate drops the cached responses about serial (lower-case hex, or
// an inventory key "serial-FINGERPRINT16"), so that the next request
// reads its new status. The RA calls it after a revocation.
func (r *Responder) Invalidate(serial string) {
	// An imported certificate keyed "SERIAL-FINGERPRINT16" is cached
	// under its serial, as requests name it.
	serial, _, _ = strings.Cut(serial, "-")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	for i, si := range r.signers {
		for h := range si.hashes {
			delete(r.cache, cacheKey{i, serial, h})
		}
	}
}

// Disabled answers the responder's paths of a server started without OCSP
// (`--ocsp=false`): certificates issued before still name its URL in
// their AIA, so a request there gets an OCSP response, "unauthorized"
// (RFC 6960 §2.3, RFC 5019 §2.2.3: this responder answers for no
// certificate), with Content-Type application/ocsp-response and HTTP 200,
// not the problem document of a path that is not OCSP's. Methods other
// than GET, HEAD and POST get 405 as from the responder.
type Disabled struct{}

// ServeHTTP implements http.Handler.
func (Disabled) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		rw.Header().Set("Allow", "GET, HEAD, POST")
		writeProblem(rw, http.StatusMethodNotAllowed, "method "+req.Method+" is not allowed here (RFC 6960 Appendix A.1)")
		return
	}
	h := rw.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(ocsp.UnauthorizedErrorResponse)))
	rw.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = rw.Write(ocsp.UnauthorizedErrorResponse)
	}
}

// writeProblem answers status with an RFC 8555 §6.7 malformed problem
// document saying detail, as the server's other paths answer a request
// that is not for them (a method the path does not take: 405; a POST to
// another path than Path: 404). OCSP's own errors are OCSP responses.
func writeProblem(rw http.ResponseWriter, status int, detail string) {
	body, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
		Status int    `json:"status"`
	}{"urn:ietf:params:acme:error:malformed", detail, status})
	rw.Header().Set("Content-Type", "application/problem+json")
	rw.WriteHeader(status)
	rw.Write(body)
}

// ServeHTTP implements http.Handler for POST Path and GET Path/{request}.
// Protocol errors are OCSP responses with HTTP 200 (malformedRequest,
// unauthorized for another issuer or a serial without a certificate of
// this one, internalError); a method other than
// GET, HEAD or POST is 405, and a POST to a path below Path 404, with a
// problem document (writeProblem).
func (r *Responder) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	var der []byte
	var bad error
	switch req.Method {
	case http.MethodPost:
		if req.URL.Path != r.cfg.Path && req.URL.Path != r.cfg.Path+"/" {
			writeProblem(rw, http.StatusNotFound, "OCSP POST requests go to "+r.cfg.Path+" itself, the request in the body (RFC 6960 Appendix A.1)")
			return
		}
		der, bad = io.ReadAll(http.MaxBytesReader(rw, req.Body, maxRequestBytes))
		if bad != nil {
			bad = fmt.Errorf("%w: request body: %w", errMalformed, bad)
		}
	case http.MethodGet, http.MethodHead:
		der, bad = r.decodeGET(req.URL)
	default:
		rw.Header().Set("Allow", "GET, HEAD, POST")
		writeProblem(rw, http.StatusMethodNotAllowed, "method "+req.Method+" is not allowed here; OCSP requests are GET "+r.cfg.Path+"/{base64 request} or POST "+r.cfg.Path+" (RFC 6960 Appendix A.1)")
		return
	}
	var resp []byte
	var e *entry
	if bad == nil {
		resp, e, bad = r.respond(req.Context(), der)
	}
	if bad != nil {
		var ue unauthorizedError
		switch {
		case errors.As(bad, &ue):
			resp = ocsp.UnauthorizedErrorResponse
		case errors.Is(bad, errMalformed):
			resp = ocsp.MalformedRequestErrorResponse
		default:
			r.log.ErrorContext(req.Context(), "ocsp", "err", bad)
			resp = ocsp.InternalErrorErrorResponse
		}
		r.log.DebugContext(req.Context(), "ocsp request refused", "err", bad)
	}
	h := rw.Header()
	h.Set("Content-Type", ContentType)
	if e != nil && req.Method != http.MethodPost {
		// RFC 5019 §6.2: let HTTP caches keep GET responses, but no longer
		// than this node reuses them (max-age, never past nextUpdate), so
		// HTTP/1.1 caches add nothing to the bound; Expires is the
		// response's nextUpdate, as §6.2 has it (an HTTP/1.1 cache ignores
		// it beside max-age, RFC 9111 §5.3). Date and Last-Modified come
		// from the same clock, and Last-Modified is never after Date
		// (RFC 9110 §8.8.2.1): thisUpdate may be later than the clock, when
		// the revocation was recorded by a node whose clock runs ahead.
		// ServeContent answers If-None-Match with 304; it gets no
		// modification time, for If-Modified-Since cannot tell apart two
		// responses with the same thisUpdate (whole seconds), e.g. the
		// "good" and the "revoked" signed in the same second when the
		// certificate was revoked.
		now := r.cfg.Now()
		h.Set("Cache-Control", fmt.Sprintf("max-age=%d, public, no-transform, must-revalidate", max(int(earliest(e.until, e.nextUpdate).Sub(now)/time.Second), 0)))
		h.Set("Expires", e.nextUpdate.UTC().Format(http.TimeFormat))
		h.Set("Date", now.UTC().Format(http.TimeFormat))
		h.Set("Last-Modified", earliest(e.thisUpdate, now).UTC().Format(http.TimeFormat))
		h.Set("ETag", `"`+e.etag+`"`)
		http.ServeContent(rw, req, "", time.Time{}, bytes.NewReader(resp))
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(resp)))
	h.Set("Cache-Control", "no-store")
	rw.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		rw.Write(resp)
	}
}

// earliest returns the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

var errMalformed = errors.New("malformed OCSP request")

type unauthorizedError struct{ why string }

func (u unauthorizedError) Error() string { return "unauthorized: " + u.why }

// decodeGET returns the DER request of GET Path/{request}: the rest of the
// path, percent-decoded, is standard base64 (RFC 6960 Appendix A.1). The
// raw path is used so that "/" and "+" inside the base64 survive; padding
// may be missing.
func (r *Responder) decodeGET(u *url.URL) ([]byte, error) {
	raw := u.EscapedPath()
	rest, ok := strings.CutPrefix(raw, r.cfg.Path+"/")
	if !ok || rest == "" {
		return nil, fmt.Errorf("%w: GET needs %s/{base64 OCSPRequest}", errMalformed, r.cfg.Path)
	}
	s, err := url.PathUnescape(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: bad percent-encoding", errMalformed)
	}
	if len(s) > maxRequestBytes {
		return nil, fmt.Errorf("%w: request longer than %d bytes", errMalformed, maxRequestBytes)
	}
	s = strings.TrimRight(s, "=")
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		// Some clients use the URL-safe alphabet.
		if b, err = base64.RawURLEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: not base64", errMalformed)
		}
	}
	return b, nil
}

// ocspRequest mirrors OCSPRequest (RFC 6960 §4.1.1) far enough to count
// the requests (ocsp.ParseRequest only reads the first) and to take a
// signature off.
type ocspRequest struct {
	TBSRequest tbsRequest
	// OptionalSignature is the request's signature, which the responder
	// does not need and does not check (RFC 5019 §2.1.2: responders MAY
	// ignore it), but which must be a well-formed Signature.
	OptionalSignature struct {
		SignatureAlgorithm pkix.AlgorithmIdentifier
		Signature          asn1.BitString
		Certs              []asn1.RawValue `asn1:"explicit,tag:0,optional"`
	} `asn1:"explicit,tag:0,optional"`
}

// tbsRequest mirrors TBSRequest (RFC 6960 §4.1.1).
type tbsRequest struct {
	Version           int           `asn1:"explicit,tag:0,default:0,optional"`
	RequestorName     asn1.RawValue `asn1:"explicit,tag:1,optional"`
	RequestList       []asn1.RawValue
	RequestExtensions asn1.RawValue `asn1:"explicit,tag:2,optional"`
}

// respond parses a DER OCSPRequest and returns the signed response and its
// cache entry. A signed request, or one naming its requestor
// (requestorName, optional, signed or not), is answered as the same request
// unsigned and without that name.
// Errors wrap errMalformed (and the parser's error, e.g.
// encoding/asn1's) or are an unauthorizedError for
// requests about another issuer; others are internal.
func (r *Responder) respond(ctx context.Context, der []byte) ([]byte, *entry, error) {
	var outer ocspRequest
	rest, err := asn1.Unmarshal(der, &outer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if len(rest) > 0 {
		return nil, nil, fmt.Errorf("%w: trailing data after the request", errMalformed)
	}
	if n := len(outer.TBSRequest.RequestList); n != 1 {
		// RFC 5019 §2.1.1: one certificate per request.
		return nil, nil, fmt.Errorf("%w: %d certificates in one request; ask about one at a time", errMalformed, n)
	}
	if len(outer.OptionalSignature.SignatureAlgorithm.Algorithm) > 0 || len(outer.TBSRequest.RequestorName.FullBytes) > 0 {
		// ocsp.ParseRequest refuses signed requests, and reads a
		// requestorName as a Name where it is a GeneralName (any choice:
		// directoryName, dNSName, rfc822Name, ...), so that it refuses
		// one, signed or not: give it the request unsigned, without the
		// requestor's name, which only matters to a signature.
		tbs := outer.TBSRequest
		tbs.RequestorName = asn1.RawValue{}
		if der, err = asn1.Marshal(struct{ TBSRequest tbsRequest }{tbs}); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errMalformed, err)
		}
	}
	req, err := ocsp.ParseRequest(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	idx := -1
	for i, si := range r.signers {
		want, ok := si.hashes[req.HashAlgorithm]
		if !ok {
			return nil, nil, fmt.Errorf("%w: CertID hash %v not supported", errMalformed, req.HashAlgorithm)
		}
		if bytes.Equal(req.IssuerNameHash, want[0]) && bytes.Equal(req.IssuerKeyHash, want[1]) {
			idx = i
			break
		}
	}
	if idx < 0 {
		// RFC 6960 §2.3: a responder not authoritative for the issuer.
		return nil, nil, unauthorizedError{"the request names another issuer"}
	}
	si := r.signers[idx]
	if req.SerialNumber == nil {
		return nil, nil, fmt.Errorf("%w: no serial number", errMalformed)
	}
	serial := req.SerialNumber.Text(16)
	key := cacheKey{idx, serial, req.HashAlgorithm}
	now := r.cfg.Now()
	r.mu.Lock()
	e, hit := r.cache[key]
	gen := r.gen
	r.mu.Unlock()
	if hit && now.Before(e.until) {
		return e.der, e, nil
	}
	tmpl, err := r.status(ctx, si, req.SerialNumber, serial)
	if err != nil {
		return nil, nil, err
	}
	// Backdate thisUpdate a little for clients whose clocks run behind,
	// but never before the revocation it reports (RFC 6960 §4.2.2.1: the
	// status must have been correct at thisUpdate). producedAt is the
	// signing time, in whole seconds, and never before thisUpdate (a
	// revocation stored by a node whose clock runs ahead of this one's).
	produced := now.UTC().Truncate(time.Second)
	this := produced.Add(-time.Minute)
	if tmpl.Status == ocsp.Revoked && tmpl.RevokedAt.After(this) {
		this = tmpl.RevokedAt
	}
	if produced.Before(this) {
		produced = this
	}
	tmpl.ThisUpdate, tmpl.NextUpdate, tmpl.IssuerHash, tmpl.ProducedAt = this, this.Add(r.cfg.Validity), req.HashAlgorithm, produced
	resp, err := si.SignOCSP(tmpl)
	if err != nil {
		return nil, nil, fmt.Errorf("sign OCSP response for serial %s: %w", serial, err)
	}
	sum := sha1.Sum(resp)
	e = &entry{der: resp, etag: hex.EncodeToString(sum[:]), thisUpdate: this, nextUpdate: tmpl.NextUpdate, until: now.Add(r.cfg.Refresh)}
	r.put(key, e, gen, now)
	return resp, e, nil
}

// status reads the certificate's status: good or revoked for a record of
// this issuer, or of the issuing certificate's subject that its key
// signed (imported). For no record, or another issuer's, it returns an
// unauthorizedError: the responder answers with the fixed, unsigned
// "unauthorized" response (RFC 6960 §2.3: the server is not capable of
// responding authoritatively; RFC 5019 §2.2.3), so that a request about a
// serial this CA never issued costs one primary-key read and no
// signature, however many such requests come (a signed "unknown" cost an
// ECDSA signature each, and random serials never hit a cache). CA/B Forum
// BR §4.9.10 forbids only "good" for such a serial.
func (r *Responder) status(ctx context.Context, si *signer, n *big.Int, serial string) (ocsp.Response, error) {
	tmpl := ocsp.Response{SerialNumber: n}
	recs, err := r.store.CertificatesWithSerial(ctx, serial)
	if err != nil {
		return tmpl, fmt.Errorf("certificate %s: %w", serial, err)
	}
	// Serials are unique per issuer only: of the records with the serial
	// (another CA's may hold the bare serial, an imported one of this CA
	// then being keyed serial-FINGERPRINT16), the one of this issuer.
	var c *store.Certificate
	for _, rec := range recs {
		// With retired intermediates, a record of the issuer name is
		// the one of the intermediate its issuer names.
		if (rec.Issuer == r.cfg.IssuerName && (len(r.signers) == 1 || issuedBy(rec.DER, si.ca))) ||
			(rec.Issuer == si.caDN && signedSerial(rec.DER, si.ca, n)) {
			c = rec
			break
		}
	}
	if c == nil {
		if len(recs) == 0 {
			return tmpl, unauthorizedError{"no certificate of this issuer has serial " + serial}
		}
		return tmpl, unauthorizedError{"serial " + serial + " is another issuer's certificate"}
	}
	if c.Status == acme.StatusRevoked {
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, c.RevokedAt.UTC().Truncate(time.Second), c.RevocationReason
	} else {
		tmpl.Status = ocsp.Good
	}
	return tmpl, nil
}

// put caches e unless an Invalidate ran since the fill began (gen), which
// could have made e stale. A full cache first drops expired entries, then
// arbitrary ones, down to 7/8 of its size.
func (r *Responder) put(key cacheKey, e *entry, gen uint64, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != r.gen {
		return
	}
	if len(r.cache) >= r.cfg.MaxEntries {
		for k, v := range r.cache {
			if !now.Before(v.until) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache {
			if len(r.cache) < r.cfg.MaxEntries*7/8 {
				break
			}
			delete(r.cache, k)
		}
	}
	r.cache[key] = e
}

// issuedBy reports whether the DER certificate der names ca's subject as
// its issuer, byte for byte.
func issuedBy(der []byte, ca *x509.Certificate) bool {
	c, err := x509.ParseCertificate(der)
	return err == nil && bytes.Equal(c.RawIssuer, ca.RawSubject)
}

// signedSerial reports whether ca's key signed the DER certificate der and
// its serial is n.
func signedSerial(der []byte, ca *x509.Certificate, n *big.Int) bool {
	got := issuer.SignedSerial(der, ca)
	return got != nil && got.Cmp(n) == 0
}
