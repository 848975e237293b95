-- Sessions of the web dashboard (/ui/, internal/web): a person signs in
-- with an admin API token and gets a session cookie; the row lives here so
-- that every node of a cluster accepts the cookie. Only the hex SHA-256 of
-- the session's secret is stored (secret_hash); id is its public name (the
-- audit log's object ID). A session ends at expires_at (absolute), or when
-- it was idle since last_seen for longer than the server's idle limit, or
-- when its token (token_id) is revoked or expires. No foreign key: a
-- token is never deleted, only revoked. ui_sessions_expires serves the
-- pruning of ended sessions. IF NOT EXISTS: tests that forget earlier
-- migrations (ForgetKeyHashes) apply it again.
-- +goose Up
CREATE TABLE IF NOT EXISTS ui_sessions (
    secret_hash TEXT PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    token_id    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ui_sessions_expires ON ui_sessions(expires_at);

-- +goose Down
DROP TABLE IF EXISTS ui_sessions;
