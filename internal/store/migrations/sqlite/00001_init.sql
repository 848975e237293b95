-- +goose Up
CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    key_thumbprint  TEXT NOT NULL UNIQUE,
    jwk             TEXT NOT NULL,
    status          TEXT NOT NULL,
    contact         TEXT NOT NULL DEFAULT '[]',
    tos_agreed      INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL
);

CREATE TABLE orders (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    status       TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    identifiers  TEXT NOT NULL,
    authz_ids    TEXT NOT NULL,
    not_before   INTEGER NOT NULL DEFAULT 0,
    not_after    INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    cert_serial  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX orders_account ON orders(account_id, created_at, id);
CREATE INDEX orders_status ON orders(status, updated_at);

CREATE TABLE authorizations (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    ident_type    TEXT NOT NULL,
    ident_value   TEXT NOT NULL,
    wildcard      INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    validated_at  INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE INDEX authorizations_reuse ON authorizations(account_id, ident_type, ident_value, wildcard, status, expires_at);

CREATE TABLE challenges (
    id            TEXT PRIMARY KEY,
    authz_id      TEXT NOT NULL REFERENCES authorizations(id),
    type          TEXT NOT NULL,
    token         TEXT NOT NULL,
    status        TEXT NOT NULL,
    validated_at  INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX challenges_authz ON challenges(authz_id);
CREATE INDEX challenges_status ON challenges(status);

-- serials are reserved before signing so a crash can never reuse one.
CREATE TABLE serials (
    serial       TEXT PRIMARY KEY,
    reserved_at  INTEGER NOT NULL
);

CREATE TABLE certificates (
    serial              TEXT PRIMARY KEY REFERENCES serials(serial),
    issuer              TEXT NOT NULL,
    order_id            TEXT,
    account_id          TEXT,
    der                 BLOB NOT NULL,
    chain_pem           TEXT NOT NULL,
    sans                TEXT NOT NULL,
    key_type            TEXT NOT NULL,
    fingerprint_sha256  TEXT NOT NULL UNIQUE,
    not_before          INTEGER NOT NULL,
    not_after           INTEGER NOT NULL,
    status              TEXT NOT NULL,
    revoked_at          INTEGER NOT NULL DEFAULT 0,
    revocation_reason   INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL
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
