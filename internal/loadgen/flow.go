package loadgen

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
)

// Steps of a flow, in order, as named in summaries.
const (
	StepNewOrder        = "newOrder"
	StepAuthzFetch      = "authz fetch"
	StepChallengeAccept = "challenge accept"
	StepValidationWait  = "validation wait"
	StepFinalize        = "finalize" // finalize request plus polling the order until valid
	StepCertFetch       = "certificate fetch"
	StepOverall         = "overall"
)

// numSteps is the number of timed steps of a flow.
const numSteps = 6

// stepTimes holds one flow's duration per step, in StepNames order.
type stepTimes [numSteps]time.Duration

// StepNames returns the per-step names in flow order (without StepOverall).
func StepNames() []string {
	return []string{StepNewOrder, StepAuthzFetch, StepChallengeAccept, StepValidationWait, StepFinalize, StepCertFetch}
}

// flowError is a failed flow: the step it failed in and why.
type flowError struct {
	step string
	err  error
}

func (e *flowError) Error() string { return e.step + ": " + e.err.Error() }
func (e *flowError) Unwrap() error { return e.err }

// flow runs flow n and records its timings or its error.
func (r *run) flow(runCtx context.Context, n int) {
	ctx, cancel := context.WithTimeout(runCtx, r.cfg.FlowTimeout)
	defer cancel()
	ctx, sent := withFlowRequests(ctx)
	acct := r.accounts[n%len(r.accounts)]
	name := r.cfg.name(n)
	// The certificate key and CSR are made before the clock starts: they
	// are client work. Usually they were made before the run (prepare).
	var req certRequest
	if r.reqs != nil {
		req, r.reqs[n] = r.reqs[n], certRequest{}
	} else {
		var err error
		if req, err = newCertRequest(r.cfg.KeyType, name); err != nil {
			r.stats.fail(errorKey(err), err)
			return
		}
	}
	var times stepTimes
	start := time.Now()
	err := r.issue(ctx, acct, name, req, &times)
	total := time.Since(start)
	if err != nil {
		r.stats.fail(failKey(runCtx, err), err)
		return
	}
	r.stats.ok(&times, total, sent.Load())
}

// timed runs f and adds its duration to times[step].
func timed(times *stepTimes, step int, f func() error) error {
	t := time.Now()
	err := f()
	times[step] += time.Since(t)
	if err != nil {
		return &flowError{step: StepNames()[step], err: err}
	}
	return nil
}

// issue is the timed part of a flow.
func (r *run) issue(ctx context.Context, acct *account, name string, req certRequest, times *stepTimes) error {
	c := acct.client
	var order *acme.Order
	if err := timed(times, 0, func() (err error) {
		order, err = c.AuthorizeOrder(ctx, acme.DomainIDs(name))
		return err
	}); err != nil {
		return err
	}
	for _, u := range order.AuthzURLs {
		if err := r.authorize(ctx, c, u, times); err != nil {
			return err
		}
	}
	var certURL string
	if err := timed(times, 4, func() (err error) {
		certURL, err = r.finalize(ctx, acct, order, req.csr)
		return err
	}); err != nil {
		return err
	}
	return timed(times, 5, func() error {
		chain, err := c.FetchCert(ctx, certURL, true)
		if err != nil {
			return err
		}
		return r.chains.check(chain, name, req.spki)
	})
}

