-- Valid certificates without a key hash (certificates.key_hash NULL): rows
-- whose DER does not parse, and rows that a node of an older certgate
-- stored after migration 18 filled the column (during a rolling upgrade of
-- a cluster). A keyCompromise revocation fills in their hash first
-- (Store.RevokeCertificate), so that it finds them too; the index keeps
-- that a read of a few entries. Created after the backfill, when it is
-- (nearly) empty; the build still reads the whole table.
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
DROP INDEX CONCURRENTLY IF EXISTS certificates_no_key;
CREATE INDEX CONCURRENTLY certificates_no_key ON certificates(serial) WHERE key_hash IS NULL AND status = 'valid';

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS certificates_no_key;
