package audit

import (
	"time"

	"github.com/certgate/certgate/internal/store"
)

// Certificate is a certificate as the before and after of certificate.issue
// and certificate.revoke events record it, whichever way the change came:
// ACME, the admin API (through the RA), `certgate cert revoke` (through the
// inventory) or the keyCompromise cascade of any of them. Serial is
// lower-case hex; OrderID and AccountID are absent for a certificate not
// issued here; SANs are its subject alternative names; RevokedAt is absent
// while it is not revoked; RevocationReason is the RFC 5280 §5.3.1 code,
// absent for 0 (unspecified) and while not revoked.
type Certificate struct {
	Serial            string    `json:"serial"`                      // lower-case hex
	Issuer            string    `json:"issuer"`                      // issuer name, or DN for an imported certificate
	OrderID           string    `json:"order_id,omitempty"`          // "" when not issued here
	AccountID         string    `json:"account_id,omitempty"`        // "" when not issued here
	SANs              []string  `json:"sans"`                        // subject alternative names
	KeyType           string    `json:"key_type"`                    // e.g. "ECDSA P-256", "RSA 2048"
	FingerprintSHA256 string    `json:"fingerprint_sha256"`          // lower-case hex of the DER's SHA-256
	NotBefore         time.Time `json:"not_before"`                  // UTC
	NotAfter          time.Time `json:"not_after"`                   // UTC
	Status            string    `json:"status"`                      // "valid" or "revoked"
	RevokedAt         time.Time `json:"revoked_at,omitzero"`         // zero while not revoked
	RevocationReason  int       `json:"revocation_reason,omitempty"` // RFC 5280 §5.3.1 code; 0 absent
}

// CertificateOf returns c as certificate events record it.
func CertificateOf(c *store.Certificate) Certificate {
	return Certificate{Serial: c.Serial, Issuer: c.Issuer, OrderID: c.OrderID, AccountID: c.AccountID, SANs: c.SANs,
		KeyType: c.KeyType, FingerprintSHA256: c.FingerprintSHA256, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		Status: c.Status, RevokedAt: c.RevokedAt, RevocationReason: c.RevocationReason}
}
