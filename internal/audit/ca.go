package audit

import (
	"crypto/x509"
	"time"
)

// Actions and object type of the built-in CA's intermediates (docs/pki.md).
const (
	// ActionIntermediateRotate: `certgate ca rotate` made a new
	// intermediate the one that signs (object: the new intermediate, by
	// its ID; before: the one it replaced, after: the new one); recorded
	// by `certgate serve` (actor system) when it finds DATA/ca rotated but
	// the database still naming the one it replaced (a rotation whose
	// database write failed).
	ActionIntermediateRotate = "intermediate.rotate"
	// ActionIntermediateRevoke: `certgate ca revoke-intermediate` revoked
	// a retired intermediate, which the root's CRL lists from then on.
	ActionIntermediateRevoke = "intermediate.revoke"
	// ActionIntermediatePrune: `certgate ca prune-retired` removed the
	// key of a retired intermediate whose certificates have all expired
	// and whose last CRL is past its nextUpdate.
	ActionIntermediatePrune = "intermediate.prune"
	// ObjectIntermediate is an intermediate CA certificate of the built-in
	// CA, by its ID (local.IntermediateID).
	ObjectIntermediate = "intermediate"
)

// Intermediate is an intermediate CA certificate as the events of
// ObjectIntermediate record it (before and after).
type Intermediate struct {
	ID        string    `json:"id"`               // local.IntermediateID
	Serial    string    `json:"serial"`           // lower-case hex
	Subject   string    `json:"subject"`          // distinguished name (pkix.Name.String)
	NotBefore time.Time `json:"not_before"`       // UTC
	NotAfter  time.Time `json:"not_after"`        // UTC
	Status    string    `json:"status"`           // signing, retired, revoked, pruned
	Reason    string    `json:"reason,omitempty"` // for revoked
}

// IntermediateOf is c, whose ID is id (local.IntermediateID), in status.
func IntermediateOf(c *x509.Certificate, id, status string) Intermediate {
	return Intermediate{ID: id, Serial: c.SerialNumber.Text(16), Subject: c.Subject.String(),
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Status: status}
}
