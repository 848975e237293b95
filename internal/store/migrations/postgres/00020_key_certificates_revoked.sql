-- A keyCompromise revocation also re-revokes, for keyCompromise, the key's
-- other unexpired certificates issued here that were revoked before for
-- another reason (CA/B Forum BR §7.2.2: on evidence of key compromise the
-- CA SHOULD update such a CRL entry's reasonCode to keyCompromise; their
-- revocation date stays). Store.RevokeCertificate finds them, with the
-- valid ones, by certificates_key, which now holds both; and a keyCompromise
-- revocation fills in the key hash of both (certificates_no_key). A row
-- revoked for keyCompromise leaves both indexes.
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
--
-- Each new index is built beside the one it replaces, under a name ending
-- in _new, then takes its name: the queries have an index all along but
-- for the moment between the drop and the rename (renaming an index locks
-- only the index, PostgreSQL 12 and later).
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS certificates_key_new;
CREATE INDEX CONCURRENTLY certificates_key_new ON certificates(key_hash) WHERE status = 'valid' OR (status = 'revoked' AND revocation_reason <> 1);
DROP INDEX CONCURRENTLY IF EXISTS certificates_key;
ALTER INDEX certificates_key_new RENAME TO certificates_key;
DROP INDEX CONCURRENTLY IF EXISTS certificates_no_key_new;
CREATE INDEX CONCURRENTLY certificates_no_key_new ON certificates(serial) WHERE key_hash IS NULL AND (status = 'valid' OR (status = 'revoked' AND revocation_reason <> 1));
DROP INDEX CONCURRENTLY IF EXISTS certificates_no_key;
ALTER INDEX certificates_no_key_new RENAME TO certificates_no_key;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS certificates_no_key_new;
CREATE INDEX CONCURRENTLY certificates_no_key_new ON certificates(serial) WHERE key_hash IS NULL AND status = 'valid';
DROP INDEX CONCURRENTLY IF EXISTS certificates_no_key;
ALTER INDEX certificates_no_key_new RENAME TO certificates_no_key;
DROP INDEX CONCURRENTLY IF EXISTS certificates_key_new;
CREATE INDEX CONCURRENTLY certificates_key_new ON certificates(key_hash) WHERE status = 'valid';
DROP INDEX CONCURRENTLY IF EXISTS certificates_key;
ALTER INDEX certificates_key_new RENAME TO certificates_key;
