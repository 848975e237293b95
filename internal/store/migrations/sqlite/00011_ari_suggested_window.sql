-- ACME Renewal Information (RFC 9773): a suggested renewal window an
-- administrator set for one certificate (`certgate cert suggest-renewal`),
-- served by renewalInfo instead of the default window. Unix nanoseconds;
-- ari_window_end = 0 means none.
-- +goose Up
ALTER TABLE certificates ADD COLUMN ari_window_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN ari_window_end INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE certificates DROP COLUMN ari_window_end;
ALTER TABLE certificates DROP COLUMN ari_window_start;
