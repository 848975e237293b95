package loadgen

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"golang.org/x/crypto/acme"
)

// The finalize request is signed here rather than by acme.Client: its
// CreateOrderCert polls an order that is still processing with a fixed 1 s
// pause when the server sends no Retry-After, which would hide every
// server difference below a second. The request is a plain RFC 8555 §7.4
// finalize: JWS (ES256, kid) over {"csr": base64url(DER)}.

// nonceStash holds the Replay-Nonce values of the requests loadgen signs
// itself, so that finalize needs a HEAD newNonce only on an account's
// first finalize (or when concurrent finalizes drain the stash).
type nonceStash struct {
	mu     sync.Mutex
	nonces []string
}

// maxStash bounds a stash; older nonces are dropped first.
const maxStash = 16

func (s *nonceStash) push(n string) {
	if n == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.nonces) == maxStash {
		s.nonces = s.nonces[1:]
	}
	s.nonces = append(s.nonces, n)
}

func (s *nonceStash) pop() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.nonces) == 0 {
		return ""
	}
	n := s.nonces[len(s.nonces)-1]
	s.nonces = s.nonces[:len(s.nonces)-1]
	return n
}

// wireOrder is the part of an RFC 8555 §7.1.3 order that finalize reads.
type wireOrder struct {
	Status      string       `json:"status"`
	Certificate string       `json:"certificate"`
	Error       *wireProblem `json:"error"`
}

// wireProblem is an RFC 8555 §6.7 problem document.
type wireProblem struct {
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

func (p *wireProblem) acmeError(status int) *acme.Error {
	return &acme.Error{StatusCode: status, ProblemType: p.Type, Detail: p.Detail}
}

// finalize sends the finalize request of order with csr (DER) and polls the
// order until it is valid; it returns the certificate URL.
func (r *run) finalize(ctx context.Context, acct *account, order *acme.Order, csr []byte) (string, error) {
	payload, err := json.Marshal(map[string]string{"csr": base64.RawURLEncoding.EncodeToString(csr)})
	if err != nil {
		return "", err
	}
	res, err := r.postSigned(ctx, acct, order.FinalizeURL, payload)
	if err != nil {
		return "", err
	}
	var o wireOrder
	err = json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&o)
	res.Body.Close()
	if err != nil {
		return "", fmt.Errorf("finalize response: %w", err)
	}
	if o.Status == acme.StatusValid && o.Certificate != "" {
		return o.Certificate, nil
	}
	if o.Status == acme.StatusInvalid {
		return "", orderError(order.URI, o.Status, o.Error)
	}
	// processing (or an eventually consistent "ready"): poll the order.
	hint := &capture{retryAfter: res.Header.Get("Retry-After")}
	var certURL string
	err = r.poll(ctx, r.firstDelay(hint), func(ctx context.Context) (bool, error) {
		got, err := acct.client.GetOrder(ctx, order.URI)
		if err != nil {
			return false, err
		}
		switch {
		case got.Status == acme.StatusValid && got.CertURL != "":
			certURL = got.CertURL
			return true, nil
		case got.Status == acme.StatusInvalid:
			return false, &acme.OrderError{OrderURL: order.URI, Status: got.Status, Problem: got.Error}
		}
		return false, nil
	})
	return certURL, err
}

func orderError(url, status string, p *wireProblem) error {
	e := &acme.OrderError{OrderURL: url, Status: status}
	if p != nil {
		e.Problem = p.acmeError(0)
	}
	return e
}

// postSigned POSTs payload to url as a JWS signed with acct's key (kid
// form) and returns a 2xx response. A badNonce rejection is retried with
// the fresh nonce of the rejection, at most 3 times; any other problem is
// returned as *acme.Error.
func (r *run) postSigned(ctx context.Context, acct *account, url string, payload []byte) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		nonce := acct.nonces.pop()
		if nonce == "" {
			var err error
			if nonce, err = r.fetchNonce(ctx); err != nil {
				return nil, err
			}
		}
		body, err := signJWS(acct.key, string(acct.client.KID), nonce, url, payload)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/jose+json")
		req.Header.Set("User-Agent", r.cfg.UserAgent)
		res, err := r.http.Do(req)
		if err != nil {
			return nil, err
		}
		acct.nonces.push(res.Header.Get("Replay-Nonce"))
		if res.StatusCode < 300 {
			return res, nil
		}
		var p wireProblem
		_ = json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&p)
		res.Body.Close()
		if p.Type == "" {
			p.Type = fmt.Sprintf("HTTP %d", res.StatusCode)
		}
		if p.Type == "urn:ietf:params:acme:error:badNonce" && attempt < 3 {
			r.stats.retry()
			continue
		}
		return nil, p.acmeError(res.StatusCode)
	}
}

// fetchNonce asks the directory's newNonce for a fresh nonce (RFC 8555 §7.2).
func (r *run) fetchNonce(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, r.dir.NonceURL, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", r.cfg.UserAgent)
	res, err := r.http.Do(req)
	if err != nil {
		return "", err
	}
	res.Body.Close()
	n := res.Header.Get("Replay-Nonce")
	if n == "" {
		return "", fmt.Errorf("newNonce: HTTP %d without Replay-Nonce", res.StatusCode)
	}
	return n, nil
}

// signJWS returns the flattened JWS JSON serialization (RFC 7515 §7.2.2)
// of payload, signed ES256 by key with the protected header RFC 8555 §6.2
// asks for.
func signJWS(key *ecdsa.PrivateKey, kid, nonce, url string, payload []byte) ([]byte, error) {
	if kid == "" {
		return nil, errors.New("account has no key ID (URL)")
	}
	prot, err := json.Marshal(map[string]string{"alg": "ES256", "kid": kid, "nonce": nonce, "url": url})
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding
	signingInput := b64.EncodeToString(prot) + "." + b64.EncodeToString(payload)
	digest := sha256.Sum256([]byte(signingInput))
	rr, ss, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return json.Marshal(map[string]string{"protected": b64.EncodeToString(prot),
		"payload": b64.EncodeToString(payload), "signature": b64.EncodeToString(sig)})
}
