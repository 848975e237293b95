// Package acmeupstream is the issuer connector that forwards issuance to an
// upstream ACME CA (RFC 8555) with lego as the ACME client: certgate
// validates its own clients and applies its policy, then sends the
// client's CSR to the upstream and serves the certificate the upstream
// returns. Revocation of such a certificate is forwarded to the upstream.
//
// The upstream account key is created on first use, kept in the data
// directory (issuers/NAME/account.key, mode 0600) and reused; the account
// is registered (or found again by its key, RFC 8555 §7.3.1) once per
// process, with external account binding when configured (§7.3.4).
package acmeupstream

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/challenge/resolver"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/duration"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/secretfile"
)

// Type is the issuers-file type of this connector's entries.
const Type = "acme"

// ChallengePreauthorized is the only challenge method of this version: the
// upstream authorizes the names itself (names pre-authorized for the
// account, an EAB-bound account of an enterprise CA). When the upstream
// offers challenges anyway, certgate answers http-01 without serving
// anything, so only an upstream that does not check (it trusts the
// account) issues.
const ChallengePreauthorized = "preauthorized"

// userAgent is the User-Agent of certgate's requests to the upstream.
const userAgent = "certgate-acmeupstream"

// DefaultTimeout bounds one issuance at the upstream when the entry sets
// no timeout.
const DefaultTimeout = 2 * time.Minute

// Config is one entry of the issuers file with type acme
// (docs/issuers.md).
type Config struct {
	// Name is the issuer's name, as profiles name it and certificates
	// record it (issuer.Load checks it).
	Name string `yaml:"name"`
	// Type is Type ("acme").
	Type string `yaml:"type"`
	// Directory is the upstream's ACME directory URL (https).
	Directory string `yaml:"directory"`
	// Email is the account's contact (mailto:); "" for none.
	Email string `yaml:"email"`
	// EABKid and EABHMACFile bind the account to an external account
	// (RFC 8555 §7.3.4): the key ID and a file holding the base64url
	// HMAC key. Both or neither.
	EABKid string `yaml:"eabKid"`
	// EABHMACFile: see EABKid.
	EABHMACFile string `yaml:"eabHmacFile"`
	// CABundle is a PEM file of the CA certificates that the upstream's
	// HTTPS certificate chains to; "" trusts the system's.
	CABundle string `yaml:"caBundle"`
	// Challenge is how certgate gets the upstream's authorizations:
	// ChallengePreauthorized (the default).
	Challenge string `yaml:"challenge"`
	// Timeout bounds one issuance at the upstream (every request and the
	// polling between them), e.g. "2m"; "" is DefaultTimeout.
	Timeout string `yaml:"timeout"`
	// Profile, when set, is the upstream's ACME profile to ask for
	// (draft-ietf-acme-profiles newOrder "profile").
	Profile string `yaml:"profile"`
}

// Connector returns the connector the composition root registers for
// entries of type acme.
func Connector() issuer.Connector {
	return issuer.NewConnector(Type, func(name string, c Config, env issuer.Env) (*Issuer, error) {
		c.Name = name
		return New(c, env)
	})
}

// Issuer forwards issuance to one upstream ACME CA. It implements
// issuer.Issuer, issuer.Remote and issuer.Revoker; it is safe for
// concurrent use.
type Issuer struct {
	cfg     Config
	timeout time.Duration
	hmac    string // the EAB HMAC key, base64url
	http    *http.Client
	keyFile string
	log     *slog.Logger

	// reg is held (one token) while the account is set up; waiting for
	// it ends with the waiter's context, so an upstream that hangs during
	// registration delays each issuance by its own timeout at most, not by
	// those of all the issuances queued before it.
	reg chan struct{}
	up  *upstream // nil until the account is registered (first use); guarded by reg
}

// upstream is the registered account at the upstream: lego's client
// (registration, revocation) and the ACME core its orders are placed
// with, step by step, so that the order is recorded before finalize
// (issuer.IssueRequest.Placed).
type upstream struct {
	client *lego.Client
	core   *api.Core
	prober *resolver.Prober
	kid    string // the account's URL
}

