package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/inventory"
	"github.com/certgate/certgate/internal/issuer"
	"github.com/certgate/certgate/internal/store"
)

// ListenerCertFile is where the server keeps the listener certificate the
// built-in CA issued it (when tls-cert and tls-key are not set), below the
// data directory: the chain (leaf first) and the leaf's private key
// (PKCS#8) in PEM, mode 0600, in a directory of mode 0700. A restart
// serves it again while its inventory record is valid and not superseded,
// it names the hostname and loopback addresses the server needs, the
// current intermediate signed it and more than a third of its life is
// left (or it ends with the intermediate, which cut it to its own
// notAfter, and has not expired); else it issues a new one, which
// supersedes it (docs/pki.md).
func ListenerCertFile(data string) string { return filepath.Join(data, "listener", "listener.pem") }

// listenerIssueTimeout bounds the database writes and the signature of a
// listener certificate's issuance.
const listenerIssueTimeout = 30 * time.Second

// listenerNames are the SANs of the listener certificate: the configured
// hostname, localhost, 127.0.0.1 and ::1.
func (s *Server) listenerNames() ([]string, []net.IP) {
	names := []string{"localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if ip := net.ParseIP(s.cfg.Hostname); ip != nil {
		if !ip.IsLoopback() {
			ips = append(ips, ip)
		}
	} else if s.cfg.Hostname != "localhost" {
		names = append([]string{s.cfg.Hostname}, names...)
	}
	return names, ips
}

// listenerIssued is the after of a listener certificate's
// certificate.issue event: the certificate as ACME issuance records it,
// its source and profile, and the serial of the listener certificate it
// supersedes ("" for none).
type listenerIssued struct {
	audit.Certificate
	Source     string `json:"source"`
	Profile    string `json:"profile"`
	Supersedes string `json:"supersedes,omitempty"`
}

// issueListenerCert issues the listeners' certificate by the durable path
// of ACME issuance: a serial reserved in the database before it is signed
// (store.ReserveSerial, never used again), then the record (source
// listener, profile certgate-listener) stored with its certificate.issue
// audit event and, when supersedes is the serial of the listener
// certificate served before, that one marked superseded, in one
// transaction. A certificate whose record is not stored is not returned
// (its serial stays reserved). The certificate and its key are then
// written to ListenerCertFile for the next start; a failure to write them
// is logged, and the certificate served nonetheless. It spends no ACME
// rate limit.
func (s *Server) issueListenerCert(ctx context.Context, supersedes string) (*tls.Certificate, string, error) {
	now := s.now()
	var serial *big.Int
	var hexSerial string
	for try := 0; ; try++ {
		serial, hexSerial = store.NewSerial(now)
		err := s.store.ReserveSerial(ctx, hexSerial, now)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) || try == 2 {
			return nil, "", fmt.Errorf("reserve serial: %w", err)
		}
	}
	names, ips := s.listenerNames()
	c, err := s.issueServerCert(ctx, serial, names, ips, serverCertValidity)
	if err != nil {
		return nil, "", err
	}
	if c.Leaf == nil || c.Leaf.SerialNumber.Cmp(serial) != 0 {
		return nil, "", fmt.Errorf("the built-in CA did not sign with the reserved serial %s", hexSerial)
	}
	if s.ca != nil && !c.Leaf.NotAfter.Before(s.ca.Intermediate().NotAfter) {
		s.log.Warn("the listener certificate is cut to end with the built-in CA's intermediate, which expires within its validity: make a new intermediate with certgate ca rotate",
			"serial", hexSerial, "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	rec := listenerRecord(&c, hexSerial, now)
	var events []*store.AuditAppend
	if s.audit != nil {
		ev, err := s.audit.Prepare(ctx, audit.Event{Actor: audit.ActorSystem, Action: audit.ActionCertificateIssue,
			ObjectType: audit.ObjectCertificate, ObjectID: rec.Serial,
			After: listenerIssued{Certificate: audit.CertificateOf(rec), Source: rec.Source, Profile: rec.Profile, Supersedes: supersedes}})
		if err != nil {
			return nil, "", fmt.Errorf("audit event: %w", err)
		}
		events = append(events, ev)
	}
	if err := s.store.StoreListenerCertificate(ctx, rec, supersedes, events...); err != nil {
		s.listenerCertLost(ctx, rec, err)
		return nil, "", fmt.Errorf("certificate %s signed but not recorded in the inventory, so not served (its serial stays reserved): %w", hexSerial, err)
	}
	if err := writeListenerFile(ListenerCertFile(s.cfg.Data), &c); err != nil {
		s.log.Warn("the listener certificate is served, but not kept for the next start: it will issue another", "err", err, "serial", hexSerial)
	}
	return &c, hexSerial, nil
}

// listenerCertLost records, as ACME issuance does, a certificate.store_failed
// event for rec, a listener certificate signed but not stored (err), in a
// transaction of its own when the database takes it; a failure is logged.
func (s *Server) listenerCertLost(ctx context.Context, rec *store.Certificate, err error) {
	s.log.Error("signed listener certificate lost: it could not be recorded, its serial stays reserved and it is not served",
		"serial", rec.Serial, "not_after", rec.NotAfter, "fingerprint_sha256", rec.FingerprintSHA256, "err", err)
	if s.audit == nil {
		return
	}
	// ctx may be over (the cause): a few seconds of their own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if aerr := s.audit.Record(ctx, audit.Event{Actor: audit.ActorSystem, Action: audit.ActionCertificateStoreFailed,
		ObjectType: audit.ObjectCertificate, ObjectID: rec.Serial,
		After: listenerIssued{Certificate: audit.CertificateOf(rec), Source: rec.Source, Profile: rec.Profile}}); aerr != nil {
		s.log.Error("audit of a lost listener certificate", "serial", rec.Serial, "err", aerr)
	}
}

