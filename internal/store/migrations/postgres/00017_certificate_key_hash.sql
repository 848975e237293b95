-- The PostgreSQL twin of migrations/sqlite/00017_certificate_key_hash.sql
-- (each certificate's key hash, store.KeyHash, for the revocation of every
-- certificate of a compromised key; filled for existing rows by the Go
-- migration 18). Adding a nullable column without a default rewrites no
-- row (a brief exclusive lock of the table, in its own statement).
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
ALTER TABLE certificates ADD COLUMN IF NOT EXISTS key_hash BYTEA;
DROP INDEX CONCURRENTLY IF EXISTS certificates_key;
CREATE INDEX CONCURRENTLY certificates_key ON certificates(key_hash) WHERE status = 'valid';

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS certificates_key;
ALTER TABLE certificates DROP COLUMN IF EXISTS key_hash;
