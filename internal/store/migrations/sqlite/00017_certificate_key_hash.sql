-- Every certificate row names its public key: key_hash is store.KeyHash of
-- it (SHA-256 of the DER SubjectPublicKeyInfo as crypto/x509 encodes it,
-- 32 bytes; the key of blocked_keys), NULL only for a row whose DER does
-- not parse. A revocation for keyCompromise revokes the key's other
-- unexpired certificates issued here in its own transaction (CA/B Forum
-- BR §4.9.1.1), found by certificates_key; FinishOrder checks the key of
-- the certificate it stores against blocked_keys. The index holds valid
-- certificates only (the revocation looks for those; a revoked row leaves
-- it). Existing rows get their hash from the Go migration 18 (keyhash.go),
-- which parses each row's DER: SQL cannot; rows stored without one later
-- are found by 00019's index.
-- +goose Up
ALTER TABLE certificates ADD COLUMN key_hash BLOB;
CREATE INDEX certificates_key ON certificates(key_hash) WHERE status = 'valid';

-- +goose Down
DROP INDEX certificates_key;
ALTER TABLE certificates DROP COLUMN key_hash;
