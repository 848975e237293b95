-- Public keys the CA refuses to certify (CA/B Forum BR §6.1.1.3, §4.9.1.1;
-- RFC 8555 §7.6): a certificate revoked for keyCompromise (RFC 5280 §5.3.1
-- reason 1) blocks its key, in the revocation's own transaction
-- (Store.RevokeCertificate). The key is the SHA-256 of the DER
-- SubjectPublicKeyInfo as crypto/x509 encodes it (store.KeyHash), so that
-- every encoding of one key has one hash; finalize reads it by primary key
-- for the CSR's key. WITHOUT ROWID: the 32-byte hash is the row's only key,
-- so the point read walks one b-tree instead of an index and the table.
-- Rows are never deleted (a compromised key stays compromised).
-- +goose Up
CREATE TABLE blocked_keys (
    spki_sha256  BLOB PRIMARY KEY,     -- SHA-256 of the key's SubjectPublicKeyInfo
    blocked_at   INTEGER NOT NULL,     -- Unix ns, the revocation's time
    serial       TEXT NOT NULL,        -- the certificate whose revocation blocked the key
    reason       INTEGER NOT NULL      -- its RFC 5280 §5.3.1 reason code (1, keyCompromise)
) WITHOUT ROWID;

-- +goose Down
DROP TABLE blocked_keys;
