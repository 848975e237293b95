// Package cmpupstream is the issuer connector that forwards issuance to a
// CA speaking CMP, the Certificate Management Protocol (RFC 4210 as
// updated by RFC 9480, in the Lightweight CMP profile of RFC 9483) over
// HTTP (RFC 6712), e.g. EJBCA or OpenSSL's CMP server: certgate validates
// its own ACME clients and applies its policy, then sends the client's
// CSR to the CA in a p10cr request and serves the certificate of the CA's
// cp response. Revocation of such a certificate is forwarded in an rr
// request.
//
// Go has no well-kept CMP library, so the connector drives the
// `openssl cmp` command of OpenSSL 3 (Debian's openssl package), one
// process per request, started with exec.CommandContext and ended with the
// request's context (the entry's timeout) or, on Linux, with certgate
// itself (parent-death signal). Secrets reach it as file:PATH password
// sources, never on its command line.
package cmpupstream

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/certgate/certgate/internal/acme"
	"github.com/certgate/certgate/internal/duration"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/secretfile"
)

// Type is the issuers-file type of this connector's entries.
const Type = "cmp"

// DefaultTimeout bounds one request to the CA (enrollment with its
// polling and confirmation, or revocation) when the entry sets no timeout.
const DefaultTimeout = 2 * time.Minute

// DefaultOpenSSL is the openssl command run when the entry names none
// (looked up in PATH).
const DefaultOpenSSL = "openssl"

// waitDelay is how long a cancelled openssl process may take to exit and
// close its output after it was killed.
const waitDelay = 5 * time.Second

// Config is one entry of the issuers file with type cmp (docs/issuers.md).
type Config struct {
	// Name is the issuer's name, as profiles name it and certificates
	// record it (issuer.Load checks it).
	Name string `yaml:"name"`
	// Type is Type ("cmp").
	Type string `yaml:"type"`
	// Server is the CA's CMP endpoint, http:// or https:// with host,
	// optional port and path (RFC 6712 §3), e.g.
	// https://ca.example.internal/ejbca/publicweb/cmp/certgate.
	Server string `yaml:"server"`
	// Ref is the senderKID of requests protected with the shared secret
	// (RFC 4210 §5.1.3.1 PBM): the reference the CA knows the secret by.
	Ref string `yaml:"ref"`
	// SecretFile is a file whose first line is the shared secret (MAC
	// protection, PBM); "" when requests are signed with Cert and Key.
	SecretFile string `yaml:"secretFile"`
	// Cert and Key are the PEM files of certgate's CMP signer certificate
	// (followed by its chain, if any) and private key, to sign requests
	// (RFC 4210 §5.1.3.3).
	Cert string `yaml:"cert"`
	// Key: see Cert.
	Key string `yaml:"key"`
	// KeyPassFile is a file whose first line is the pass phrase of Key;
	// "" for a key stored unencrypted.
	KeyPassFile string `yaml:"keyPassFile"`
	// Trusted is a PEM file of the trust anchors that the CA's signed
	// responses must chain to; SrvCert instead pins the CA's CMP signer
	// certificate itself. One of them is required when requests are
	// signed; with the shared secret, responses may be protected with it.
	Trusted string `yaml:"trusted"`
	// SrvCert: see Trusted.
	SrvCert string `yaml:"srvCert"`
	// Recipient is the CA's distinguished name in OpenSSL's form
	// ("/CN=Issuing CA/O=Example"), the recipient of requests; "" is the
	// subject of SrvCert, else the NULL-DN.
	Recipient string `yaml:"recipient"`
	// TLSTrusted is a PEM file of the CA certificates the CMP server's
	// HTTPS certificate chains to; required with an https Server (which
	// openssl is told to reach over TLS with -tls_used).
	TLSTrusted string `yaml:"tlsTrusted"`
	// Timeout bounds one request to the CA (every message and the
	// polling between them), e.g. "2m"; "" is DefaultTimeout.
	Timeout string `yaml:"timeout"`
	// OpenSSL is the openssl command to run (a path, or a name looked up
	// in PATH); "" is DefaultOpenSSL. OpenSSL 3.0 or later.
	OpenSSL string `yaml:"openssl"`
}

// Connector returns the connector the composition root registers for
// entries of type cmp.
func Connector() issuer.Connector {
	return issuer.NewConnector(Type, func(name string, c Config, env issuer.Env) (*Issuer, error) {
		c.Name = name
		return New(c, env)
	})
}

