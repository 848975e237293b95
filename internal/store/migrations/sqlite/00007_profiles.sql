-- Certificate profiles, External Account Binding keys (RFC 8555 §7.3.4)
-- and custom attributes. A profile is stored as its JSON document
-- (internal/policy.Profile). An EAB key binds accounts to an owner,
-- default attributes and an optional identifier allowlist. Orders record
-- their profile ('' for the default) and final attributes; accounts their EAB key and own
-- attributes (JSON objects of strings).
-- +goose Up
CREATE TABLE profiles (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE eab_keys (
    kid         TEXT PRIMARY KEY,
    hmac_key    TEXT NOT NULL,
    profile     TEXT NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',
    attributes  TEXT NOT NULL DEFAULT '{}',
    allow       TEXT NOT NULL DEFAULT '[]',
    single_use  INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER NOT NULL DEFAULT 0,
    account_id  TEXT
);

ALTER TABLE accounts ADD COLUMN eab_kid TEXT;
ALTER TABLE accounts ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE orders ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE orders DROP COLUMN attributes;
ALTER TABLE orders DROP COLUMN profile;
ALTER TABLE accounts DROP COLUMN attributes;
ALTER TABLE accounts DROP COLUMN eab_kid;
DROP TABLE eab_keys;
DROP TABLE profiles;
