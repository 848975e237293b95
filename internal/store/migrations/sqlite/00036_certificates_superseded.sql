-- A discovered certificate superseded at its endpoint (docs/discovery.md):
-- superseded_by is the serial of the newer certificate (later notAfter,
-- every name of this one) that the endpoint which last served this one
-- serves now, recorded by FinishScan when no endpoint serves this one any
-- more; '' when not superseded (cleared when an endpoint serves it again).
-- Like an ARI renewal (replaced_by), it leaves the certificate out of the
-- expiring report, the expiry notifications and the dashboard's counts
-- while its successor is valid. A constant default: adding the column
-- rewrites no row. The partial index holds only superseded certificates
-- (none when it is built), for CountCertificatesByExpiry.
-- +goose Up
ALTER TABLE certificates ADD COLUMN superseded_by TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS certificates_superseded_not_after ON certificates(status, not_after, superseded_by) WHERE superseded_by <> '';

-- +goose Down
DROP INDEX IF EXISTS certificates_superseded_not_after;
ALTER TABLE certificates DROP COLUMN superseded_by;