// Issuer forwards issuance and revocation to one CMP CA. It implements
// issuer.Issuer, issuer.Remote and issuer.Revoker; it is safe for
// concurrent use (each request runs its own openssl process).
type Issuer struct {
	cfg     Config
	timeout time.Duration
	openssl string   // the command's path
	auth    []string // openssl's options of authentication, trust and TLS (-tls_used)
	sender  string   // what remote_orders records as the account: ref or the signer's subject
	log     *slog.Logger
}

// New checks c and returns its issuer, reading the files it names and
// looking the openssl command up; nothing is contacted until the first
// Issue or Revoke. Errors name the key at fault.
func New(c Config, env issuer.Env) (*Issuer, error) {
	u, err := url.Parse(c.Server)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("server: %q is not an http:// or https:// URL of the CMP endpoint (RFC 6712)", c.Server)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("server: %q: give scheme, host, port and path only (no user, query or fragment)", c.Server)
	case u.Scheme == "https" && c.TLSTrusted == "":
		return nil, errors.New("tlsTrusted: required with an https server (the CA certificates of its HTTPS certificate)")
	case u.Scheme == "http" && c.TLSTrusted != "":
		return nil, errors.New("tlsTrusted: given with an http server, which has no TLS")
	}
	is := &Issuer{cfg: c, timeout: DefaultTimeout, log: env.Log}
	if is.log == nil {
		is.log = slog.New(slog.DiscardHandler)
	}
	if c.Timeout != "" {
		if is.timeout, err = duration.Parse(c.Timeout); err != nil || is.timeout < time.Second {
			return nil, fmt.Errorf("timeout: %q is not a duration of a second or more (e.g. 2m)", c.Timeout)
		}
	}
	if c.SecretFile == "" && c.Cert == "" {
		return nil, errors.New("secretFile or cert and key: give how certgate authenticates to the CA (a shared secret, or a signer certificate)")
	}
	if (c.Cert == "") != (c.Key == "") {
		return nil, errors.New("cert and key: give both or neither")
	}
	if c.KeyPassFile != "" && c.Key == "" {
		return nil, errors.New("keyPassFile: given without key")
	}
	if c.Trusted != "" && c.SrvCert != "" {
		return nil, errors.New("trusted and srvCert: give one (trust anchors of the CA's signer, or its certificate pinned)")
	}
	if c.SecretFile != "" {
		secretfile.WarnIfExposed(context.Background(), is.log, "issuers-file: issuer "+c.Name+": secretFile", c.SecretFile)
		if err := firstLine("secretFile", c.SecretFile); err != nil {
			return nil, err
		}
		if c.Ref == "" && c.Cert == "" {
			return nil, errors.New("ref: required with secretFile (the reference the CA knows the secret by, the senderKID)")
		}
		is.auth = append(is.auth, "-secret", "file:"+c.SecretFile)
	}
	if c.Ref != "" {
		is.auth = append(is.auth, "-ref", c.Ref)
		is.sender = "ref " + c.Ref
	}
	if c.Cert != "" {
		certs, err := readCerts("cert", c.Cert)
		if err != nil {
			return nil, err
		}
		if c.SecretFile == "" && c.Trusted == "" && c.SrvCert == "" {
			return nil, errors.New("trusted or srvCert: required with cert and key (to check the CA's signed responses)")
		}
		secretfile.WarnIfExposed(context.Background(), is.log, "issuers-file: issuer "+c.Name+": key", c.Key)
		if _, err := os.Stat(c.Key); err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		is.auth = append(is.auth, "-cert", c.Cert, "-key", c.Key)
		if c.KeyPassFile != "" {
			secretfile.WarnIfExposed(context.Background(), is.log, "issuers-file: issuer "+c.Name+": keyPassFile", c.KeyPassFile)
			if err := firstLine("keyPassFile", c.KeyPassFile); err != nil {
				return nil, err
			}
			is.auth = append(is.auth, "-keypass", "file:"+c.KeyPassFile)
		}
		if is.sender == "" {
			is.sender = "cert " + certs[0].Subject.String()
		}
	}
	for _, f := range []struct{ key, path, opt string }{{"trusted", c.Trusted, "-trusted"}, {"srvCert", c.SrvCert, "-srvcert"}, {"tlsTrusted", c.TLSTrusted, "-tls_trusted"}} {
		if f.path == "" {
			continue
		}
		if _, err := readCerts(f.key, f.path); err != nil {
			return nil, err
		}
		is.auth = append(is.auth, f.opt, f.path)
	}
	if u.Scheme == "https" {
		// OpenSSL 3.0 and 3.1 refuse an https server without it ("missing
		// -tls_used option since -server URL indicates https"); later
		// versions imply it from the URL and take it all the same.
		is.auth = append(is.auth, "-tls_used")
	}
	if c.Recipient != "" {
		if !strings.HasPrefix(c.Recipient, "/") || !strings.Contains(c.Recipient, "=") {
			return nil, fmt.Errorf("recipient: %q is not a distinguished name in OpenSSL's form, e.g. /CN=Issuing CA/O=Example", c.Recipient)
		}
		is.auth = append(is.auth, "-recipient", c.Recipient)
	}
	cmd := c.OpenSSL
	if cmd == "" {
		cmd = DefaultOpenSSL
	}
	if is.openssl, err = exec.LookPath(cmd); err != nil {
		return nil, fmt.Errorf("openssl: %w (install OpenSSL 3, Debian's package openssl)", err)
	}
	if err := checkVersion(is.openssl); err != nil {
		return nil, fmt.Errorf("openssl: %w", err)
	}
	// What a certgate killed mid-enrollment left behind.
	n, err := removeStaleTempDirs("")
	if n > 0 {
		is.log.Info("removed the working directories of openssl processes of a certgate that died", "issuer", c.Name, "count", n)
	}
	if err != nil {
		is.log.Warn("removing the working directories of openssl processes of a certgate that died", "err", err)
	}
	return is, nil
}