// New checks c and returns its issuer, reading the files it names (CA
// bundle, EAB HMAC key); nothing is contacted and no key is made until the
// first Issue or Revoke. Errors name the key at fault.
func New(c Config, env issuer.Env) (*Issuer, error) {
	u, err := url.Parse(c.Directory)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("directory: %q is not an https URL (RFC 8555 §6.1)", c.Directory)
	}
	switch c.Challenge {
	case "":
		c.Challenge = ChallengePreauthorized
	case ChallengePreauthorized:
	default:
		return nil, fmt.Errorf("challenge: %q is not supported (this version has %q only: the upstream authorizes the names itself)", c.Challenge, ChallengePreauthorized)
	}
	is := &Issuer{cfg: c, timeout: DefaultTimeout, log: env.Log, reg: make(chan struct{}, 1)}
	if is.log == nil {
		is.log = slog.New(slog.DiscardHandler)
	}
	if c.Timeout != "" {
		if is.timeout, err = duration.Parse(c.Timeout); err != nil || is.timeout <= 0 {
			return nil, fmt.Errorf("timeout: %q is not a positive duration (e.g. 2m)", c.Timeout)
		}
	}
	if (c.EABKid == "") != (c.EABHMACFile == "") {
		return nil, errors.New("eabKid and eabHmacFile: give both or neither")
	}
	if c.EABHMACFile != "" {
		secretfile.WarnIfExposed(context.Background(), is.log, "issuers-file: issuer "+c.Name+": eabHmacFile", c.EABHMACFile)
		b, err := os.ReadFile(c.EABHMACFile)
		if err != nil {
			return nil, fmt.Errorf("eabHmacFile: %w", err)
		}
		if is.hmac = strings.TrimSpace(string(b)); is.hmac == "" {
			return nil, fmt.Errorf("eabHmacFile: %s is empty", c.EABHMACFile)
		}
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CABundle != "" {
		b, err := os.ReadFile(c.CABundle)
		if err != nil {
			return nil, fmt.Errorf("caBundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("caBundle: %s holds no PEM certificate", c.CABundle)
		}
		tlsCfg.RootCAs = pool
	}
	// Each request is bounded by the issuance's context (Timeout); the
	// client's own bounds of the connection steps and of the wait for an
	// answer are the same timeout, never shorter: an upstream that takes
	// longer than a fixed bound to answer one request, within the
	// entry's timeout, is waited for, and one that takes longer is told
	// by the timeout it exceeded.
	is.http = &http.Client{Timeout: is.timeout, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: is.timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   is.timeout,
		ResponseHeaderTimeout: is.timeout,
		TLSClientConfig:       tlsCfg,
	}}
	if env.Data == "" {
		return nil, errors.New("no data directory for the upstream account key")
	}
	is.keyFile = KeyFile(env.Data, c.Name)
	return is, nil
}

// Name is the issuer's configured name, stored with every certificate it
// issues.
func (is *Issuer) Name() string { return is.cfg.Name }

// IssueTimeout bounds one Issue call (the entry's timeout).
func (is *Issuer) IssueTimeout() time.Duration { return is.timeout }

// Directory is the upstream's ACME directory URL.
func (is *Issuer) Directory() string { return is.cfg.Directory }

// user is the upstream account as lego sees it.
type user struct {
	email string
	key   *accountKey
	reg   *legoacme.ExtendedAccount
}

func (u *user) GetEmail() string                           { return u.email }
func (u *user) GetRegistration() *legoacme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer               { return u.key.signer }

// account returns the registered upstream account, loading or creating
// the account key and registering on first use. A failed registration is
// tried again at the next use.
func (is *Issuer) account(ctx context.Context) (*upstream, error) {
	select {
	case is.reg <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the account registration under way: %w", ctx.Err())
	}
	defer func() { <-is.reg }()
	if is.up != nil {
		return is.up, nil
	}
	key, err := loadOrCreateKey(is.keyFile)
	if err != nil {
		return nil, err
	}
	u := &user{email: is.cfg.Email, key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = is.cfg.Directory
	cfg.HTTPClient = is.http
	cfg.UserAgent = userAgent
	client, err := lego.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	var reg *legoacme.ExtendedAccount
	if is.cfg.EABKid != "" {
		reg, err = client.Registration.RegisterWithExternalAccountBinding(ctx, registration.RegisterEABOptions{
			TermsOfServiceAgreed: true, Kid: is.cfg.EABKid, HmacEncoded: is.hmac})
	} else {
		reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	}
	if err != nil {
		return nil, fmt.Errorf("register the account: %w", err)
	}
	u.reg = reg
	core, err := api.New(is.http, cfg.UserAgent, is.cfg.Directory, reg.Location, key.signer)
	if err != nil {
		return nil, err
	}
	// Preauthorized: the upstream decides by the account; an http-01
	// challenge it offers anyway is answered without serving anything.
	solvers := resolver.NewSolversManager(core)
	if err := solvers.SetHTTP01Provider(noResponse{}); err != nil {
		return nil, err
	}
	is.log.Info("upstream ACME account ready", "issuer", is.cfg.Name, "account", reg.Location)
	is.up = &upstream{client: client, core: core, prober: resolver.NewProber(solvers), kid: reg.Location}
	return is.up, nil
}

// accountGone reports whether err is the upstream's accountDoesNotExist
// (RFC 8555 §7.3.1) to a request signed by up's account: it no longer
// knows the account (its accounts were reset, as a restarted Pebble's are,
// or this one was removed). It then forgets up, so that the next account
// call registers the account again with the same key, rather than every
// later request failing until the process restarts; the caller repeats
// its request once.
func (is *Issuer) accountGone(ctx context.Context, up *upstream, err error) bool {
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) || pd.Type != string(acme.AccountDoesNotExist) {
		return false
	}
	is.log.Warn("the upstream CA no longer knows the account: registering it again", "issuer", is.cfg.Name, "account", up.kid)
	select {
	case is.reg <- struct{}{}:
		if is.up == up {
			is.up = nil
		}
		<-is.reg
	case <-ctx.Done(): // the repeated request fails with ctx too
	}
	return true
}

