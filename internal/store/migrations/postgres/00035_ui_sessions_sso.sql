-- The PostgreSQL twin of migrations/sqlite/00035_ui_sessions_sso.sql (see
-- there).
-- +goose Up
ALTER TABLE ui_sessions ADD COLUMN IF NOT EXISTS role TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE ui_sessions ADD COLUMN IF NOT EXISTS sso_issuer TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE ui_sessions ADD COLUMN IF NOT EXISTS sso_subject TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE ui_sessions ADD COLUMN IF NOT EXISTS display_name TEXT NOT NULL DEFAULT '';

-- +goose Down
DELETE FROM ui_sessions WHERE token_id = '';
ALTER TABLE ui_sessions DROP COLUMN IF EXISTS display_name;
ALTER TABLE ui_sessions DROP COLUMN IF EXISTS sso_subject;
ALTER TABLE ui_sessions DROP COLUMN IF EXISTS sso_issuer;
ALTER TABLE ui_sessions DROP COLUMN IF EXISTS role;