// checkVersion runs `openssl version` and refuses an openssl without the
// cmp command: one older than OpenSSL 3.0, or LibreSSL.
func checkVersion(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, path, "version")
	c.WaitDelay = waitDelay
	out, err := c.Output()
	if err != nil {
		return fmt.Errorf("%s version: %w", path, err)
	}
	v := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(v, "OpenSSL "), ".")
	if n, err := strconv.Atoi(major); !strings.HasPrefix(v, "OpenSSL ") || err != nil || n < 3 {
		return fmt.Errorf("%s is %q, which has no cmp command: OpenSSL 3.0 or later is needed", path, v)
	}
	return nil
}

// firstLine checks that the file at path, named by key, has a first line
// that is not empty: what openssl's file: password source reads.
func firstLine(key, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if line, _, _ := strings.Cut(string(b), "\n"); strings.TrimRight(line, "\r") == "" {
		return fmt.Errorf("%s: the first line of %s is empty (openssl reads the secret from the first line)", key, path)
	}
	return nil
}

// readCerts reads the PEM certificates of the file at path, named by key;
// none is an error.
func readCerts(key, path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	certs, err := parseCerts(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", key, path, err)
	}
	return certs, nil
}

// Name is the issuer's configured name, stored with every certificate it
// issues.
func (is *Issuer) Name() string { return is.cfg.Name }

// IssueTimeout bounds one Issue call (the entry's timeout).
func (is *Issuer) IssueTimeout() time.Duration { return is.timeout }

// Server is the CA's CMP endpoint URL.
func (is *Issuer) Server() string { return is.cfg.Server }

