-- The PostgreSQL twin of migrations/sqlite/00017_certificate_key_hash.sql
-- (each certificate's key hash, store.KeyHash, for the revocation of every
-- certificate of a compromised key; filled for existing rows by the Go
-- migration 18). Adding a nullable column without a default rewrites no
-- row.
-- +goose Up
ALTER TABLE certificates ADD COLUMN key_hash BYTEA;
CREATE INDEX certificates_key ON certificates(key_hash) WHERE status = 'valid';

-- +goose Down
DROP INDEX certificates_key;
ALTER TABLE certificates DROP COLUMN key_hash;