// authorize fetches one authorization and, unless it is already valid,
// answers its http-01 challenge and polls it until valid.
func (r *run) authorize(ctx context.Context, c *acme.Client, authzURL string, times *stepTimes) error {
	var z *acme.Authorization
	if err := timed(times, 1, func() (err error) {
		z, err = c.GetAuthorization(ctx, authzURL)
		return err
	}); err != nil {
		return err
	}
	if z.Status == acme.StatusValid {
		return nil // reused authorization
	}
	var chal *acme.Challenge
	for _, ch := range z.Challenges {
		if ch.Type == "http-01" {
			chal = ch
		}
	}
	if chal == nil {
		return &flowError{step: StepAuthzFetch, err: fmt.Errorf("authorization %s offers no http-01 challenge", authzURL)}
	}
	ka, err := c.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return &flowError{step: StepChallengeAccept, err: err}
	}
	r.resp.set(chal.Token, ka)
	defer r.resp.remove(chal.Token)

	var wait time.Duration
	var accepted *acme.Challenge
	if err := timed(times, 2, func() (err error) {
		rctx, hint := withCapture(ctx)
		accepted, err = c.Accept(rctx, chal)
		wait = r.firstDelay(hint)
		return err
	}); err != nil {
		return err
	}
	// Like lego, a challenge the server already reports valid in its answer
	// to the challenge POST needs no polling: with one challenge answered,
	// its authorization is valid too (RFC 8555 §7.1.6).
	if accepted != nil && accepted.Status == acme.StatusValid {
		return nil
	}
	return timed(times, 3, func() error {
		return r.poll(ctx, wait, func(ctx context.Context) (bool, error) {
			z, err := c.GetAuthorization(ctx, authzURL)
			if err != nil {
				return false, err
			}
			switch z.Status {
			case acme.StatusValid:
				return true, nil
			case acme.StatusPending, acme.StatusProcessing:
				return false, nil
			}
			return false, authzFailure(z)
		})
	})
}

// authzFailure is the error of an authorization that is neither valid nor
// pending: its challenges' problems, as acme.WaitAuthorization reports them.
func authzFailure(z *acme.Authorization) error {
	e := &acme.AuthorizationError{URI: z.URI, Identifier: z.Identifier.Value}
	for _, ch := range z.Challenges {
		if ch.Error != nil {
			e.Errors = append(e.Errors, ch.Error)
		}
	}
	if len(e.Errors) == 0 {
		e.Errors = append(e.Errors, fmt.Errorf("authorization is %s", z.Status))
	}
	return e
}

// certRequest is the CSR (DER) of one flow and the public key of the
// fresh certificate key that signed it, as DER SubjectPublicKeyInfo: a
// slice of the CSR, so that a prepared flow keeps ~0.3 kB (ec256) where
// the parsed key (big integers) doubled it.
type certRequest struct {
	csr  []byte
	spki []byte
}

// newCertRequest makes a fresh key of keyType and a CSR for name signed
// with it.
func newCertRequest(keyType, name string) (certRequest, error) {
	var key crypto.Signer
	var err error
	switch keyType {
	case KeyRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return certRequest{}, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
	if err != nil {
		return certRequest{}, err
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return certRequest{}, err
	}
	return certRequest{csr: der, spki: csr.RawSubjectPublicKeyInfo}, nil
}

// prepare makes the certificate requests of all flows before the flows
// start, on GOMAXPROCS goroutines (Run calls it when
// Config.PreparesKeys). Key generation and the CSR's signature are client
// work, not the server's: an RSA 2048 key takes ~50–250 ms of CPU, so
// making them during the run made the throughput measure the tool's key
// generation rather than the server (e.g. 2.4 flows/s at -c 2 against a
// server that took 44 ms per flow); an ECDSA P-256 key with its CSR takes
// ~0.1 ms, about 4% of the CPU of a whole flow (server, tool and DNS
// server) on a 2-core machine, which the server then lacks when it shares
// the cores with the tool (docs/performance.md, "The load tool's keys made
// before the flows"). Only the CSR is kept (the public key is a slice of
// it), ~0.35 kB per flow for ECDSA, ~0.7 kB for RSA.
func (r *run) prepare(ctx context.Context) error {
	r.reqs = make([]certRequest, r.cfg.Flows)
	next := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), r.cfg.Flows) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				req, err := newCertRequest(r.cfg.KeyType, r.cfg.name(n))
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				r.reqs[n] = req
			}
		}()
	}
	var err error
feed:
	for n := range r.cfg.Flows {
		select {
		case next <- n:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return fmt.Errorf("making %s certificate keys: %w", r.cfg.KeyType, err)
	}
	return nil
}
