-- Cluster support: nonces redeemed by any node, validation leases, and
-- cluster-wide settings (such as the CA every node must share).
-- +goose Up
-- A redeemed nonce is recorded here until it expires, so that no node
-- accepts it again (RFC 8555 §6.5).
CREATE TABLE used_nonces (
    nonce       TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX used_nonces_expiry ON used_nonces(expires_at);

-- The node validating a challenge holds a lease on it; when the node dies
-- the lease runs out and another node resumes the validation.
ALTER TABLE challenges ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE challenges ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;

CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
ALTER TABLE challenges DROP COLUMN lease_until;
ALTER TABLE challenges DROP COLUMN lease_owner;
DROP TABLE used_nonces;
