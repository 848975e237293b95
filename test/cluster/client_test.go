package cluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"
)

// The ACME client of these tests is written out rather than taken from
// golang.org/x/crypto/acme so that it can record, per request, which node
// issued the nonce it uses and which node serves it, and so that its
// recovery is exactly what RFC 8555 asks of a client: a connection error
// is retried (a fresh nonce each time); badNonce is retried with the
// nonce of the rejection (§6.5); a finalize whose answer was lost is
// followed by fetching the order (§7.4) and downloading its certificate
// when it is valid; an order that became invalid because issuance was
// interrupted is replaced by a new order.

const (
	problemBadNonce       = "urn:ietf:params:acme:error:badNonce"
	problemOrderNotReady  = "urn:ietf:params:acme:error:orderNotReady"
	problemServerInternal = "urn:ietf:params:acme:error:serverInternal"
	interruptedDetail     = "issuance was interrupted"
)

// problem is an RFC 8555 §6.7 problem document returned by the server.
type problem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
	Status int    `json:"status"`
}

func (p *problem) Error() string { return fmt.Sprintf("%s (HTTP %d): %s", p.Type, p.Status, p.Detail) }

// stats are the counters of a run, shared by its clients.
type stats struct {
	mu            sync.Mutex
	answered      int   // requests the server answered
	perNode       []int // answered requests per node
	posts         int   // signed POSTs answered (each used one nonce)
	crossNonce    int   // ... whose nonce another node issued
	switched      int   // answered requests served by another node than the client's previous one
	followups     int   // answered requests that had a previous one on the same client
	connErrors    int   // requests retried after a connection error
	badNonces     int   // requests retried after badNonce
	lostFinalize  int   // finalize requests without an answer, followed by fetching the order
	reorders      int   // new orders after "issuance was interrupted"
	reuseFinalize int   // finalize re-sent because the order was still ready after a lost answer
}

func (s *stats) answer(c *client, node int, nonceNode int, signed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answered++
	s.perNode[node]++
	if signed {
		s.posts++
		if nonceNode != node {
			s.crossNonce++
		}
	}
	if c.lastNode >= 0 {
		s.followups++
		if c.lastNode != node {
			s.switched++
		}
	}
	c.lastNode = node
}

func (s *stats) add(f func(s *stats)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

type nonceRec struct {
	value string
	node  int
}

type directory struct {
	NewNonce   string `json:"newNonce"`
	NewAccount string `json:"newAccount"`
	NewOrder   string `json:"newOrder"`
	RevokeCert string `json:"revokeCert"`
}

type order struct {
	Status         string   `json:"status"`
	Authorizations []string `json:"authorizations"`
	Finalize       string   `json:"finalize"`
	Certificate    string   `json:"certificate"`
	Error          *problem `json:"error"`
}

type challenge struct {
	Type   string   `json:"type"`
	URL    string   `json:"url"`
	Token  string   `json:"token"`
	Status string   `json:"status"`
	Error  *problem `json:"error"`
}

type authorization struct {
	Status     string      `json:"status"`
	Challenges []challenge `json:"challenges"`
}

// client is one ACME account used by one worker (not safe for concurrent use).
type client struct {
	hc       *http.Client
	dirURL   string
	dir      directory
	key      *ecdsa.PrivateKey
	jwk      map[string]string
	thumb    string
	kid      string
	nonces   []nonceRec
	lastNode int
	stats    *stats
	resp     *responder
	roots    *x509.CertPool
	// onConnect, when set, is called once a request has its connection
	// (before the request is written) with the node and the request URL.
	onConnect func(node int, url string)
}

// response is one answered request.
type response struct {
	status int
	header http.Header
	body   []byte
	node   int
}

func newClient(proxyAddr, dirURL string, roots *x509.CertPool, st *stats, resp *responder) (*client, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding
	x, y := make([]byte, 32), make([]byte, 32)
	key.X.FillBytes(x)
	key.Y.FillBytes(y)
	jwk := map[string]string{"crv": "P-256", "kty": "EC", "x": b64.EncodeToString(x), "y": b64.EncodeToString(y)}
	canon := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":%q,"y":%q}`, jwk["x"], jwk["y"])
	sum := sha256.Sum256([]byte(canon))
	tr := &http.Transport{
		DialContext:         dialVia(proxyAddr),
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		DisableKeepAlives:   true, // every request is a new connection: round-robin across nodes
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &client{hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, dirURL: dirURL, key: key, jwk: jwk,
		thumb: b64.EncodeToString(sum[:]), lastNode: -1, stats: st, resp: resp, roots: roots}, nil
}

// errNotSent marks a request that never got a connection, so the server
// did not see it (its nonce is still unused).
var errNotSent = errors.New("no connection")

// send makes one request; an error means no answer (connection error).
func (c *client) send(ctx context.Context, method, url string, body []byte) (*response, error) {
	node := -1
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		conn := info.Conn
		if tc, ok := conn.(*tls.Conn); ok {
			conn = tc.NetConn()
		}
		if nc, ok := conn.(*nodeConn); ok {
			node = nc.node
			if c.onConnect != nil {
				c.onConnect(node, url)
			}
		}
	}}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/jose+json")
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if node < 0 {
			return nil, fmt.Errorf("%w: %w", errNotSent, err)
		}
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if node < 0 {
		return nil, errors.New("test harness: no node recorded for the connection")
	}
	return &response{status: res.StatusCode, header: res.Header, body: b, node: node}, nil
}

