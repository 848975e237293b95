// Package adminapi is certgate's admin REST API under /api/v1 (docs/api.md),
// built with huma v2 on net/http: the OpenAPI 3.1 document served at
// /api/v1/openapi.json is generated from the Go types and operations here,
// errors are RFC 9457 problem documents (application/problem+json), and
// every operation requires an API token (RFC 6750 bearer) whose role holds
// the operation's permission in auth.Table: no token or a bad one → 401,
// a role without the permission → 403.
//
// Adding an endpoint group: write a file with a func(*API) that calls
// Register for each operation (naming the permission it needs), and add
// that func to groups() below. The route/role tests and the OpenAPI
// checks then cover it; add a row to their per-operation request table.
package adminapi

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/auth"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/policy"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/store"
	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// Prefix is where the API is served.
const Prefix = "/api/v1"

// OpenAPIPath is the URL path of the OpenAPI 3.1 document.
const OpenAPIPath = Prefix + "/openapi.json"

// Revoker revokes certificates for administrators; *ra.RA implements it.
// RevokeSerial returns the certificate as revoked and, for keyCompromise,
// the serials of the key's other certificates revoked with it and the
// inventory keys of other CAs' certificates with the key (ra.Revocation).
type Revoker interface {
	// RevokeSerial revokes the certificate with serial (lower-case hex)
	// with RFC 5280 §5.3.1 reason code reason, audited as actor (e.g.
	// "token:ops"). Errors: ra.ErrUnknownCertificate,
	// ra.ErrAlreadyRevoked, ra.ErrBadReason, or a storage error.
	RevokeSerial(ctx context.Context, serial string, reason int, actor string) (*ra.Revocation, error)
}

// Deps are the services the API works over.
type Deps struct {
	Store     *store.Store       // storage of every resource
	Inventory *inventory.Service // certificate search, reports and revocation
	Tokens    *auth.Tokens       // API token authentication and management
	Audit     *audit.Log         // the audit log that records changes
	Revoker   Revoker            // revokes certificates (ra.RA)
	Now       func() time.Time   // nil: time.Now
	Log       *slog.Logger       // nil: discard
	Version   string             // shown in the OpenAPI document
	// DefaultProfile is the built-in default certificate profile (nil:
	// ra.DefaultProfile with 90 days); LintProfile, when set, lints a
	// profile's certificates before it is stored (server.LintProfile).
	DefaultProfile *policy.Profile
	LintProfile    func(*policy.Profile) error // see DefaultProfile
	// Issuers are the issuer names a profile may name (issuer.Names:
	// "local" and the server's issuers-file); nil: "local" only.
	Issuers []string
	// ACMEBase is the URL clients reach the ACME server at,
	// https://HOSTNAME:PORT (ACMEBaseURL), that the answer of
	// create-eab-key prefixes to the key's profile directory; "" names
	// the directory by its path only.
	ACMEBase string
	// RevokedIntermediates returns the built-in CA's intermediates revoked
	// with `certgate ca revoke-intermediate` (ra.RA.RevokedIntermediates),
	// called for each certificate shown, so that a revocation the server
	// learns while it runs counts: the certificates they signed show
	// renewal window source intermediate-revoked. nil: none.
	RevokedIntermediates func() []*x509.Certificate
}

// ACMEBaseURL is the URL clients reach the ACME server at, as the server
// logs it on start: https://HOSTNAME:PORT, PORT that of the listen address.
func ACMEBaseURL(hostname, port string) string {
	return "https://" + net.JoinHostPort(hostname, port)
}

// EABDirectory is the ACME directory of profile under base (ACMEBaseURL;
// "": the path only), the URL a client given an EAB key for profile uses.
func EABDirectory(base, profile string) string {
	return base + "/acme/" + profile + "/directory"
}

// API is the admin API under construction: the huma API and the services
// that endpoint groups use.
type API struct {
	huma huma.API
	d    Deps
}

