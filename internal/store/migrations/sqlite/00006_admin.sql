-- Admin API tokens and the hash-chained audit log (issue #7).
-- +goose Up
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,          -- hex SHA-256 of the whole token
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    expires_at  INTEGER NOT NULL DEFAULT 0, -- 0: never
    revoked_at  INTEGER NOT NULL DEFAULT 0  -- 0: not revoked
);
-- A name belongs to one unrevoked token at a time.
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens(name) WHERE revoked_at = 0;

-- Append-only: rows are only ever inserted, in seq order, each one's hash
-- covering the previous one's (see internal/audit).
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    source       TEXT NOT NULL,
    before       TEXT NOT NULL DEFAULT '',
    after        TEXT NOT NULL DEFAULT '',
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_events_object ON audit_events(object_type, object_id, seq);

-- The chain's head (one row): the last event's seq and hash, updated in the
-- transaction that appends, so that deleting the newest events is detected.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit_events;
DROP TABLE api_tokens;
