-- The PostgreSQL twin of migrations/sqlite/00011_ari_suggested_window.sql
-- (an administrator's RFC 9773 suggested window per certificate).
-- +goose Up
ALTER TABLE certificates ADD COLUMN ari_window_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN ari_window_end BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE certificates DROP COLUMN ari_window_end;
ALTER TABLE certificates DROP COLUMN ari_window_start;