func init() {
	// Field names are matched as declared. huma's default accepted a field
	// in another case ("ROLE" for "role") yet, when both were sent,
	// validated only the declared one, while encoding/json, which matches
	// names case-insensitively, kept the last: {"role":"auditor",
	// "ROLE":"admin"} was validated as an auditor token and created an
	// admin one, and a schema limit (maxLength, enum, pattern) did not hold
	// for the value the handler got. Now such a field is an unexpected
	// property (422, hintFieldNames names the field to use).
	//
	// This is the one write to package-level state outside its owner, and
	// it stays here on purpose: huma v2 has no per-API setting for it
	// (huma.Config has none; validation reads the global), huma is used by
	// this package only, and an init sets it before any API of this
	// package can exist, for every program that links it (certgate serve,
	// testenv, the tests), with no write that could race with a request's
	// validation. Set in cmd/ instead, an embedder that forgot it would
	// serve the admin API with the hole open.
	// TestBodyFieldOtherCaseRefused holds the behaviour.
	huma.ValidateStrictCasing = true
}

// groups lists the endpoint groups; each registers its operations.
func groups() []func(*API) {
	return []func(*API){accountRoutes, orderRoutes, certificateRoutes, reportRoutes, tokenRoutes, auditRoutes, profileRoutes, scanRoutes, notificationRoutes}
}

// New returns the handler serving the API under Prefix: give it Prefix and every
// request whose path starts with Prefix + "/".
func New(d Deps) http.Handler {
	h, _ := build(d)
	return h
}

// routeMux is the ServeMux the API registers on, noting every pattern
// (tests compare them with the OpenAPI document).
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

// build returns the handler and the mux it serves with.
func build(d Deps) (http.Handler, *routeMux) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Version == "" {
		d.Version = "dev"
	}
	mux := &routeMux{ServeMux: http.NewServeMux()}
	cfg := huma.DefaultConfig("certgate admin API", d.Version)
	cfg.OpenAPIPath = strings.TrimSuffix(OpenAPIPath, ".json")
	cfg.DocsPath = ""    // the docs page would load scripts from a CDN
	cfg.SchemasPath = "" // schemas are in the OpenAPI document
	cfg.CreateHooks = nil
	cfg.Info.Description = "Administration of certgate: ACME accounts and orders, certificates, reports, API tokens and the audit log. " +
		"Authenticate with an API token (certgate token create) as `Authorization: Bearer TOKEN`. Errors are RFC 9457 problem documents."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "an API token from `certgate token create`"},
	}
	// Every problem names its type: about:blank (RFC 9457 §4.2.1), the
	// default a client would otherwise have to assume (§3.1.1).
	var schemas huma.Registry // set once hapi exists; read by the transformer
	cfg.Transformers = append(cfg.Transformers, func(ctx huma.Context, _ string, v any) (any, error) {
		if e, ok := v.(*huma.ErrorModel); ok {
			if e.Type == "" {
				e.Type = problemType
			}
			hintFieldNames(ctx, schemas, e)
			explainDurations(e)
			explainBodyProblem(ctx, e)
			placeDecodeError(e)
			explainValidation(e)
			redactProblem(e)
		}
		return v, nil
	})
	hapi := humago.New(mux, cfg)
	schemas = hapi.OpenAPI().Components.Schemas
	a := &API{huma: hapi, d: d}
	hapi.UseMiddleware(a.authenticate)
	for _, g := range groups() {
		g(a)
	}
	// Anything else under the prefix: a problem document, not the mux's
	// text; 405 with Allow when the path is routed for other methods
	// (RFC 9110 §15.5.6), else 404.
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		if allow := mux.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allow, ", "))
			return
		}
		detail := "no such API resource: " + r.Method + " " + r.URL.Path
		// A trailing slash is a common slip (ACME's 404 names the
		// directory meant likewise): name the resource without it.
		if p := strings.TrimRight(r.URL.Path, "/"); p != r.URL.Path && strings.HasPrefix(p, Prefix+"/") {
			probe := r.Clone(r.Context())
			probe.URL.Path, probe.URL.RawPath = p, ""
			if len(mux.allowed(probe)) > 0 {
				detail += " (the resource is " + p + ", without the trailing slash)"
			}
		}
		writeProblem(w, http.StatusNotFound, detail)
	})
	serve := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Prefix {
			// ServeMux would redirect to Prefix + "/", which is no resource.
			writeProblem(w, http.StatusNotFound, "no such API resource: "+r.Method+" "+r.URL.Path+" (the OpenAPI document is at "+OpenAPIPath+")")
			return
		}
		if !cleanPath(r.URL.Path) {
			// ServeMux would answer a 307 redirect (with an HTML body)
			// to the cleaned path, which may name another resource.
			writeProblem(w, http.StatusNotFound, "no such API resource: "+r.Method+" "+r.URL.Path+` (a path with "//", "." or ".." segments)`)
			return
		}
		// A media type is case-insensitive, with optional white space
		// around its parameters (RFC 9110 §8.3.1, §5.6.6); huma matches
		// the header as written, so "Application/JSON" was a 415.
		if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
			if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
				r.Header.Set("Content-Type", "application/json")
			}
		}
		// If-Match sent as several field lines is one comma-separated
		// list (RFC 9110 §5.3, §13.1.1); huma reads only the first line.
		if v := r.Header.Values("If-Match"); len(v) > 1 {
			r.Header.Set("If-Match", strings.Join(v, ", "))
		}
		mux.ServeHTTP(w, r)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.Log.Enabled(r.Context(), slog.LevelInfo) {
			serve(w, r)
			return
		}
		start := time.Now()
		e := &accessEntry{}
		sw := &StatusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), accessKey{}, e))
		serve(sw, r)
		if sw.Status == 0 {
			sw.Status = http.StatusOK
		}
		d.Log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", redactTokens(r.URL.Path)),
			slog.Int("status", sw.Status), slog.String("actor", e.actor), slog.String("remote", r.RemoteAddr),
			slog.Float64("ms", float64(time.Since(start).Microseconds())/1000))
	}), mux
}