// noResponse is the http-01 "solver" of the preauthorized method: it
// serves nothing.
type noResponse struct{}

func (noResponse) Present(context.Context, string, string, string) error { return nil }
func (noResponse) CleanUp(context.Context, string, string, string) error { return nil }

// Issue sends req.CSR to the upstream (a new order for the order's names,
// orderNames; the authorizations, finalize; RFC 8555 §7.4) and returns
// the certificate with the chain the upstream serves. The upstream
// chooses the serial and validity. The order is handed to req.Placed,
// when set, before finalize (nothing is finalized when Placed fails).
// Errors are *acme.Problem values naming the upstream: its problem type
// and detail when it refused, a client-safe detail when it could not be
// reached (the cause is logged); once finalize may have been sent, one
// that leaves the outcome open (unreachable, timed out, a 5xx, a
// certificate download that does not parse) also wraps
// issuer.ErrRemoteProcessing: Resume finds it later (orderFailed).
func (is *Issuer) Issue(ctx context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	if req.CSR == nil {
		return nil, errors.New("acmeupstream: the request carries no CSR")
	}
	ctx, cancel := context.WithTimeout(ctx, is.timeout)
	defer cancel()
	up, err := is.account(ctx)
	if err != nil {
		return nil, is.problem("could not register its account", err)
	}
	names := orderNames(req)
	order, err := up.core.Orders.New(ctx, names, &api.OrderOptions{Profile: is.cfg.Profile})
	if is.accountGone(ctx, up, err) {
		if up, err = is.account(ctx); err != nil {
			return nil, is.problem("could not register its account", err)
		}
		order, err = up.core.Orders.New(ctx, names, &api.OrderOptions{Profile: is.cfg.Profile})
	}
	if err != nil {
		return nil, is.problem("did not issue the certificate", err)
	}
	if req.Placed != nil {
		if err := req.Placed(ctx, issuer.RemoteOrder{OrderURL: order.Location, AccountURL: up.kid}); err != nil {
			return nil, err
		}
	}
	authzs := make([]legoacme.Authorization, 0, len(order.Authorizations))
	for _, u := range order.Authorizations {
		a, err := up.core.Authorizations.Get(ctx, u)
		if err != nil {
			return nil, is.problem("did not issue the certificate", err)
		}
		authzs = append(authzs, a)
	}
	if err := up.prober.Solve(ctx, authzs); err != nil {
		return nil, is.problem("did not authorize the names", err)
	}
	final, err := up.core.Orders.UpdateForCSR(ctx, order.Finalize, req.CSR.Raw)
	if err != nil {
		var pd *legoacme.ProblemDetails
		if errors.As(err, &pd) {
			return nil, is.problem("did not issue the certificate", err)
		}
		return nil, fmt.Errorf("%w: %w", is.problem("did not issue the certificate", err), issuer.ErrRemoteProcessing)
	}
	return is.await(ctx, up, order.Location, final)
}

