-- The PostgreSQL twin of migrations/sqlite/00016_blocked_keys.sql (public
-- keys refused for issuance after a keyCompromise revocation, by SHA-256 of
-- their SubjectPublicKeyInfo).
-- +goose Up
CREATE TABLE blocked_keys (
    spki_sha256  BYTEA PRIMARY KEY,
    blocked_at   BIGINT NOT NULL,
    serial       TEXT COLLATE "C" NOT NULL,
    reason       INTEGER NOT NULL
);

-- +goose Down
DROP TABLE blocked_keys;