// accessEntry is what the request log line of an admin API request says
// beyond the request itself: the caller, once authenticated.
type accessEntry struct {
	actor string // token:NAME#ID; "" when no token was accepted
}

// accessKey keys the request's *accessEntry in its context.
type accessKey struct{}

// StatusWriter records the status code a handler answers, for a request
// log line: the admin API's, and the web dashboard's.
type StatusWriter struct {
	http.ResponseWriter
	Status int // the status written; 0 before the handler writes
}

// WriteHeader records code (the first one written) and writes it.
func (s *StatusWriter) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records 200 when nothing was written before, and writes b.
func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer (for http.ResponseController).
func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// RedactTokens returns the URL path p with the secret of any API token in
// it cut off, as the admin API's request log has it (redactTokens): for
// the request lines of the server's own refusals of admin API paths.
func RedactTokens(p string) string { return redactTokens(p) }

// redactTokens returns the URL path p with the secret of any API token in
// it cut off (a token pasted as a path ID, say to revoke it: "cgt_ID_" +
// "..." stays), so that the request log never holds a token.
func redactTokens(p string) string {
	if !strings.Contains(p, auth.TokenPrefix) {
		return p
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if j := strings.Index(seg, auth.TokenPrefix); j >= 0 && len(seg) > j+len(auth.TokenPrefix)+17 {
			segs[i] = seg[:j+len(auth.TokenPrefix)+17] + "..."
		}
	}
	return strings.Join(segs, "/")
}

// redactText returns s with the secret of any API token in it cut off as
// redactTokens cuts it in a path: after "cgt_", an ID of 16 characters and
// "_", the rest of the token's run of base64url characters becomes "...".
// Every problem the API answers goes through it (detail, and each error's
// message and value), so that a token pasted into a path (to revoke it, or
// by mistake) is never echoed whole: "no such API resource: GET
// /api/v1/cgt_0123456789abcdef_...".
func redactText(s string) string {
	if !strings.Contains(s, auth.TokenPrefix) {
		return s
	}
	var b strings.Builder
	for {
		j := strings.Index(s, auth.TokenPrefix)
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		keep := j + len(auth.TokenPrefix) + 17 // "cgt_" + ID + "_"
		end := j + len(auth.TokenPrefix)
		for end < len(s) && isTokenByte(s[end]) {
			end++
		}
		if end > keep {
			b.WriteString(s[:keep])
			b.WriteString("...")
		} else {
			b.WriteString(s[:end])
		}
		s = s[end:]
	}
}

// isTokenByte reports whether c may be part of an API token: a base64url
// character (the ID's hex digits, "_" and the secret's alphabet).
func isTokenByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
}

