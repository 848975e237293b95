package inventory

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/certgate/certgate/internal/audit"
	"github.com/certgate/certgate/internal/store"
)

// Known is the inventory record of a certificate served on the network:
// its inventory serial, its source, and whether AddDiscovered stored it.
type Known struct {
	Serial string // inventory serial (may be "SERIAL-FINGERPRINT16", see Import)
	Source string // store.SourceIssued, SourceImported or SourceDiscovered
	// Added: this call stored it (source discovered); false when the
	// inventory held it already.
	Added bool
}

// Sighting is where a scan found a certificate served: recorded in the
// certificate.discover audit event of a certificate AddDiscovered adds.
type Sighting struct {
	ScanID  string `json:"scan_id"`       // the scan (store.Scan.ID)
	Address string `json:"address"`       // IP address or DNS name tried
	Port    int    `json:"port"`          // TCP port
	SNI     string `json:"sni,omitempty"` // server name sent; absent for none
}

// discoveredEvent is the after of a certificate.discover event: the
// inventory record and where it was found.
type discoveredEvent struct {
	Certificate
	FoundAt Sighting `json:"found_at"`
}

// AddDiscovered makes sure the leaf certificate that a server presented,
// with the chain it served after it (chain[0] is the leaf's issuer, as in
// a TLS Certificate message, RFC 8446 §4.4.2; may be empty), is in the
// inventory: a certificate already there (same SHA-256 fingerprint:
// issued, imported or discovered before) is left as it is; a new one is
// stored with source discovered, the served certificates that issued it as
// its chain, and its serial keyed as Import keys a taken one. A
// concurrent scan storing the same certificate first is found, not an
// error. With WithAudit, a certificate this call stores gets a
// certificate.discover event (its record and at, where it was found) in
// the transaction that stores it; one already there gets none. Errors
// are the database's and the audit log's.
func (s *Service) AddDiscovered(ctx context.Context, leaf *x509.Certificate, chain []*x509.Certificate, at Sighting) (Known, error) {
	r := Record(leaf, chainPEM(leaf, indexSubjects(chain), nil), store.SourceDiscovered)
	for attempt := 0; ; attempt++ {
		old, err := s.st.GetCertificateByFingerprint(ctx, r.FingerprintSHA256)
		switch {
		case err == nil:
			return Known{Serial: old.Serial, Source: old.Source}, nil
		case !errors.Is(err, store.ErrNotFound):
			return Known{}, fmt.Errorf("look up fingerprint: %w", err)
		}
		rec := *r
		if err := s.keySerial(ctx, &rec, map[string]bool{}); err != nil {
			return Known{}, err
		}
		rec.CreatedAt = s.now().UTC()
		var events []*store.AuditAppend
		if s.audit != nil {
			ev, err := s.audit.Prepare(ctx, audit.Event{Actor: s.actor, Action: audit.ActionCertificateDiscover,
				ObjectType: audit.ObjectCertificate, ObjectID: rec.Serial,
				After: discoveredEvent{Certificate: view(&rec, rec.CreatedAt), FoundAt: at}})
			if err != nil {
				return Known{}, err
			}
			events = append(events, ev)
		}
		err = s.st.InsertCertificates(ctx, []*store.Certificate{&rec}, events...)
		if err == nil {
			return Known{Serial: rec.Serial, Source: rec.Source, Added: true}, nil
		}
		// Another scan stored it (fingerprint) or took the serial
		// meanwhile: look again, once.
		if !errors.Is(err, store.ErrConflict) || attempt > 0 {
			return Known{}, fmt.Errorf("store discovered certificate: %w", err)
		}
	}
}
