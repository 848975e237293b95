-- The PostgreSQL twin of migrations/sqlite/00001_init.sql: same tables,
-- columns and indexes. Times are Unix nanoseconds (BIGINT), flags BOOLEAN,
-- JSON lists TEXT. Key columns use the "C" collation so that ordering and
-- keyset pagination compare bytes, as SQLite does.
-- +goose Up
CREATE TABLE accounts (
    id              TEXT COLLATE "C" PRIMARY KEY,
    key_thumbprint  TEXT COLLATE "C" NOT NULL UNIQUE,
    jwk             TEXT NOT NULL,
    status          TEXT NOT NULL,
    contact         TEXT NOT NULL DEFAULT '[]',
    tos_agreed      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL
);

CREATE TABLE orders (
    id           TEXT COLLATE "C" PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    status       TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    identifiers  TEXT NOT NULL,
    authz_ids    TEXT NOT NULL,
    not_before   BIGINT NOT NULL DEFAULT 0,
    not_after    BIGINT NOT NULL DEFAULT 0,
    error        TEXT,
    cert_serial  TEXT COLLATE "C",
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX orders_account ON orders(account_id, created_at, id);
CREATE INDEX orders_status ON orders(status, updated_at);

CREATE TABLE authorizations (
    id            TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    ident_type    TEXT NOT NULL,
    ident_value   TEXT NOT NULL,
    wildcard      BOOLEAN NOT NULL DEFAULT FALSE,
    status        TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    validated_at  BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);
CREATE INDEX authorizations_reuse ON authorizations(account_id, ident_type, ident_value, wildcard, status, expires_at);

CREATE TABLE challenges (
    id            TEXT COLLATE "C" PRIMARY KEY,
    authz_id      TEXT COLLATE "C" NOT NULL REFERENCES authorizations(id),
    type          TEXT COLLATE "C" NOT NULL,
    token         TEXT NOT NULL,
    status        TEXT NOT NULL,
    validated_at  BIGINT NOT NULL DEFAULT 0,
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX challenges_authz ON challenges(authz_id);
CREATE INDEX challenges_status ON challenges(status);

-- serials are reserved before signing so a crash can never reuse one.
CREATE TABLE serials (
    serial       TEXT COLLATE "C" PRIMARY KEY,
    reserved_at  BIGINT NOT NULL
);

CREATE TABLE certificates (
    serial              TEXT COLLATE "C" PRIMARY KEY REFERENCES serials(serial),
    issuer              TEXT NOT NULL,
    order_id            TEXT COLLATE "C",
    account_id          TEXT COLLATE "C",
    der                 BYTEA NOT NULL,
    chain_pem           TEXT NOT NULL,
    sans                TEXT NOT NULL,
    key_type            TEXT NOT NULL,
    fingerprint_sha256  TEXT NOT NULL UNIQUE,
    not_before          BIGINT NOT NULL,
    not_after           BIGINT NOT NULL,
    status              TEXT NOT NULL,
    revoked_at          BIGINT NOT NULL DEFAULT 0,
    revocation_reason   INTEGER NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL
);
CREATE INDEX certificates_account ON certificates(account_id);
CREATE INDEX certificates_revoked ON certificates(issuer, status);
CREATE INDEX certificates_not_after ON certificates(not_after);

-- +goose Down
DROP TABLE certificates;
DROP TABLE serials;
DROP TABLE challenges;
DROP TABLE authorizations;
DROP TABLE orders;
DROP TABLE accounts;