// listenerRecord is the inventory record of c, a listener certificate of
// the built-in CA with serial hexSerial, written at now.
func listenerRecord(c *tls.Certificate, hexSerial string, now time.Time) *store.Certificate {
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	rec := inventory.Record(c.Leaf, string(chain), store.SourceListener)
	rec.Serial, rec.Issuer, rec.Profile, rec.CreatedAt = hexSerial, issuer.LocalName, store.ListenerProfile, now
	return rec
}

// startListenerCert sets the listener certificate at start: the one of
// ListenerCertFile when it may be served again (reusableListenerCert),
// else a new one (issueListenerCert) that supersedes it when it is
// recorded as the current listener certificate.
func (s *Server) startListenerCert(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, listenerIssueTimeout)
	defer cancel()
	path := ListenerCertFile(s.cfg.Data)
	kept, supersedes, why := s.reusableListenerCert(ctx, path)
	if kept != nil {
		s.certMu.Lock()
		s.tlsCert, s.tlsSerial = kept, supersedes
		s.certMu.Unlock()
		s.log.Info("serving the listener certificate kept from the previous start", "serial", supersedes,
			"not_after", kept.Leaf.NotAfter.UTC().Format(time.RFC3339), "file", path)
		return nil
	}
	c, serial, err := s.issueListenerCert(ctx, supersedes)
	if err != nil {
		return fmt.Errorf("server TLS certificate: %w", err)
	}
	s.certMu.Lock()
	s.tlsCert, s.tlsSerial = c, serial
	s.certMu.Unlock()
	if why != "" {
		s.log.Info("issued a new listener certificate", "serial", serial, "supersedes", supersedes, "reason", why,
			"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// reusableListenerCert reads the listener certificate kept at path. It
// returns it, with its serial, when it may be served again: the file has
// mode 0600 (no access for group or others), its key is the leaf's, the
// current intermediate signed it, it names exactly listenerNames, it is
// not due for renewal (listenerRenewalDue: else it would be renewed at
// once) and the inventory records it as the current listener
// certificate (valid, not superseded). Otherwise it returns nil, the serial of the recorded
// current listener certificate it holds (to supersede; "" when none) and
// why it is not served ("" when there is no file: the first start).
func (s *Server) reusableListenerCert(ctx context.Context, path string) (*tls.Certificate, string, string) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", ""
	}
	if err != nil {
		return nil, "", err.Error()
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err.Error()
	}
	// The record first: one expired, or whose key is lost, is superseded
	// all the same.
	var der []byte
	for rest := b; der == nil; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			return nil, "", path + " holds no certificate"
		}
		if blk.Type == "CERTIFICATE" {
			der = blk.Bytes
		}
	}
	sum := sha256.Sum256(der)
	rec, err := s.store.CurrentListenerCertificate(ctx, hex.EncodeToString(sum[:]))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, "", "not the current listener certificate of the inventory (revoked, superseded or not recorded)"
	case err != nil:
		return nil, "", err.Error()
	}
	now := s.now()
	c, err := parseOwnCert(path, path, b, b, now)
	if err != nil {
		return nil, rec.Serial, err.Error()
	}
	names, ips := s.listenerNames()
	switch {
	case fi.Mode().Perm()&0o077 != 0:
		return nil, rec.Serial, fmt.Sprintf("%s has mode %04o: others than certgate's user may read its key", path, fi.Mode().Perm())
	case len(c.Certificate) < 2 || s.ca == nil || !slices.Equal(c.Certificate[1], s.ca.Intermediate().Raw):
		return nil, rec.Serial, "not signed by the current intermediate"
	case !slices.Equal(c.Leaf.DNSNames, names) || !slices.EqualFunc(c.Leaf.IPAddresses, ips, func(a, b net.IP) bool { return a.Equal(b) }):
		return nil, rec.Serial, "names other than the hostname and loopback addresses the server needs"
	case s.listenerRenewalDue(c.Leaf, now):
		return nil, rec.Serial, "due for renewal"
	}
	return c, rec.Serial, ""
}

// writeListenerFile writes c's chain and key to path (ListenerCertFile)
// with mode 0600, replacing it whole (a new file renamed over it, synced),
// in a directory created with mode 0700.
func writeListenerFile(path string, c *tls.Certificate) error {
	var b []byte
	for _, der := range c.Certificate {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return fmt.Errorf("listener certificate key: %w", err)
	}
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})...)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("listener certificate: %w", err)
	}
	f, err := os.CreateTemp(dir, ".listener-*.pem")
	if err != nil {
		return fmt.Errorf("listener certificate: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: none
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("listener certificate: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("listener certificate: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("listener certificate: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("listener certificate: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("listener certificate: %w", err)
	}
	return errors.Join(d.Sync(), d.Close())
}
