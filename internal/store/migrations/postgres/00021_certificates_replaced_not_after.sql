-- Certificates whose ARI replacement (RFC 9773) has been issued
-- (replaced_at set when the order naming them in "replaces" became valid),
-- by status and notAfter: CountCertificatesByExpiry (the metric
-- certgate_certificates_by_expiry) leaves them out when that replacement is
-- still valid, as the expiring report does, by subtracting the ones in its
-- window found here from the covering count of certificates_status_not_after,
-- so that besides index entries it reads only the order and the certificate
-- that renewed each renewed certificate of the window (two primary-key
-- lookups each). replaced_at is in the index so that it covers the
-- statement (SQLite reads the column of the "<> 0" condition too).
--
-- PostgreSQL builds the index CONCURRENTLY (docs/operations.md, "Upgrades"):
-- writes to certificates go on while it scans the table, where a plain
-- CREATE INDEX in the migration's transaction held them off for the whole
-- build (35-55 s per million certificates for certificates_key). CREATE
-- INDEX CONCURRENTLY cannot run in a transaction, so the migration has
-- none (NO TRANSACTION): each statement commits on its own, and goose
-- records the version after the last one. Run again after an interruption,
-- every statement is harmless to repeat: an index of the name a statement
-- builds that is there already is what an interrupted run left behind
-- (INVALID when its build was interrupted, or built but not recorded), as
-- migrations run one node at a time under the advisory lock (store.migrate),
-- and is dropped and built again.
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS certificates_replaced_not_after;
CREATE INDEX CONCURRENTLY certificates_replaced_not_after ON certificates(status, not_after, replaced_by, replaced_at) WHERE replaced_at <> 0;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS certificates_replaced_not_after;
