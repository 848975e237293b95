package mpic

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certgate/certgate/internal/acme"
)

// Authentication: HMAC-SHA256 (RFC 2104) under a secret shared by the
// primary and its perspectives (protocol "certgate-mpic-v2"). A request
// carries the name of the perspective it is addressed to, its time (Unix
// seconds), a random nonce (the primary's request ID) and the MAC of
//
//	"certgate-mpic-v2 request\n" + perspective + "\n" + time + "\n" + nonce + "\n" + path + "\n" + body
//
// in the headers below; a perspective refuses a request addressed to
// another name (HTTP 421), more than MaxClockSkew away from its clock or
// whose nonce it has seen (HTTP 401). The answer carries its perspective's
// name and the MAC of
//
//	"certgate-mpic-v2 response\n" + perspective + "\n" + nonce + "\n" + body
//
// and its body names the perspective again (Result.Perspective); the
// primary takes an answer only when both name the perspective it asked
// and the MAC verifies for that name and its own nonce. All perspectives
// share one secret, so the name is what keeps an on-path attacker from
// sending perspective B's request to A and having A counted twice; the
// nonce keeps an answer from being replayed. The HTTPS layer then only
// hides traffic; its certificate is not what authenticates the
// perspective.
const (
	HeaderName  = "Certgate-Perspective-Name"
	HeaderTime  = "Certgate-Perspective-Time"
	HeaderNonce = "Certgate-Perspective-Nonce"
	HeaderMAC   = "Certgate-Perspective-Mac"
	// CheckPath is where a perspective accepts requests (POST, JSON).
	CheckPath = "/va/v1/check"
	// PingPath answers an authenticated ping (POST, empty body) with
	// {"perspective": NAME}: the primary's start-up check of its
	// configuration (Remote.Ping).
	PingPath = "/va/v1/ping"
	// MaxClockSkew is how far a request's time may be from the
	// perspective's clock.
	MaxClockSkew = time.Minute
	// MinSecretBytes is the shortest shared secret accepted.
	MinSecretBytes = 32

	protoRequest  = "certgate-mpic-v2 request"
	protoResponse = "certgate-mpic-v2 response"
)

// requestMAC is the MAC of a request addressed to perspective.
func requestMAC(secret []byte, perspective, ts, nonce, path string, body []byte) string {
	return mac(secret, protoRequest, perspective, ts, nonce, path, string(body))
}

// responseMAC is the MAC of perspective's answer to the request nonce.
func responseMAC(secret []byte, perspective, nonce string, body []byte) string {
	return mac(secret, protoResponse, perspective, nonce, string(body))
}

// ReadSecret reads a shared secret from path: the file's content without
// surrounding white space, at least MinSecretBytes long (e.g. `openssl
// rand -hex 32`). Errors name the setting, perspective-secret-file.
func ReadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("perspective-secret-file: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) < MinSecretBytes {
		return nil, fmt.Errorf("perspective-secret-file %s: %d bytes; at least %d are needed (e.g. openssl rand -hex 32 > %s)", path, len(b), MinSecretBytes, path)
	}
	return b, nil
}

func mac(secret []byte, parts ...string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(strings.Join(parts, "\n")))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func macEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// Remote checks from a remote perspective over HTTPS.
type Remote struct {
	name   string
	url    string // https://host:port
	secret []byte
	hc     *http.Client
	now    func() time.Time
}

// ParseRemotes reads "name=https://host:port,..." into names and base URLs.
func ParseRemotes(s string) (names, urls []string, err error) {
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, raw, ok := strings.Cut(item, "=")
		u, perr := url.Parse(raw)
		if !ok || !validName(name) || perr != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, nil, fmt.Errorf("%q is not NAME=https://HOST:PORT (name: letters, digits, - and _)", item)
		}
		if seen[name] || name == PrimaryName {
			return nil, nil, fmt.Errorf("perspective name %q is used twice or reserved", name)
		}
		seen[name] = true
		names, urls = append(names, name), append(urls, "https://"+u.Host)
	}
	return names, urls, nil
}