// orderNames are the identifiers of the upstream order: the order's
// names as certgate wrote them (req.DNSNames in lower case, then
// req.IPAddresses in their canonical text), never as the client spelt
// them in the CSR. An upstream writes identifiers in its answer as it
// normalizes them (RFC 8555 §7.1.4), and lego refuses an answer whose
// identifiers differ from the request's (RFC 8555 §7.4: "order
// identifiers have been modified"), so a CSR for Mx1.Example.Test would
// never issue; the CSR itself goes to finalize as the client signed it.
func orderNames(req issuer.IssueRequest) []string {
	names := slices.Clone(req.DNSNames)
	for _, ip := range req.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// Resume finds the outcome of the upstream order o (issuer.Remote): it
// fetches the order (POST-as-GET, RFC 8555 §6.3), waits while it is
// processing until ctx or the entry's timeout ends, and downloads the
// certificate once it is valid. The order is read with the account that
// placed it (o.AccountURL, the same key). An upstream that refuses for
// good to read the order or serve its certificate (it lost them: see
// orderFailed) gives a problem without issuer.ErrRemoteProcessing.
func (is *Issuer) Resume(ctx context.Context, o issuer.RemoteOrder) (*issuer.Issued, error) {
	ctx, cancel := context.WithTimeout(ctx, is.timeout)
	defer cancel()
	up, err := is.account(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", is.problem("could not register its account", err), issuer.ErrRemoteProcessing)
	}
	if o.AccountURL != "" && o.AccountURL != up.kid {
		// The account key file stayed; the account was found again
		// under another URL: read with the URL that placed the order.
		key, err := readKey(is.keyFile)
		if err != nil {
			return nil, err
		}
		core, err := api.New(is.http, userAgent, is.cfg.Directory, o.AccountURL, key.signer)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", is.problem("could not be reached", err), issuer.ErrRemoteProcessing)
		}
		up = &upstream{client: up.client, core: core, prober: up.prober, kid: o.AccountURL}
	}
	order, err := up.core.Orders.Get(ctx, o.OrderURL)
	if err != nil {
		return nil, is.orderFailed("did not answer for its order", o.OrderURL, err)
	}
	return is.await(ctx, up, o.OrderURL, order)
}

// orderFailed is err, from reading the upstream order at orderURL or
// downloading its certificate after finalize (what failed, e.g. "did not
// answer for its order"), as Issue and Resume return it. A refusal that asking
// again cannot change (refusedForGood: the upstream lost the order or its
// account, as a restarted Pebble does, or never had it) is a
// serverInternal problem naming the upstream order and the upstream's
// problem: the order becomes invalid at once rather than stay processing
// until the RA's recovery window (a day) ends. Anything else
// (unreachable, a 5xx, a rate limit, an answer that could not be used)
// also wraps issuer.ErrRemoteProcessing: the order is asked for again.
func (is *Issuer) orderFailed(what, orderURL string, err error) error {
	var pd *legoacme.ProblemDetails
	if !refusedForGood(err) || !errors.As(err, &pd) {
		return fmt.Errorf("%w: %w", is.problem(what, err), issuer.ErrRemoteProcessing)
	}
	is.log.Warn("upstream CA refused for good to read its order: the order fails", "issuer", is.cfg.Name, "order", orderURL,
		"what", what, "type", pd.Type, "detail", pd.Detail, "status", pd.HTTPStatus)
	return acme.NewProblem(acme.ServerInternal, "upstream CA %s %s %s, and will not: HTTP %d %s: %s (it lost the order or the account that placed it); please create a new order",
		is.cfg.Name, what, orderURL, pd.HTTPStatus, strings.TrimPrefix(pd.Type, acme.ErrorNS), pd.Detail)
}

// refusedForGood reports whether err is the upstream's problem document
// (RFC 8555 §6.7) with a client-error status that a later request cannot
// change: accountDoesNotExist, unauthorized, a 404 for an order it does
// not know, and the like. A rate limit (429, rateLimited), a bad nonce
// (lego tries those again itself), 408 and every 5xx are not, nor is an
// error without a problem document (not reached, an unusable answer).
func refusedForGood(err error) bool {
	var pd *legoacme.ProblemDetails
	if !errors.As(err, &pd) {
		return false
	}
	switch {
	case pd.Type == string(acme.RateLimited) || pd.Type == string(acme.BadNonce):
		return false
	case pd.HTTPStatus == http.StatusTooManyRequests || pd.HTTPStatus == http.StatusRequestTimeout:
		return false
	}
	return pd.HTTPStatus >= 400 && pd.HTTPStatus < 500
}