// redactProblem cuts the secret of any API token out of e (redactText):
// its detail and each error's message and string value.
func redactProblem(e *huma.ErrorModel) {
	e.Detail = redactText(e.Detail)
	for _, d := range e.Errors {
		if d == nil {
			continue
		}
		d.Message = redactText(d.Message)
		if v, ok := d.Value.(string); ok {
			d.Value = redactText(v)
		}
	}
}

// explainBodyProblem replaces huma's "validation failed" detail of a body
// it could not read with what to send: a body of another content type than
// JSON (415; curl -d sends application/x-www-form-urlencoded) or one that
// is not JSON (400). Its errors list stays as it is.
func explainBodyProblem(ctx huma.Context, e *huma.ErrorModel) {
	if e.Detail != "validation failed" || len(e.Errors) != 1 || e.Errors[0].Location != "body" {
		return
	}
	switch e.Status {
	case http.StatusUnsupportedMediaType:
		ct := ctx.Header("Content-Type")
		if ct == "" {
			ct = "no content type"
		}
		e.Detail = "the request body must be JSON sent with Content-Type: application/json, not " + ct
		if strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			e.Detail += " (curl -d sends that unless given -H 'Content-Type: application/json')"
		}
	case http.StatusBadRequest:
		body, _ := e.Errors[0].Value.(string)
		location, msg := explainJSONError(body)
		e.Errors[0].Location = location
		e.Errors[0].Message = msg
		e.Detail = "the request body is not valid JSON: " + msg
	}
}

// placeDecodeError gives a 422 of a value the schema let through but the
// decoder refused (a duration beyond ~292 years, "-1w": the field's
// UnmarshalText, whose error names no field) the place of that value:
// the first string member of the body equal to the text the message
// quotes, as "body.approval.escalateAfter" with the value alone, where
// huma gave "body" and the whole body. Errors it cannot place stay as
// they are.
func placeDecodeError(e *huma.ErrorModel) {
	if e.Status != http.StatusUnprocessableEntity || len(e.Errors) != 1 || e.Errors[0].Location != "body" {
		return
	}
	body, _ := e.Errors[0].Value.(string)
	m := quotedText.FindString(e.Errors[0].Message)
	if body == "" || m == "" {
		return
	}
	want, err := strconv.Unquote(m)
	if err != nil {
		return
	}
	var v any
	if json.Unmarshal([]byte(body), &v) != nil {
		return
	}
	if p, ok := memberPath(v, "", func(x any) bool { return x == want }); ok {
		e.Errors[0].Location = "body" + p
		e.Errors[0].Value = want
		e.Detail = "body" + p + ": " + e.Errors[0].Message
	}
}

// quotedText matches the first Go-quoted string of a message.
var quotedText = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// explainJSONError says in plain words where body, which huma could not
// decode, goes wrong, for the 400 of explainBodyProblem: "unexpected
// character 'x' at line 1, column 1", "it ends at line 1, column 14 before
// the JSON text is complete" (the position after its last character), or, for a number beyond the range of a
// double, the field it is in ("body.reason": "number 1e400 is out of
// range"). encoding/json's own wording ("invalid character 'x' looking for
// beginning of value", "json: cannot unmarshal number 1e400 into Go struct
// field .reason of type float64") named Go's types and parser states.
func explainJSONError(body string) (location, msg string) {
	var v any
	err := json.Unmarshal([]byte(body), &v)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off := int(min(max(syn.Offset, 0), int64(len(body))))
		if syn.Error() == "unexpected end of JSON input" { // only encoding/json's text tells it
			line, col := textPosition(body, len(body))
			return "body", fmt.Sprintf("it ends at line %d, column %d before the JSON text is complete", line, col)
		}
		// Offset counts the bytes read, the offending one included.
		start := max(off-1, 0)
		for start > 0 && !utf8.RuneStart(body[start]) {
			start--
		}
		r, _ := utf8.DecodeRuneInString(body[start:])
		line, col := textPosition(body, start)
		return "body", fmt.Sprintf("unexpected character %s at line %d, column %d", quoteRune(r), line, col)
	case errors.As(err, &typ):
		// The number's place, found by certgate rather than read from
		// typ.Field, which Go 1.26's encoding/json leaves empty when
		// decoding into an interface (Go 1.27's fills it).
		location = "body"
		var n any
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		if dec.Decode(&n) == nil {
			if p, ok := memberPath(n, "", outOfRange); ok {
				location += p
			}
		}
		return location, typ.Value + " is out of range" // "number 1e400"
	}
	return "body", "it cannot be read as JSON"
}

