-- A discovered certificate superseded at its endpoint (docs/discovery.md):
-- superseded_by is the serial of the newer certificate (later notAfter,
-- every name of this one) that the endpoint which last served this one
-- serves now, recorded by FinishScan when no endpoint serves this one any
-- more; '' when not superseded (cleared when an endpoint serves it again).
-- Like an ARI renewal (replaced_by), it leaves the certificate out of the
-- expiring report, the expiry notifications and the dashboard's counts
-- while its successor is valid. A constant default: PostgreSQL adds the
-- column without rewriting the table.
--
-- The partial index (only superseded certificates, for
-- CountCertificatesByExpiry) is built CONCURRENTLY, as 00021's is, so that
-- writes to certificates go on while it scans the table; hence NO
-- TRANSACTION, and every statement is harmless to repeat after an
-- interruption (an index left INVALID is dropped and built again).
-- +goose NO TRANSACTION
-- +goose Up
ALTER TABLE certificates ADD COLUMN IF NOT EXISTS superseded_by TEXT COLLATE "C" NOT NULL DEFAULT '';
DROP INDEX CONCURRENTLY IF EXISTS certificates_superseded_not_after;
CREATE INDEX CONCURRENTLY certificates_superseded_not_after ON certificates(status, not_after, superseded_by) WHERE superseded_by <> '';

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS certificates_superseded_not_after;
ALTER TABLE certificates DROP COLUMN IF EXISTS superseded_by;