func validName(n string) bool {
	if n == "" || len(n) > 63 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidName reports whether n may name a perspective.
func ValidName(n string) bool { return validName(n) && n != PrimaryName }

// NewRemote returns the checker for the perspective name at baseURL
// (https://host:port). timeout bounds one request. now may be nil.
func NewRemote(name, baseURL string, secret []byte, timeout time.Duration, now func() time.Time) *Remote {
	if now == nil {
		now = time.Now
	}
	tr := &http.Transport{
		// The perspective's certificate is self-signed and not what
		// authenticates it: the HMAC of every answer does.
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // authenticated by HMAC
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 16,
	}
	return &Remote{name: name, url: strings.TrimSuffix(baseURL, "/"), secret: secret,
		hc: &http.Client{Transport: tr, Timeout: timeout}, now: now}
}

// Name implements Checker.
func (r *Remote) Name() string { return r.name }

// Check implements Checker. Transport failures, non-200 answers and
// answers without a valid MAC are StatusUnreachable with a connection
// problem whose detail names only the kind of failure, e.g. "no answer
// from perspective eu1 (timeout)": it reaches the ACME client (RFC 8555
// §6.7, a problem never carries internals), and the perspective's
// address, socket errors and the state of the shared secret are the
// CA's own. The full reason is in Result.Cause.
func (r *Remote) Check(ctx context.Context, req Request) Result {
	res, err := r.check(ctx, req)
	if err != nil {
		idc := req.Identifier
		p := acme.NewProblem(acme.Connection, "no answer from perspective %s (%s)", r.name, unreachableKind(err))
		p.Identifier = &idc
		return Result{Perspective: r.name, Status: StatusUnreachable, Problem: p, Cause: err.Error()}
	}
	return res
}

// Kinds of answers a Remote does not take (answerError).
const (
	kindRefused         = "request refused"          // a status other than 200
	kindUnauthenticated = "answer not authenticated" // wrong name or MAC
	kindMalformed       = "malformed answer"         // undecodable, bad status or problem
)

// answerError is an answer that arrived but is not taken; kind is one of
// the kinds above, err the full reason.
type answerError struct {
	kind string
	err  error
}

func (e *answerError) Error() string { return e.err.Error() }
func (e *answerError) Unwrap() error { return e.err }

// unreachableKind names, in client-safe words, why err left no answer:
// the kind of an answerError, else "timeout", "cancelled" or
// "connection failed".
func unreachableKind(err error) string {
	var ae *answerError
	var ne net.Error
	switch {
	case errors.As(err, &ae):
		return ae.kind
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "connection failed"
	}
}

func (r *Remote) check(ctx context.Context, req Request) (Result, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, err
	}
	rb, err := r.exchange(ctx, CheckPath, body)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if err := json.Unmarshal(rb, &res); err != nil {
		return Result{}, &answerError{kindMalformed, fmt.Errorf("undecodable answer: %w", err)}
	}
	if res.Perspective != r.name {
		return Result{}, &answerError{kindUnauthenticated, fmt.Errorf("the answer comes from perspective %q, not %q", res.Perspective, r.name)}
	}
	if res.Status != StatusValid && res.Status != StatusInvalid {
		return Result{}, &answerError{kindMalformed, fmt.Errorf("answer with status %q", res.Status)}
	}
	if res.Status == StatusInvalid && res.Problem == nil {
		return Result{}, &answerError{kindMalformed, errors.New("invalid answer without a problem")}
	}
	return res, nil
}

// Ping makes one authenticated exchange with the perspective (PingPath)
// and returns nil when it answers under its configured name with a MAC
// that verifies; else an error saying what is wrong (unreachable URL,
// wrong name, wrong secret, clock skew).
func (r *Remote) Ping(ctx context.Context) error {
	rb, err := r.exchange(ctx, PingPath, nil)
	if err != nil {
		return err
	}
	var ans struct {
		Perspective string `json:"perspective"`
	}
	if err := json.Unmarshal(rb, &ans); err != nil {
		return fmt.Errorf("undecodable answer: %w", err)
	}
	if ans.Perspective != r.name {
		return fmt.Errorf("the answer comes from perspective %q, not %q", ans.Perspective, r.name)
	}
	return nil
}

// BaseURL is the perspective's configured https://host:port.
func (r *Remote) BaseURL() string { return r.url }