// memberPath returns the path below v (".reason", ".items[2].n", after
// prefix) of the first value of v, decoded JSON, for which match holds,
// and whether there is one. Object members are visited in key order, so
// which of several is named does not change between runs.
func memberPath(v any, prefix string, match func(any) bool) (string, bool) {
	if match(v) {
		return prefix, true
	}
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if p, ok := memberPath(v[k], prefix+"."+k, match); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range v {
			if p, ok := memberPath(e, prefix+"["+strconv.Itoa(i)+"]", match); ok {
				return p, true
			}
		}
	}
	return "", false
}

// outOfRange reports whether v is a JSON number, decoded with UseNumber,
// that no float64 holds.
func outOfRange(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := strconv.ParseFloat(string(n), 64)
	return err != nil
}

// textPosition returns the line and column (both from 1, the column in
// characters) of the byte at offset off of s.
func textPosition(s string, off int) (line, col int) {
	before := s[:off]
	line = strings.Count(before, "\n") + 1
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, utf8.RuneCountInString(before) + 1
}

// quoteRune quotes r for a problem's text as Go quotes a rune ('x', '\t',
// '\u00a0'), but a single quote in double quotes.
func quoteRune(r rune) string {
	if r == '\'' {
		return `"'"`
	}
	return strconv.QuoteRune(r)
}

// explainValidation replaces huma's "validation failed" detail of a 422
// with the errors it stands for, each with the field it names, joined
// with "; " as the operations' own checks join theirs
// ("query.limit: invalid integer; body.role: expected value to be one of
// ..."): a client that shows only the detail (curl, most HTTP libraries'
// error text) learned nothing from it. The errors list stays as it is.
func explainValidation(e *huma.ErrorModel) {
	if e.Detail != "validation failed" || e.Status != http.StatusUnprocessableEntity || len(e.Errors) == 0 {
		return
	}
	parts := make([]string, 0, len(e.Errors))
	for _, d := range e.Errors {
		if d == nil {
			continue
		}
		if d.Location != "" {
			parts = append(parts, d.Location+": "+d.Message)
		} else {
			parts = append(parts, d.Message)
		}
	}
	if len(parts) > 0 {
		e.Detail = strings.Join(parts, "; ")
	}
}

// hintFieldNames rewrites the "unexpected property" message of each
// top-level body field that the operation's body declares under another
// spelling — the same letters in another case or with other underscores,
// such as singleUse for single_use (approvals and EAB keys had camelCase
// fields before this release) or max_validity for a profile's maxValidity
// — to name the declared field. Other errors are left as they are.
func hintFieldNames(ctx huma.Context, schemas huma.Registry, e *huma.ErrorModel) {
	op := ctx.Operation()
	if op == nil || op.RequestBody == nil || schemas == nil {
		return
	}
	mt := op.RequestBody.Content["application/json"]
	if mt == nil || mt.Schema == nil {
		return
	}
	body := mt.Schema
	if body.Ref != "" {
		body = schemas.SchemaFromRef(body.Ref)
	}
	if body == nil {
		return
	}
	fold := func(name string) string { return strings.ToLower(strings.ReplaceAll(name, "_", "")) }
	for _, d := range e.Errors {
		name, ok := strings.CutPrefix(d.Location, "body.")
		if !ok || d.Message != "unexpected property" || strings.Contains(name, ".") {
			continue
		}
		for field := range body.Properties {
			if field != name && fold(field) == fold(name) {
				d.Message = fmt.Sprintf("unexpected property; the field is %q (docs/api.md, Field names)", field)
				break
			}
		}
	}
}

