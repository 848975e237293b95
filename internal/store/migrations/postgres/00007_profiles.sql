-- The PostgreSQL twin of migrations/sqlite/00007_profiles.sql (profiles,
-- EAB keys, custom attributes).
-- +goose Up
CREATE TABLE profiles (
    name        TEXT COLLATE "C" PRIMARY KEY,
    spec        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE eab_keys (
    kid         TEXT COLLATE "C" PRIMARY KEY,
    hmac_key    TEXT NOT NULL,
    profile     TEXT COLLATE "C" NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',
    attributes  TEXT NOT NULL DEFAULT '{}',
    allow       TEXT NOT NULL DEFAULT '[]',
    single_use  BOOLEAN NOT NULL DEFAULT FALSE,
    status      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT NOT NULL DEFAULT 0,
    account_id  TEXT COLLATE "C"
);

ALTER TABLE accounts ADD COLUMN eab_kid TEXT COLLATE "C";
ALTER TABLE accounts ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE orders ADD COLUMN profile TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE orders DROP COLUMN attributes;
ALTER TABLE orders DROP COLUMN profile;
ALTER TABLE accounts DROP COLUMN attributes;
ALTER TABLE accounts DROP COLUMN eab_kid;
DROP TABLE eab_keys;
DROP TABLE profiles;