// Issue sends req.CSR to the CA in a p10cr request (RFC 4210 §5.3.4,
// RFC 9483 §4.1.4) and returns the certificate of its cp response, with
// the intermediate CA certificates found in the response's extraCerts and
// caPubs (up to, not including, a self-signed root). The CA chooses the
// serial and validity. openssl confirms the certificate (certConf) before
// it returns. Before the request is sent, the CMP server and sender are
// handed to req.Placed, when set (nothing is sent when Placed fails).
// Errors are *acme.Problem values naming the CA: its PKIStatusInfo when
// it refused, a client-safe detail when it could not be reached or did
// not answer within the timeout (the cause is logged). No error wraps
// issuer.ErrRemoteProcessing: CMP has no way to fetch the outcome of an
// enrollment later (Resume).
func (is *Issuer) Issue(ctx context.Context, req issuer.IssueRequest) (*issuer.Issued, error) {
	if req.CSR == nil {
		return nil, errors.New("cmpupstream: the request carries no CSR")
	}
	ctx, cancel := context.WithTimeout(ctx, is.timeout)
	defer cancel()
	td, err := makeTempDir("")
	if err != nil {
		return nil, err
	}
	defer td.remove()
	dir := td.path
	csrFile, certFile := filepath.Join(dir, "csr.der"), filepath.Join(dir, "cert.pem")
	extraFile, caPubsFile := filepath.Join(dir, "extracerts.pem"), filepath.Join(dir, "capubs.pem")
	if err := os.WriteFile(csrFile, req.CSR.Raw, 0o600); err != nil {
		return nil, fmt.Errorf("cmpupstream: %w", err)
	}
	if req.Placed != nil {
		if err := req.Placed(ctx, issuer.RemoteOrder{OrderURL: is.cfg.Server, AccountURL: is.sender}); err != nil {
			return nil, err
		}
	}
	if err := is.run(ctx, "p10cr", "-csr", csrFile, "-certout", certFile, "-extracertsout", extraFile, "-cacertsout", caPubsFile); err != nil {
		return nil, is.problem("did not issue the certificate", err)
	}
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, is.problem("returned no certificate", err)
	}
	leaf, err := parseCerts(b)
	if err != nil {
		return nil, is.problem("returned an unusable certificate", err)
	}
	var pool []*x509.Certificate
	for _, f := range []string{extraFile, caPubsFile} {
		if b, err := os.ReadFile(f); err == nil {
			certs, _ := parseCerts(b) // an empty file: none received
			pool = append(pool, certs...)
		}
	}
	chain := buildChain(leaf[0], pool)
	var out []byte
	for _, c := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return &issuer.Issued{DER: chain[0].Raw, ChainPEM: out}, nil
}

// Resume is asked for an enrollment whose process died or gave up before
// it stored the CA's answer (issuer.Remote). CMP has no request to fetch
// the certificate of an earlier transaction from a new one, so it returns
// a problem saying so: the order becomes invalid.
func (is *Issuer) Resume(_ context.Context, o issuer.RemoteOrder) (*issuer.Issued, error) {
	is.log.Error("CMP enrollment interrupted: its outcome cannot be fetched", "issuer", is.cfg.Name, "server", o.OrderURL)
	return nil, acme.NewProblem(acme.ServerInternal,
		"issuance at upstream CA %s (CMP) was interrupted before certgate received the answer; CMP cannot fetch it afterwards, so no certificate was stored; please create a new order", is.cfg.Name)
}

// Revoke asks the CA to revoke the DER certificate der in an rr request
// (RFC 4210 §5.3.9, RFC 9483 §4.2) with reason, an RFC 5280 §5.3.1 reason
// code (none is sent for a code outside it). A certificate the CA reports
// as revoked already (failInfo certRevoked) is no error.
func (is *Issuer) Revoke(ctx context.Context, der []byte, reason int) error {
	ctx, cancel := context.WithTimeout(ctx, is.timeout)
	defer cancel()
	td, err := makeTempDir("")
	if err != nil {
		return err
	}
	defer td.remove()
	dir := td.path
	certFile := filepath.Join(dir, "oldcert.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("cmpupstream: %w", err)
	}
	code := -1
	if reason >= 0 && reason <= 10 && reason != 7 {
		code = reason
	}
	err = is.run(ctx, "rr", "-oldcert", certFile, "-revreason", strconv.Itoa(code))
	var re *runError
	if errors.As(err, &re) && strings.Contains(re.detail, "certRevoked") {
		return nil
	}
	if err != nil {
		return is.problem("did not revoke the certificate", err)
	}
	return nil
}

// runError is a failed openssl cmp run: its CMP error lines (without
// openssl's source location) and how it ended.
type runError struct {
	detail string // the "CMP error:" lines, joined with "; "
	output string // everything it printed
	err    error  // exec's error, or the context's
}

func (e *runError) Error() string {
	if e.detail != "" {
		return e.detail
	}
	return e.err.Error()
}

func (e *runError) Unwrap() error { return e.err }

// refused reports whether the CA answered with a negative PKIStatusInfo
// (or an error message carrying one), rather than not being reached.
func (e *runError) refused() bool { return strings.Contains(e.detail, "PKIStatus:") }