// durationPatternMessage is huma's message for a profile duration that
// does not match policy.DurationPattern, and durationMessage what the API
// says instead (the OpenAPI document holds the pattern only: OpenAPI has
// no field for huma's patternDescription).
var (
	durationPatternMessage = "expected string to match pattern " + policy.DurationPattern
	durationMessage        = "expected a duration such as 90d, 2w, 36h or 1d12h"
)

// explainDurations rewrites the message of each error about a malformed
// duration from the pattern to an example of the form.
func explainDurations(e *huma.ErrorModel) {
	for _, d := range e.Errors {
		if d.Message == durationPatternMessage {
			d.Message = durationMessage
		}
	}
}

// problemType is the type of every problem document the API answers:
// about:blank, the status code says it all (RFC 9457 §4.2.1).
const problemType = "about:blank"

// cleanPath reports whether p has no empty ("//"), "." or ".." segment:
// whether http.ServeMux would route it rather than redirect it. It costs
// two substring scans for the usual path.
func cleanPath(p string) bool {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return true
	}
	if strings.Contains(p, "//") {
		return false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// allowed returns the methods for which the mux routes r's path to an
// operation rather than to the fallback (HEAD where GET is), in a fixed
// order; none for a path no operation has.
func (m *routeMux) allowed(r *http.Request) []string {
	var out []string
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := m.ServeMux.Handler(probe); pattern != "" && pattern != Prefix+"/" {
			out = append(out, method)
		}
	}
	return out
}

// invalidField is the 422 of a value the operation's schema admits but the
// operation refuses (a rejection without a comment, an EAB key's unknown
// profile): a problem whose errors list — the RFC 9457 §3.2 extension
// member huma's own validation 422s carry — names the field at location
// ("body.comment", "body.allow[1]") with its value and message, so that a
// client reads every 422 of invalid input alike. The detail is the
// message too.
func invalidField(location, message string, value any) error {
	return invalidFields(message, &huma.ErrorDetail{Location: location, Message: message, Value: value})
}

// invalidFields is invalidField for several bad fields at once (a query
// with several bad parameters): the errors list holds each of fields (at
// least one), the detail is detail.
func invalidFields(detail string, fields ...*huma.ErrorDetail) error {
	errs := make([]error, len(fields))
	for i, f := range fields {
		errs[i] = f
	}
	return huma.Error422UnprocessableEntity(detail, errs...)
}

// WriteProblem writes the RFC 9457 problem document (application/
// problem+json, type about:blank) of status with detail, as the API
// answers its errors: for a request for an API path that the server
// answers itself (over plain HTTP, where the API is not served).
func WriteProblem(w http.ResponseWriter, status int, detail string) {
	writeProblem(w, status, detail)
}

// writeProblem writes an RFC 9457 problem document outside huma's routes,
// with any API token's secret cut out of detail (redactText).
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&huma.ErrorModel{Type: problemType, Title: http.StatusText(status), Status: status, Detail: redactText(detail)})
}

type principalKey struct{}

// permissionKey is the operation metadata naming the permission it needs.
const permissionKey = "permission"

// authHeaderProblem is the detail of a 401 for an Authorization header
// that holds no bearer token (RFC 6750 §2.1): what it lacks, without
// repeating what it holds (a token sent without its scheme is a secret).
func authHeaderProblem(hdr string) string {
	const want = "send Authorization: Bearer TOKEN"
	scheme, rest, _ := strings.Cut(strings.TrimSpace(hdr), " ")
	switch {
	case scheme == "":
		return "an API token is required: " + want
	case strings.EqualFold(scheme, "Bearer"):
		return "the Authorization header has the Bearer scheme but no token: " + want
	case strings.HasPrefix(scheme, "cgt_") && rest == "":
		return "the Authorization header holds a token without the Bearer scheme: " + want
	case len(scheme) <= 20 && !strings.ContainsAny(scheme, "=_.~+/"):
		return fmt.Sprintf("the Authorization header uses the %s scheme; certgate takes API tokens as bearer tokens: %s", scheme, want)
	}
	return "the Authorization header holds no bearer token: " + want
}