// backoff sleeps before retry attempt n (from 0), or returns ctx's error.
func backoff(ctx context.Context, n int) error {
	d := 20 * time.Millisecond << min(n, 5)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// get makes an unsigned request, retrying connection errors.
func (c *client) get(ctx context.Context, method, url string) (*response, error) {
	for attempt := 0; ; attempt++ {
		r, err := c.send(ctx, method, url, nil)
		if err == nil {
			c.stats.answer(c, r.node, -1, false)
			if n := r.header.Get("Replay-Nonce"); n != "" {
				c.nonces = append(c.nonces, nonceRec{n, r.node})
			}
			return r, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w (last: %v)", method, url, ctx.Err(), err)
		}
		c.stats.add(func(s *stats) { s.connErrors++ })
		if err := backoff(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// nonce returns the newest stashed nonce, or a fresh one from newNonce.
func (c *client) nonce(ctx context.Context) (nonceRec, error) {
	if len(c.nonces) == 0 {
		r, err := c.get(ctx, http.MethodHead, c.dir.NewNonce)
		if err != nil {
			return nonceRec{}, err
		}
		if len(c.nonces) == 0 {
			return nonceRec{}, fmt.Errorf("newNonce: HTTP %d without Replay-Nonce", r.status)
		}
	}
	n := c.nonces[len(c.nonces)-1]
	c.nonces = c.nonces[:len(c.nonces)-1]
	return n, nil
}

// errNoAnswer marks a signed request that got no answer (when the caller
// asked not to retry connection errors).
var errNoAnswer = errors.New("no answer")

// post sends a JWS-signed POST (payload nil: POST-as-GET). Connection errors
// are retried unless noConnRetry, badNonce always (RFC 8555 §6.5); other
// problems are returned as *problem.
func (c *client) post(ctx context.Context, url string, payload any, noConnRetry bool) (*response, error) {
	var body []byte
	if payload != nil {
		var err error
		if body, err = json.Marshal(payload); err != nil {
			return nil, err
		}
	}
	badNonces := 0
	for attempt := 0; ; attempt++ {
		n, err := c.nonce(ctx)
		if err != nil {
			return nil, err
		}
		jws, err := c.sign(url, n.value, body)
		if err != nil {
			return nil, err
		}
		r, err := c.send(ctx, http.MethodPost, url, jws)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("POST %s: %w (last: %v)", url, ctx.Err(), err)
			}
			c.stats.add(func(s *stats) { s.connErrors++ })
			if errors.Is(err, errNotSent) {
				// The request never left: keep its nonce for the next one
				// (after a restart the server may answer it with badNonce).
				c.nonces = append(c.nonces, n)
				if err := backoff(ctx, attempt); err != nil {
					return nil, err
				}
				continue
			}
			if noConnRetry {
				return nil, fmt.Errorf("POST %s: %w: %v", url, errNoAnswer, err)
			}
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
			continue
		}
		c.stats.answer(c, r.node, n.node, true)
		if rn := r.header.Get("Replay-Nonce"); rn != "" {
			c.nonces = append(c.nonces, nonceRec{rn, r.node})
		}
		if r.status < 300 {
			return r, nil
		}
		p := &problem{}
		if err := json.Unmarshal(r.body, p); err != nil || p.Type == "" {
			p = &problem{Type: "HTTP", Detail: string(r.body)}
		}
		p.Status = r.status
		if p.Type == problemBadNonce && badNonces < 20 {
			badNonces++
			c.stats.add(func(s *stats) { s.badNonces++ })
			continue
		}
		return r, fmt.Errorf("POST %s: %w", url, p)
	}
}

// sign returns the flattened JWS (RFC 8555 §6.2): ES256, with the JWK
// before the account exists and the account URL (kid) afterwards.
func (c *client) sign(url, nonce string, payload []byte) ([]byte, error) {
	h := map[string]any{"alg": "ES256", "nonce": nonce, "url": url}
	if c.kid == "" {
		h["jwk"] = c.jwk
	} else {
		h["kid"] = c.kid
	}
	prot, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding
	input := b64.EncodeToString(prot) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	rr, ss, err := ecdsa.Sign(rand.Reader, c.key, digest[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return json.Marshal(map[string]string{"protected": b64.EncodeToString(prot),
		"payload": b64.EncodeToString(payload), "signature": b64.EncodeToString(sig)})
}

// register fetches the directory and creates the client's account.
func (c *client) register(ctx context.Context) error {
	r, err := c.get(ctx, http.MethodGet, c.dirURL)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(r.body, &c.dir); err != nil || c.dir.NewOrder == "" {
		return fmt.Errorf("directory: HTTP %d %s", r.status, r.body)
	}
	r, err = c.post(ctx, c.dir.NewAccount, map[string]any{"termsOfServiceAgreed": true}, false)
	if err != nil {
		return fmt.Errorf("newAccount: %w", err)
	}
	c.kid = r.header.Get("Location")
	if c.kid == "" {
		return errors.New("newAccount: no Location")
	}
	return nil
}

// issued is a certificate a client received.
type issued struct {
	name   string
	serial string // lower-case hex, as the server stores it
	der    []byte
}

var errInterrupted = errors.New("issuance was interrupted")

// issue runs one complete flow for name and returns the certificate.
// Orders made invalid by interrupted issuance are replaced by new ones.
func (c *client) issue(ctx context.Context, name string) (*issued, error) {
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, certKey)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		got, err := c.issueOnce(ctx, name, csr)
		if errors.Is(err, errInterrupted) && attempt < 3 {
			c.stats.add(func(s *stats) { s.reorders++ })
			continue
		}
		if err != nil {
			return nil, err
		}
		leaf, err := x509.ParseCertificate(got.der)
		if err != nil {
			return nil, err
		}
		if !leaf.PublicKey.(*ecdsa.PublicKey).Equal(certKey.Public()) {
			return nil, errors.New("certificate key is not the CSR's")
		}
		return got, nil
	}
}

func (c *client) issueOnce(ctx context.Context, name string, csr []byte) (*issued, error) {
	r, err := c.post(ctx, c.dir.NewOrder, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": name}}}, false)
	if err != nil {
		return nil, fmt.Errorf("newOrder: %w", err)
	}
	orderURL := r.header.Get("Location")
	var o order
	if err := json.Unmarshal(r.body, &o); err != nil || orderURL == "" {
		return nil, fmt.Errorf("newOrder: HTTP %d, Location %q: %s", r.status, orderURL, r.body)
	}
	for _, az := range o.Authorizations {
		if err := c.authorize(ctx, az); err != nil {
			return nil, err
		}
	}
	certURL, err := c.finalize(ctx, orderURL, o.Finalize, csr)
	if err != nil {
		return nil, err
	}
	r, err = c.post(ctx, certURL, nil, false)
	if err != nil {
		return nil, fmt.Errorf("certificate download: %w", err)
	}
	return c.checkChain(name, r.body)
}

// authorize answers the http-01 challenge of a pending authorization and
// polls it until it is valid.
func (c *client) authorize(ctx context.Context, url string) error {
	var az authorization
	fetch := func() error {
		r, err := c.post(ctx, url, nil, false)
		if err != nil {
			return fmt.Errorf("authorization: %w", err)
		}
		az = authorization{}
		return json.Unmarshal(r.body, &az)
	}
	if err := fetch(); err != nil {
		return err
	}
	if az.Status == "valid" {
		return nil // reused
	}
	var ch *challenge
	for i := range az.Challenges {
		if az.Challenges[i].Type == "http-01" {
			ch = &az.Challenges[i]
		}
	}
	if ch == nil {
		return fmt.Errorf("authorization %s has no http-01 challenge", url)
	}
	c.resp.set(ch.Token, ch.Token+"."+c.thumb)
	defer c.resp.remove(ch.Token)
	if _, err := c.post(ctx, ch.URL, map[string]any{}, false); err != nil {
		return fmt.Errorf("challenge: %w", err)
	}
	for poll := 0; ; poll++ {
		if err := fetch(); err != nil {
			return err
		}
		switch az.Status {
		case "valid":
			return nil
		case "pending":
		default:
			b, _ := json.Marshal(az)
			return fmt.Errorf("authorization %s is %s: %s", url, az.Status, b)
		}
		if err := backoff(ctx, poll); err != nil {
			return fmt.Errorf("authorization %s still %s: %w", url, az.Status, err)
		}
	}
}

// finalize sends the CSR and returns the certificate URL once the order is
// valid. When the finalize request gets no answer, the order is fetched:
// ready means the request never arrived (finalize again), processing is
// polled, valid gives the certificate (RFC 8555 §7.4).
func (c *client) finalize(ctx context.Context, orderURL, finalizeURL string, csr []byte) (string, error) {
	payload := map[string]string{"csr": base64.RawURLEncoding.EncodeToString(csr)}
	var o order
	sendFinalize := func() (answered bool, err error) {
		r, err := c.post(ctx, finalizeURL, payload, true)
		switch {
		case errors.Is(err, errNoAnswer):
			c.stats.add(func(s *stats) { s.lostFinalize++ })
			return false, nil
		case err != nil:
			var p *problem
			if errors.As(err, &p) && p.Type == problemOrderNotReady {
				// e.g. "already being finalized": a lost earlier attempt
				// arrived after all; the order tells how it went.
				return false, nil
			}
			return false, fmt.Errorf("finalize: %w", err)
		}
		o = order{}
		return true, json.Unmarshal(r.body, &o)
	}
	answered, err := sendFinalize()
	if err != nil {
		return "", err
	}
	for poll := 0; ; poll++ {
		if answered {
			switch o.Status {
			case "valid":
				if o.Certificate == "" {
					return "", fmt.Errorf("order %s is valid without a certificate URL", orderURL)
				}
				return o.Certificate, nil
			case "invalid":
				if o.Error != nil && strings.Contains(o.Error.Detail, interruptedDetail) {
					if o.Error.Type != problemServerInternal {
						return "", fmt.Errorf("order %s: interrupted issuance has problem type %q, want %s", orderURL, o.Error.Type, problemServerInternal)
					}
					return "", fmt.Errorf("order %s: %w", orderURL, errInterrupted)
				}
				b, _ := json.Marshal(o.Error)
				return "", fmt.Errorf("order %s is invalid: %s", orderURL, b)
			case "ready":
				// The finalize never took effect: send it again.
				c.stats.add(func(s *stats) { s.reuseFinalize++ })
				if answered, err = sendFinalize(); err != nil {
					return "", err
				}
				continue
			case "processing":
			default:
				return "", fmt.Errorf("order %s is %s after finalize", orderURL, o.Status)
			}
			if err := backoff(ctx, poll); err != nil {
				return "", fmt.Errorf("order %s still %s: %w", orderURL, o.Status, err)
			}
		}
		r, err := c.post(ctx, orderURL, nil, false)
		if err != nil {
			return "", fmt.Errorf("order: %w", err)
		}
		o = order{}
		if err := json.Unmarshal(r.body, &o); err != nil {
			return "", fmt.Errorf("order: %w", err)
		}
		answered = true
	}
}

// checkChain parses the PEM chain, verifies the leaf for name against the
// CA's root, and returns it.
func (c *client) checkChain(name string, pemChain []byte) (*issued, error) {
	var certs []*x509.Certificate
	for rest := pemChain; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate chain: %w", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("certificate download: no certificate in %q", pemChain)
	}
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	leaf := certs[0]
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: c.roots, Intermediates: inter}); err != nil {
		return nil, fmt.Errorf("certificate for %s: %w", name, err)
	}
	return &issued{name: name, serial: leaf.SerialNumber.Text(16), der: leaf.Raw}, nil
}
