package audit

// Actions and object type of the built-in CA's intermediates (docs/pki.md).
const (
	// ActionIntermediateRotate: `certgate ca rotate` made a new
	// intermediate the one that signs (object: the new intermediate, by
	// its ID; before: the one it replaced, after: the new one).
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