// authenticate checks the bearer token and the operation's permission
// before any handler runs; operations without a permission (the OpenAPI
// document) are public.
func (a *API) authenticate(ctx huma.Context, next func(huma.Context)) {
	op := ctx.Operation()
	perm, _ := op.Metadata[permissionKey].(auth.Permission)
	if perm == "" {
		next(ctx)
		return
	}
	hdr := ctx.Header("Authorization")
	scheme, tok, ok := strings.Cut(hdr, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="certgate"`)
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnauthorized, authHeaderProblem(hdr))
		return
	}
	p, err := a.d.Tokens.Authenticate(ctx.Context(), strings.TrimSpace(tok))
	if err != nil {
		if !errors.Is(err, auth.ErrUnauthenticated) {
			a.d.Log.ErrorContext(ctx.Context(), "token lookup", "err", err)
			_ = huma.WriteErr(a.huma, ctx, http.StatusInternalServerError, "internal error")
			return
		}
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="certgate", error="invalid_token"`)
		_ = huma.WriteErr(a.huma, ctx, http.StatusUnauthorized, "the API token is invalid, expired or revoked")
		return
	}
	if e, ok := ctx.Context().Value(accessKey{}).(*accessEntry); ok {
		e.actor = p.Actor() // logged also when refused below
	}
	if !p.Can(perm) {
		// RFC 6750 §3.1: a token without the privileges the request needs;
		// scope (§3) names the permission it lacks.
		ctx.SetHeader("WWW-Authenticate", `Bearer realm="certgate", error="insufficient_scope", scope="`+string(perm)+`"`)
		_ = huma.WriteErr(a.huma, ctx, http.StatusForbidden,
			"role "+string(p.Role)+" lacks permission "+string(perm)+" (docs/api.md lists the roles)")
		return
	}
	if status, detail, location := checkText(ctx); status != 0 {
		var errs []error
		if location != "" {
			errs = append(errs, &huma.ErrorDetail{Location: location, Message: detail})
		}
		_ = huma.WriteErr(a.huma, ctx, status, detail, errs...)
		return
	}
	ctx = huma.WithValue(ctx, principalKey{}, p)
	ctx = huma.WithContext(ctx, audit.WithSource(ctx.Context(), ctx.RemoteAddr()))
	next(ctx)
}

// checkText refuses, before the operation runs, a query parameter the
// operation does not take (422; a misspelt filter must not answer as if it
// matched everything), one it takes once given several times (422; huma
// read the first and dropped the others), and text that the storage
// engines would not treat alike: a NUL character (PostgreSQL's text type
// refuses it, so a lookup or an insert failed with 500 there while SQLite
// stored it) or invalid UTF-8, in the path (404: no object has such an
// ID), in a query parameter the operation takes (422), or a \u0000 escape
// in the JSON body (422). A body that is not UTF-8 is a 400, as JSON that
// does not parse: encoding/json would replace its invalid bytes with
// U+FFFD, storing text the client never sent. A body over the operation's limit is a 413, as huma answers it.
// It returns 0 when the request is acceptable, and with a 422 the
// location of the field at fault (for the problem's errors list, as
// invalidField).
func checkText(ctx huma.Context) (status int, detail, location string) {
	r, w := humago.Unwrap(ctx)
	if !store.PlainText(r.URL.Path) {
		return http.StatusNotFound, "no such object: the path holds a NUL character or invalid UTF-8", ""
	}
	op := ctx.Operation()
	if r.Method != http.MethodPut {
		// An ID longer than any the operation's objects can have names
		// none: 404, as for any unknown object (the schema's bound made it
		// a 422 naming path.id). A PUT may create what it names: its
		// schema check stands.
		for _, p := range op.Parameters {
			if p.In == "path" && p.Schema != nil && p.Schema.MaxLength != nil && utf8.RuneCountInString(ctx.Param(p.Name)) > *p.Schema.MaxLength {
				return http.StatusNotFound, fmt.Sprintf("no such object: the %s in the path is longer than any (at most %d characters)", p.Name, *p.Schema.MaxLength), ""
			}
		}
	}
	q := r.URL.Query()
	var takes []string
	for _, p := range op.Parameters {
		if p.In == "query" {
			takes = append(takes, p.Name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(takes, name) {
			// A misspelt filter (?statu=revoked) answered the unfiltered
			// list, as if it had matched.
			what := "this operation takes no query parameter"
			if len(takes) > 0 {
				what = "this operation takes " + strings.Join(takes, ", ")
			}
			return http.StatusUnprocessableEntity, fmt.Sprintf("unknown query parameter %q: %s", name, what), "query." + name
		}
	}
	for _, p := range op.Parameters {
		if p.In != "query" {
			continue
		}
		if n := len(q[p.Name]); n > 1 && (p.Schema == nil || p.Schema.Type != "array") {
			// huma reads the first and drops the rest: ?limit=1&limit=5
			// answered one item, ?status=all&status=pending all.
			return http.StatusUnprocessableEntity, fmt.Sprintf("query parameter %s is given %d times: give it once", p.Name, n), "query." + p.Name
		}
		for _, v := range q[p.Name] {
			if !store.PlainText(v) {
				return http.StatusUnprocessableEntity, "query parameter " + p.Name + ": a NUL character or invalid UTF-8", "query." + p.Name
			}
		}
	}
	if op.RequestBody == nil || r.Body == nil || op.MaxBodyBytes <= 0 {
		return 0, "", ""
	}
	// Read as huma would (its limit; over it the connection closes after
	// the answer), then handed to huma from memory.
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, op.MaxBodyBytes))
	if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is too large limit=%d bytes", op.MaxBodyBytes), ""
	}
	if err != nil {
		return http.StatusBadRequest, "cannot read the request body", ""
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	if !utf8.Valid(b) {
		// encoding/json would replace the bytes with U+FFFD and store
		// that; JSON text is UTF-8 (RFC 8259 §8.1).
		return http.StatusBadRequest, "the request body is not valid JSON: it is not UTF-8 text (RFC 8259 §8.1)", "body"
	}
	if hasNULEscape(b) {
		return http.StatusUnprocessableEntity, `body: a string holds a NUL character (\u0000)`, "body"
	}
	return 0, "", ""
}

