-- The PostgreSQL twin of migrations/sqlite/00029_ui_sessions.sql (see
-- there).
-- +goose Up
CREATE TABLE IF NOT EXISTS ui_sessions (
    secret_hash TEXT COLLATE "C" PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    token_id    TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ui_sessions_expires ON ui_sessions(expires_at);

-- +goose Down
DROP TABLE IF EXISTS ui_sessions;