// await waits for the upstream order at orderURL, last read as order, to
// leave processing (polling it every pollInterval while ctx allows), and
// downloads its certificate when it is valid.
func (is *Issuer) await(ctx context.Context, up *upstream, orderURL string, order legoacme.ExtendedOrder) (*issuer.Issued, error) {
	every := min(max(is.timeout/60, 250*time.Millisecond), 2*time.Second)
	for {
		switch order.Status {
		case legoacme.StatusValid:
			raw, err := up.core.Certificates.Get(ctx, order.Certificate, true)
			if err != nil {
				return nil, is.orderFailed("did not serve the certificate of its order", orderURL, err)
			}
			chain, err := parseChain(raw.Cert)
			if err != nil {
				// It issued, but what it served is no certificate (a
				// proxy's page, a truncated answer): the download is
				// tried again (Resume, no new order: that would issue
				// twice) until the recovery window ends, rather than
				// leave a certificate valid upstream and unknown here.
				return nil, fmt.Errorf("%w: %w", is.problem("issued a certificate, but served one that does not parse", err), issuer.ErrRemoteProcessing)
			}
			return &issuer.Issued{DER: chain[0].Raw, ChainPEM: encodeChain(chain)}, nil
		case legoacme.StatusInvalid:
			err := error(errors.New("the order is invalid"))
			if order.Error != nil {
				err = order.Error
			}
			return nil, is.problem("did not issue the certificate", err)
		case legoacme.StatusPending, legoacme.StatusReady:
			return nil, fmt.Errorf("upstream CA %s order %s is %s: %w", is.cfg.Name, orderURL, order.Status, issuer.ErrRemoteNotFinalized)
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", is.problem("did not issue the certificate", ctx.Err()), issuer.ErrRemoteProcessing)
		case <-t.C:
		}
		var err error
		if order, err = up.core.Orders.Get(ctx, orderURL); err != nil {
			return nil, is.orderFailed("did not answer for its order", orderURL, err)
		}
	}
}

// Revoke forwards a revocation to the upstream (RFC 8555 §7.6), signed by
// the account. A certificate the upstream reports as already revoked is
// no error.
func (is *Issuer) Revoke(ctx context.Context, der []byte, reason int) error {
	ctx, cancel := context.WithTimeout(ctx, is.timeout)
	defer cancel()
	up, err := is.account(ctx)
	if err != nil {
		return is.problem("could not register its account", err)
	}
	r := uint(reason)
	err = up.client.Certificate.RevokeWithReason(ctx, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), &r)
	if is.accountGone(ctx, up, err) {
		if up, err = is.account(ctx); err != nil {
			return is.problem("could not register its account", err)
		}
		err = up.client.Certificate.RevokeWithReason(ctx, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), &r)
	}
	var pd *legoacme.ProblemDetails
	if errors.As(err, &pd) && pd.Type == string(acme.AlreadyRevoked) {
		return nil
	}
	if err != nil {
		return is.problem("did not revoke the certificate", err)
	}
	return nil
}

// passedTypes are the upstream problem types passed on to the client as
// they are: they say what the client can change. Others become
// serverInternal (the gateway's upstream failed), with the upstream's
// type in the detail.
var passedTypes = []acme.ProblemType{acme.BadCSR, acme.BadPublicKey, acme.CAA, acme.RateLimited, acme.RejectedIdentifier, acme.UnsupportedIdentifier}

// problem turns err, from the upstream's answer or the way to it, into the
// problem the client sees: "upstream CA NAME <what>: TYPE: DETAIL" when
// the upstream answered with a problem document, else a detail without
// internals (the cause goes to the log) that tells an upstream not
// reached (issuer.Unreachable) or too slow from an answer that could not
// be used.
func (is *Issuer) problem(what string, err error) error {
	var pd *legoacme.ProblemDetails
	if errors.As(err, &pd) {
		typ := acme.ServerInternal
		for _, t := range passedTypes {
			if string(t) == pd.Type {
				typ = t
			}
		}
		is.log.Warn("upstream CA refused", "issuer", is.cfg.Name, "type", pd.Type, "detail", pd.Detail, "status", pd.HTTPStatus)
		return acme.NewProblem(typ, "upstream CA %s %s: %s: %s", is.cfg.Name, what, strings.TrimPrefix(pd.Type, acme.ErrorNS), pd.Detail)
	}
	is.log.Error("upstream CA failed", "issuer", is.cfg.Name, "what", what, "err", err)
	why := "its answer could not be used (the server log has why)"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		why = fmt.Sprintf("it did not finish within %s", is.timeout)
	case issuer.Unreachable(err):
		why = "it could not be reached or did not answer in time"
	}
	return acme.NewProblem(acme.ServerInternal, "upstream CA %s %s: %s; try again later", is.cfg.Name, what, why)
}

// parseChain parses the PEM bundle b (leaf first) the upstream served.
func parseChain(b []byte) ([]*x509.Certificate, error) {
	out, err := issuer.ParsePEMCertificates(b)
	if err == nil && len(out) == 0 {
		err = errors.New("no certificate in the answer")
	}
	return out, err
}

// encodeChain is chain as PEM, leaf first.
func encodeChain(chain []*x509.Certificate) []byte {
	var b []byte
	for _, c := range chain {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}