// hasNULEscape reports whether the JSON text b holds the escape \u0000
// (a backslash that is not itself escaped, then u0000).
func hasNULEscape(b []byte) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("u0000"))
		if j < 0 {
			return false
		}
		u := i + j
		n := 0
		for k := u - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 1 {
			return true
		}
		i = u + 1
	}
}

// principal returns the caller authenticated by the middleware.
func principal(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(principalKey{}).(*auth.Principal)
	return p
}

// Register adds an operation requiring permission perm: the handler runs
// only for callers whose role holds it, and receives the caller. The
// operation's documentation gets its security requirement, the roles that
// may call it, and the 401/403 responses.
func Register[I, O any](a *API, perm auth.Permission, op huma.Operation, h func(ctx context.Context, p *auth.Principal, in *I) (*O, error)) {
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[permissionKey] = perm
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions["x-permission"] = string(perm)
	op.Security = []map[string][]string{{"bearer": {}}}
	var roles []string
	for _, r := range auth.Roles() {
		if auth.Allowed(r, perm) {
			roles = append(roles, string(r))
		}
	}
	op.Extensions["x-roles"] = roles
	op.Description = strings.TrimSpace(op.Description + "\n\nRequires permission `" + string(perm) + "` (roles: " + strings.Join(roles, ", ") + ").")
	// 422: a query parameter the operation does not take (checkText),
	// besides its own validation.
	op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden, http.StatusUnprocessableEntity)
	if _, body := reflect.TypeFor[I]().FieldByName("Body"); body {
		// huma's answers to a body it cannot read: not JSON (400), over
		// its 1 MiB limit (413), another content type (415).
		op.Errors = append(op.Errors, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	huma.Register(a.huma, op, func(ctx context.Context, in *I) (*O, error) {
		return h(ctx, principal(ctx), in)
	})
}

// storeError turns a storage error into a problem: not found → 404, a
// state conflict → 409, anything else → 500 (logged, never shown).
func (a *API) storeError(ctx context.Context, what string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return huma.Error404NotFound(what + " not found")
	case errors.Is(err, store.ErrStale), errors.Is(err, store.ErrConflict):
		return huma.Error409Conflict(what + " is not in a state that allows this")
	}
	a.d.Log.ErrorContext(ctx, "admin API", "what", what, "err", err)
	return huma.Error500InternalServerError("internal error")
}

var _ Revoker = (*ra.RA)(nil)