// exchange POSTs body to path, addressed to r.name, and returns the
// answer's body once its MAC verifies for r.name and this request's nonce.
func (r *Remote) exchange(ctx context.Context, path string, body []byte) ([]byte, error) {
	nb := make([]byte, 16)
	if _, err := rand.Read(nb); err != nil {
		return nil, err
	}
	nonce := base64.RawURLEncoding.EncodeToString(nb)
	ts := strconv.FormatInt(r.now().Unix(), 10)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(HeaderName, r.name)
	hreq.Header.Set(HeaderTime, ts)
	hreq.Header.Set(HeaderNonce, nonce)
	hreq.Header.Set(HeaderMAC, requestMAC(r.secret, r.name, ts, nonce, path, body))
	resp, err := r.hc.Do(hreq)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &answerError{kindRefused, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(rb[:min(len(rb), 200)])))}
	}
	if got := resp.Header.Get(HeaderName); got != r.name {
		return nil, &answerError{kindUnauthenticated, fmt.Errorf("the answer comes from perspective %q, not %q", got, r.name)}
	}
	if !macEqual(resp.Header.Get(HeaderMAC), responseMAC(r.secret, r.name, nonce, rb)) {
		return nil, &answerError{kindUnauthenticated, errors.New("the answer's MAC does not verify (wrong shared secret?)")}
	}
	return rb, nil
}

// Handler serves a remote perspective named local.Name(): POST CheckPath
// runs one Check with local and answers the Result; POST PingPath answers
// {"perspective": NAME}; GET /healthz answers "ok" (unauthenticated).
// Both POSTs must be addressed to this perspective's name and
// authenticated (see HeaderMAC).
type Handler struct {
	local  Checker
	secret []byte
	now    func() time.Time
	log    *slog.Logger

	mu     sync.Mutex
	nonces map[string]time.Time // seen nonce → when it may be forgotten
}

// NewHandler returns the handler of a perspective that checks with local.
// now may be nil.
func NewHandler(local Checker, secret []byte, now func() time.Time, log *slog.Logger) *Handler {
	if now == nil {
		now = time.Now
	}
	return &Handler{local: local, secret: secret, now: now, log: log, nonces: map[string]time.Time{}}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/healthz" && r.Method == http.MethodGet:
		io.WriteString(w, "ok\n")
		return
	case r.URL.Path != CheckPath && r.URL.Path != PingPath:
		http.NotFound(w, r)
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	name := h.local.Name()
	if to := r.Header.Get(HeaderName); to != name {
		// Another perspective's request, sent here by mistake or by an
		// attacker who wants this perspective counted twice.
		h.log.Warn("perspective: refused request addressed to another perspective", "remote", r.RemoteAddr, "addressed_to", to, "perspective", name)
		http.Error(w, fmt.Sprintf("this is perspective %q, not %q", name, to), http.StatusMisdirectedRequest)
		return
	}
	ts, nonce := r.Header.Get(HeaderTime), r.Header.Get(HeaderNonce)
	if err := h.authenticate(ts, nonce, r.Header.Get(HeaderMAC), r.URL.Path, body); err != nil {
		h.log.Warn("perspective: refused request", "remote", r.RemoteAddr, "reason", err.Error())
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var out []byte
	if r.URL.Path == PingPath {
		out, err = json.Marshal(map[string]string{"perspective": name})
	} else {
		var req Request
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "malformed request", http.StatusBadRequest)
			return
		}
		res := h.local.Check(r.Context(), req)
		res.Perspective = name
		h.log.Info("perspective check", "identifier", req.Identifier.Value, "type", req.Type, "status", res.Status,
			"problem", problemType(res.Problem))
		out, err = json.Marshal(res)
	}
	if err != nil {
		http.Error(w, "encode", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderName, name)
	w.Header().Set(HeaderMAC, responseMAC(h.secret, name, nonce, out))
	w.Write(out)
}

func problemType(p *acme.Problem) string {
	if p == nil {
		return ""
	}
	return string(p.Type)
}

// authenticate checks a request's MAC, time and nonce, remembering the
// nonce until the request's time is out of the window.
func (h *Handler) authenticate(ts, nonce, got, path string, body []byte) error {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || nonce == "" || len(nonce) > 64 {
		return errors.New("missing or malformed authentication headers")
	}
	if !macEqual(got, requestMAC(h.secret, h.local.Name(), ts, nonce, path, body)) {
		return errors.New("the request's MAC does not verify")
	}
	now := h.now()
	at := time.Unix(sec, 0)
	if d := now.Sub(at); d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("the request's time is %s away from this perspective's clock (at most %s)", d.Round(time.Second), MaxClockSkew)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for n, until := range h.nonces {
		if now.After(until) {
			delete(h.nonces, n)
		}
	}
	if _, seen := h.nonces[nonce]; seen {
		return errors.New("replayed request")
	}
	h.nonces[nonce] = at.Add(MaxClockSkew + time.Second)
	return nil
}
