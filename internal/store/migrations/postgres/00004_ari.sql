-- The PostgreSQL twin of migrations/sqlite/00004_ari.sql (RFC 9773 ARI).
-- +goose Up
ALTER TABLE orders ADD COLUMN replaces TEXT COLLATE "C";
ALTER TABLE certificates ADD COLUMN replaced_by TEXT COLLATE "C";
ALTER TABLE certificates ADD COLUMN replaced_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX certificates_replaced_by ON certificates(replaced_by) WHERE replaced_by IS NOT NULL;

-- +goose Down
DROP INDEX certificates_replaced_by;
ALTER TABLE certificates DROP COLUMN replaced_at;
ALTER TABLE certificates DROP COLUMN replaced_by;
ALTER TABLE orders DROP COLUMN replaces;
