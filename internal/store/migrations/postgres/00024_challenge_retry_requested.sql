-- The PostgreSQL twin of migrations/sqlite/00024_challenge_retry_requested.sql.
-- A column with a constant default is added without rewriting the table
-- (PostgreSQL 11 and later): the ALTER holds its lock for a moment only.
-- No index.
-- +goose Up
ALTER TABLE challenges ADD COLUMN retry_requested_at BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE challenges DROP COLUMN retry_requested_at;
