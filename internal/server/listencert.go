package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// ownCert is a certificate pair read from tls-cert and tls-key, and the
// bytes it was read from (the poll compares them).
type ownCert struct {
	cert     *tls.Certificate
	certPEM  []byte
	keyPEM   []byte
	certFile string
	keyFile  string
	// expiryWarned: the WARN that it expires soon was logged.
	expiryWarned atomic.Bool
}

// fileError is a one-line message about a setting's file that wraps the
// error of reading it (errors.Is(err, fs.ErrNotExist)) without repeating
// its text.
type fileError struct {
	msg string
	err error
}

func (e fileError) Error() string { return e.msg }
func (e fileError) Unwrap() error { return e.err }

// readSetting reads the file of a setting (tls-cert, tls-key), naming the
// setting, the path and the reason in one line when it cannot.
func readSetting(name, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fileError{fmt.Sprintf("%s: %s does not exist", name, path), err}
	case errors.Is(err, fs.ErrPermission):
		return nil, fileError{fmt.Sprintf("%s: %s cannot be read: permission denied (give the user certgate runs as read access)", name, path), err}
	}
	if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s: %s is a directory, not a PEM file", name, path)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("%s: %s cannot be read: %w", name, path, pe.Err)
	}
	return nil, fmt.Errorf("%s: %s cannot be read: %w", name, path, err)
}

