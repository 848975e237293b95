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
	Serial            string    `json:"serial"`
	Issuer            string    `json:"issuer"`
	OrderID           string    `json:"order_id,omitempty"`
	AccountID         string    `json:"account_id,omitempty"`
	SANs              []string  `json:"sans"`
	KeyType           string    `json:"key_type"`
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
	NotBefore         time.Time `json:"not_before"`
	NotAfter          time.Time `json:"not_after"`
	Status            string    `json:"status"`
	RevokedAt         time.Time `json:"revoked_at,omitzero"`
	RevocationReason  int       `json:"revocation_reason,omitempty"`
}

// CertificateOf returns c as certificate events record it.
func CertificateOf(c *store.Certificate) Certificate {
	return Certificate{Serial: c.Serial, Issuer: c.Issuer, OrderID: c.OrderID, AccountID: c.AccountID, SANs: c.SANs,
		KeyType: c.KeyType, FingerprintSHA256: c.FingerprintSHA256, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		Status: c.Status, RevokedAt: c.RevokedAt, RevocationReason: c.RevocationReason}
}
