-- The PostgreSQL twin of migrations/sqlite/00002_cluster.sql.
-- +goose Up
CREATE TABLE used_nonces (
    nonce       TEXT COLLATE "C" PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX used_nonces_expiry ON used_nonces(expires_at);

ALTER TABLE challenges ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE challenges ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;

CREATE TABLE settings (
    name   TEXT COLLATE "C" PRIMARY KEY,
    value  TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
ALTER TABLE challenges DROP COLUMN lease_until;
ALTER TABLE challenges DROP COLUMN lease_owner;
DROP TABLE used_nonces;
