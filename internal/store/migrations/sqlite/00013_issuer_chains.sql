-- Issuer chains stored once: a certificate issued from now on keeps its DER
-- and a reference (chain_id) to the intermediates of its chain, PEM as
-- served, stored once per distinct chain; the leaf's PEM block is encoded
-- from der when the chain is served (RFC 8555 §7.4.2), so chain_pem is ''.
-- Certificates stored before keep their whole chain in chain_pem and
-- chain_id NULL. No foreign key: every certificate would reference one of
-- a few rows, and on PostgreSQL the check would lock that row in every
-- issuing transaction; the store inserts the chain in the certificate's
-- own transaction and never deletes one.
-- +goose Up
CREATE TABLE issuer_chains (
    id      INTEGER PRIMARY KEY,
    sha256  BLOB NOT NULL UNIQUE, -- SHA-256 of pem
    pem     TEXT NOT NULL         -- the intermediates, PEM, as served after the leaf
);
ALTER TABLE certificates ADD COLUMN chain_id INTEGER;

-- +goose Down
-- SQLite has no base64 function to put the leaf's PEM back into chain_pem:
-- with certificates stored in the new form this fails on the CHECK
-- (restore the backup taken before the upgrade instead, docs/operations.md).
CREATE TEMP TABLE down_00013 (certificates_without_chain_pem INTEGER CHECK (certificates_without_chain_pem = 0));
INSERT INTO down_00013 SELECT COUNT(*) FROM certificates WHERE chain_id IS NOT NULL;
DROP TABLE down_00013;
ALTER TABLE certificates DROP COLUMN chain_id;
DROP TABLE issuer_chains;
