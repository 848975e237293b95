package audit

// Actions and object types of the certificate inventory's import and of
// rate limit overrides (docs/inventory.md, docs/rate-limits.md).
const (
	// ActionCertificateImport: `certgate cert import` stored a certificate
	// (object: the certificate, by its inventory serial).
	ActionCertificateImport = "certificate.import"
	// ActionRateLimitSet: `certgate ratelimit set` created or replaced an
	// override (object: "LIMIT SUBJECT", e.g. "new-orders-per-account
	// account:acct1").
	ActionRateLimitSet = "rate_limit.set"
	// ActionRateLimitDelete: `certgate ratelimit delete` removed an override.
	ActionRateLimitDelete = "rate_limit.delete"
	// ObjectRateLimitOverride is a per-subject rate limit override.
	ObjectRateLimitOverride = "rate_limit_override"
)