// status is the CA's PKIStatusInfo as openssl printed it: its
// PKIStatus, PKIFailureInfo and StatusString, e.g. `PKIStatus: rejection;
// PKIFailureInfo: badRequest; StatusString: "name not allowed"`.
func (e *runError) status() string {
	_, s, _ := strings.Cut(e.detail, "PKIStatus:")
	parts := []string{"PKIStatus:" + strings.SplitN(s, "; ", 2)[0]}
	for _, p := range strings.Split(s, "; ")[1:] {
		if strings.HasPrefix(p, "PKIFailureInfo:") || strings.HasPrefix(p, "StatusString:") {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; ")
}

// run runs `openssl cmp -cmd cmd` against the CA with the entry's
// authentication and trust options and more, bounded by ctx (its
// deadline also becomes openssl's message and total timeouts, so that
// openssl gives up by itself first). Errors are *runError.
func (is *Issuer) run(ctx context.Context, cmd string, more ...string) error {
	secs := int(is.timeout / time.Second)
	if d, ok := ctx.Deadline(); ok {
		// A second short of the context, so that openssl ends by itself
		// (it retries a refused connection until its timeout).
		secs = max(1, int(time.Until(d)/time.Second)-1)
	}
	args := []string{"cmp", "-config", "", "-batch", "-verbosity", "4", "-cmd", cmd, "-server", is.cfg.Server,
		"-msg_timeout", strconv.Itoa(secs), "-total_timeout", strconv.Itoa(secs)}
	args = append(append(args, is.auth...), more...)
	c := exec.CommandContext(ctx, is.openssl, args...)
	c.WaitDelay = waitDelay
	c.SysProcAttr = childAttr()
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if _, msg, ok := strings.Cut(l, "CMP error: "); ok {
			lines = append(lines, strings.TrimSpace(msg))
		}
	}
	return &runError{detail: strings.Join(lines, "; "), output: out.String(), err: err}
}

// refusalTypes map a CA's PKIFailureInfo bit (RFC 4210 §5.2.3) to the
// problem type passed to the client: those that say what the client can
// change. Any other refusal is serverInternal.
var refusalTypes = map[string]acme.ProblemType{"badCertTemplate": acme.BadCSR, "badPOP": acme.BadCSR}

// problem turns err, from openssl cmp, into the problem the client sees:
// "upstream CA NAME (CMP) <what>: the CA refused: PKIStatus: ..." when the
// CA answered, else a detail without internals (openssl's output goes to
// the log).
func (is *Issuer) problem(what string, err error) error {
	var re *runError
	if errors.As(err, &re) && re.refused() {
		typ := acme.ServerInternal
		for bit, t := range refusalTypes {
			if strings.Contains(re.detail, "PKIFailureInfo: "+bit) {
				typ = t
			}
		}
		is.log.Warn("CMP CA refused", "issuer", is.cfg.Name, "detail", re.detail)
		return acme.NewProblem(typ, "upstream CA %s (CMP) %s: the CA refused: %s", is.cfg.Name, what, re.status())
	}
	if re == nil { // openssl succeeded, its answer did not
		is.log.Error("CMP CA answer unusable", "issuer", is.cfg.Name, "what", what, "err", err)
		return acme.NewProblem(acme.ServerInternal, "upstream CA %s (CMP) %s; nothing was stored, try again later", is.cfg.Name, what)
	}
	is.log.Error("CMP CA failed", "issuer", is.cfg.Name, "what", what, "err", err, "openssl_output", re.output)
	if errors.Is(err, context.Canceled) {
		return acme.NewProblem(acme.ServerInternal, "upstream CA %s (CMP) %s: it was cancelled (certgate stopping) before the CA answered; try again later", is.cfg.Name, what)
	}
	return acme.NewProblem(acme.ServerInternal, "upstream CA %s (CMP) %s: it could not be reached or did not answer within %s; try again later",
		is.cfg.Name, what, is.timeout)
}

// parseCerts parses the PEM certificates in b, in order; none is an
// error.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	out, err := issuer.ParsePEMCertificates(b)
	if err == nil && len(out) == 0 {
		err = errors.New("no PEM certificate")
	}
	return out, err
}

// buildChain returns leaf followed by the certificates of pool that
// issued it, each the issuer of the one before (its subject is the
// other's issuer and its key verifies the other's signature), up to and
// not including a self-signed root (RFC 8555 §7.4.2: the chain served
// need not hold the root).
func buildChain(leaf *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{leaf}
	for cur := leaf; len(chain) <= len(pool); {
		var next *x509.Certificate
		for _, c := range pool {
			if bytes.Equal(c.RawSubject, cur.RawIssuer) && !c.Equal(cur) && cur.CheckSignatureFrom(c) == nil {
				next = c
				break
			}
		}
		if next == nil || bytes.Equal(next.RawSubject, next.RawIssuer) {
			break
		}
		chain = append(chain, next)
		cur = next
	}
	return chain
}
