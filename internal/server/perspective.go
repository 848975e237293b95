package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/certgate/certgate/internal/config"
	"github.com/certgate/certgate/internal/ra"
	"github.com/certgate/certgate/internal/secretfile"
	"github.com/certgate/certgate/internal/va"
	"github.com/certgate/certgate/internal/va/mpic"
)

// corroborate wraps the primary's validator with its remote perspectives
// (--perspectives), authenticated with secret (the contents of
// --perspective-secret-file), or returns it unchanged when there are none.
// It starts one authenticated ping of every remote perspective in the
// background (bounded by ctx and --perspective-timeout) that logs a
// warning for each one misconfigured (mpic.Corroborator.PingRemotes); it
// never refuses to start for it.
func corroborate(ctx context.Context, cfg *config.Serve, v *va.VA, secret []byte, now func() time.Time, log *slog.Logger) ra.Validator {
	p := cfg.Perspectives
	if len(p.RemoteNames) == 0 {
		return v
	}
	c := &mpic.Corroborator{Primary: mpic.Local{Perspective: mpic.PrimaryName, VA: v},
		Policy: mpic.Policy{Unreachable: p.Unreachable, MaxDisagree: p.MaxDisagree}, Log: log}
	for i, name := range p.RemoteNames {
		c.Remotes = append(c.Remotes, mpic.NewRemote(name, p.RemoteURLs[i], secret, p.Timeout, now))
	}
	allowed := mpic.AllowedDisagreements(len(c.Remotes))
	if p.MaxDisagree >= 0 {
		allowed = p.MaxDisagree
	}
	log.Info("multi-perspective validation", "perspectives", p.RemoteNames, "may_disagree", allowed, "unreachable", p.Unreachable)
	go func() {
		pctx, cancel := context.WithTimeout(ctx, p.Timeout)
		defer cancel()
		c.PingRemotes(pctx, log)
	}()
	return &mpic.PrimaryValidator{Validator: v, Corroborator: c}
}

// ServePerspective runs a remote validation perspective (`certgate serve
// --roles va --perspective NAME`) until ctx is done: an HTTPS endpoint on
// cfg.Listen that performs one challenge check and the CAA check per
// authenticated request (mpic.Handler), with this process's own resolver
// and ports (the va-* settings). It needs no database and no CA; its TLS
// certificate is a fresh self-signed one, since requests and answers are
// authenticated by the shared secret.
func ServePerspective(ctx context.Context, cfg *config.Serve, log *slog.Logger) error {
	return servePerspective(ctx, cfg, Options{}, log)
}

// servePerspective is ServePerspective with the timeouts of opts
// (BodyReadTimeout, IdleTimeout, WriteProgressTimeout; the other fields
// are not used).
func servePerspective(ctx context.Context, cfg *config.Serve, opts Options, log *slog.Logger) error {
	secretfile.WarnIfExposed(ctx, log, "perspective-secret-file", cfg.Perspectives.SecretFile)
	secret, err := mpic.ReadSecret(cfg.Perspectives.SecretFile)
	if err != nil {
		return err
	}
	// The configuration file's values that a flag or variable overrides
	// pass the start checks that need no CA (as New runs them).
	if err := cfg.CheckFileOnly(func(file *config.Serve) error {
		_, _, err := checkSettings(file, time.Now())
		return err
	}); err != nil {
		return err
	}
	v, err := va.New(va.Config{HTTPPort: cfg.VAHTTPPort, TLSPort: cfg.VATLSPort, DNSResolver: cfg.VADNSResolver,
		DNSTimeout: cfg.VADNSTimeout, DNSSEC: cfg.VADNSSEC,
		CAAIdentities: cfg.CAAIdentities, DenyNetworks: cfg.VADenyNetworks}, log.With("component", "va"))
	if err != nil {
		return fmt.Errorf("validation: %w", err)
	}
	cert, err := selfSigned(cfg.Hostname)
	if err != nil {
		return err
	}
	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return listenError("listen", cfg.Listen, err)
		}
	}
	h := mpic.NewHandler(mpic.Local{Perspective: cfg.Perspectives.Name, VA: v}, secret, nil, log.With("component", "perspective"))
	lim := opts.limits()
	srv := newHTTPServer(h, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, lim,
		slog.NewLogLogger(log.Handler(), slog.LevelDebug))
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(boundWrites(ln, lim.write), "", "") }()
	log.Info("certgate validation perspective serving", "perspective", cfg.Perspectives.Name, "listen", ln.Addr().String(),
		"resolver", cfg.VADNSResolver)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	serr := srv.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, serr)
}

// selfSigned returns a fresh self-signed ECDSA P-256 certificate for host
// (and localhost), valid for a year.
func selfSigned(host string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "certgate validation perspective"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else if host != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("perspective TLS certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