// loadOwnCert reads and checks the pair of tls-cert and tls-key: the
// chain (leaf first), a private key of the leaf's public key, and a leaf
// valid at now. Each error is one line naming the setting and the file.
func loadOwnCert(certFile, keyFile string, now time.Time) (*ownCert, error) {
	certPEM, err := readSetting("tls-cert", certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readSetting("tls-key", keyFile)
	if err != nil {
		return nil, err
	}
	c, err := parseOwnCert(certFile, keyFile, certPEM, keyPEM, now)
	if err != nil {
		return nil, err
	}
	return &ownCert{cert: c, certPEM: certPEM, keyPEM: keyPEM, certFile: certFile, keyFile: keyFile}, nil
}

// parseOwnCert is loadOwnCert on the files' contents.
func parseOwnCert(certFile, keyFile string, certPEM, keyPEM []byte, now time.Time) (*tls.Certificate, error) {
	var chain [][]byte
	var certs []*x509.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue // e.g. the key, when both files are one
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls-cert: %s: certificate %d is not a valid X.509 certificate: %w", certFile, len(certs)+1, err)
		}
		chain, certs = append(chain, b.Bytes), append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("tls-cert: %s holds no certificate (a PEM block \"BEGIN CERTIFICATE\")", certFile)
	}
	leaf := certs[0]
	key, err := parsePrivateKey(keyFile, keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("tls-key: %s is not the key of the certificate in tls-cert %s (%s): their public keys differ", keyFile, certFile, describeCert(leaf))
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("tls-cert: %s: the certificate (%s) expired on %s", certFile, describeCert(leaf), leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("tls-cert: %s: the certificate (%s) is not valid before %s (check this machine's clock)", certFile, describeCert(leaf), leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// parsePrivateKey reads the first private key of a PEM file: PKCS#8
// ("PRIVATE KEY": RSA, ECDSA, Ed25519), PKCS#1 ("RSA PRIVATE KEY") or
// SEC 1 ("EC PRIVATE KEY").
func parsePrivateKey(keyFile string, keyPEM []byte) (crypto.Signer, error) {
	for rest := keyPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if !strings.HasSuffix(b.Type, "PRIVATE KEY") {
			continue
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "" {
			return nil, fmt.Errorf("tls-key: %s holds an encrypted private key: give it unencrypted, readable only by certgate's user (e.g. openssl pkey -in %s -out key.pem)", keyFile, keyFile)
		}
		var key any
		var err error
		switch b.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		default:
			return nil, fmt.Errorf("tls-key: %s: a %q PEM block is not a private key certgate reads (PKCS#8 \"PRIVATE KEY\", PKCS#1 \"RSA PRIVATE KEY\" or SEC 1 \"EC PRIVATE KEY\")", keyFile, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("tls-key: %s: the %q PEM block is not a valid private key: %w", keyFile, b.Type, err)
		}
		switch k := key.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case *ecdsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("tls-key: %s: the key is not an RSA, ECDSA or Ed25519 key (TLS signs with those only)", keyFile)
	}
	return nil, fmt.Errorf("tls-key: %s holds no private key (a PEM block \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\")", keyFile)
}

// describeCert names a certificate in log lines and errors: its subject
// (or first SAN) and the SHA-256 fingerprint of its DER.
func describeCert(c *x509.Certificate) string {
	name := c.Subject.CommonName
	if name == "" && len(c.DNSNames) > 0 {
		name = c.DNSNames[0]
	}
	sum := sha256.Sum256(c.Raw)
	if name == "" {
		return "sha256 " + hex.EncodeToString(sum[:])
	}
	return name + ", sha256 " + hex.EncodeToString(sum[:])
}

// sameFiles reports whether the files hold what o was read from.
func (o *ownCert) sameFiles(certPEM, keyPEM []byte) bool {
	return bytes.Equal(o.certPEM, certPEM) && bytes.Equal(o.keyPEM, keyPEM)
}

// DefaultTLSCheckInterval is how often a server with tls-cert and tls-key
// looks whether the files changed (Options.TLSCheckInterval).
const DefaultTLSCheckInterval = time.Minute

// ErrNoTLSFiles is ReloadTLS's error when tls-cert and tls-key are not
// set: the listeners' certificate is the built-in CA's, renewed in memory.
var ErrNoTLSFiles = errors.New("tls-cert and tls-key are not set: the built-in CA issues the listeners' certificate and renews it in memory")

// ReloadTLS reads tls-cert and tls-key again and serves the pair on new
// connections (connections open keep theirs). A pair that fails the
// checks of the start (file missing or unreadable, no certificate, key
// not the certificate's, certificate expired or not yet valid) is logged
// as an ERROR and returned, and the previous pair goes on being served.
// `certgate serve` calls it on SIGHUP; the server also calls it when the
// files change (Options.TLSCheckInterval).
func (s *Server) ReloadTLS() error {
	if s.cfg.TLSCert == "" {
		return ErrNoTLSFiles
	}
	o, err := loadOwnCert(s.cfg.TLSCert, s.cfg.TLSKey, s.now())
	s.swapOwn(o, err)
	return err
}

// swapOwn serves o, or, when err is set, logs why it is not served.
func (s *Server) swapOwn(o *ownCert, err error) {
	s.certMu.Lock()
	cur := s.own
	if err == nil {
		s.own = o
	}
	s.certMu.Unlock()
	if err != nil {
		s.log.Error("TLS certificate not reloaded: still serving the previous one", "err", err,
			"serving", describeCert(cur.cert.Leaf), "not_after", cur.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		return
	}
	s.log.Info("reloaded the TLS certificate", "tls_cert", o.certFile, "certificate", describeCert(o.cert.Leaf),
		"not_after", o.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	s.checkOwnCert(o)
}

// expiryWarning: a served tls-cert with less left than this is logged as
// a WARN (at start, at a reload, and once by watchTLSFiles).
const expiryWarning = 7 * 24 * time.Hour

// checkOwnCert warns about a served tls-cert that clients using hostname
// would refuse, or that expires within expiryWarning.
func (s *Server) checkOwnCert(o *ownCert) {
	leaf := o.cert.Leaf
	if err := leaf.VerifyHostname(s.cfg.Hostname); err != nil {
		s.log.Warn("the certificate of tls-cert does not name hostname: clients that connect by that name refuse it",
			"tls_cert", o.certFile, "hostname", s.cfg.Hostname, "dns_names", leaf.DNSNames, "ip_addresses", leaf.IPAddresses)
	}
	s.warnExpiry(o)
}

// warnExpiry logs a WARN, once per pair, when o has less than
// expiryWarning left.
func (s *Server) warnExpiry(o *ownCert) {
	if o.expiryWarned.Load() || o.cert.Leaf.NotAfter.Sub(s.now()) >= expiryWarning || o.expiryWarned.Swap(true) {
		return
	}
	s.log.Warn("the certificate of tls-cert expires soon: renew it and send SIGHUP (or let the server find the new files)",
		"tls_cert", o.certFile, "not_after", o.cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

// watchTLSFiles reloads tls-cert and tls-key whenever their contents
// change (certbot, cert-manager and the like renew them in place), every
// Options.TLSCheckInterval until ctx ends. A changed pair that fails the
// checks is logged (ReloadTLS's ERROR) when two looks in a row find it,
// so that a renewal caught between writing one file and the other logs
// nothing, and once only; it is tried again when the files change again.
func (s *Server) watchTLSFiles(ctx context.Context) {
	every := s.opts.TLSCheckInterval
	if every <= 0 {
		every = DefaultTLSCheckInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	// What the last look found bad, and whether it was logged.
	var lastCert, lastKey []byte
	var lastErr string
	logged := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.certMu.Lock()
		served := s.own
		s.certMu.Unlock()
		s.warnExpiry(served)
		certPEM, err := readSetting("tls-cert", s.cfg.TLSCert)
		var keyPEM []byte
		if err == nil {
			keyPEM, err = readSetting("tls-key", s.cfg.TLSKey)
		}
		if err == nil {
			s.certMu.Lock()
			same := s.own.sameFiles(certPEM, keyPEM)
			s.certMu.Unlock()
			if same {
				lastCert, lastKey, lastErr, logged = nil, nil, "", false
				continue
			}
			var c *tls.Certificate
			if c, err = parseOwnCert(s.cfg.TLSCert, s.cfg.TLSKey, certPEM, keyPEM, s.now()); err == nil {
				lastCert, lastKey, lastErr, logged = nil, nil, "", false
				s.swapOwn(&ownCert{cert: c, certPEM: certPEM, keyPEM: keyPEM, certFile: s.cfg.TLSCert, keyFile: s.cfg.TLSKey}, nil)
				continue
			}
		}
		if err.Error() == lastErr && bytes.Equal(certPEM, lastCert) && bytes.Equal(keyPEM, lastKey) {
			if !logged {
				logged = true
				s.swapOwn(nil, err)
			}
			continue
		}
		lastCert, lastKey, lastErr, logged = certPEM, keyPEM, err.Error(), false
	}
}
