-- A keyCompromise revocation also re-revokes, for keyCompromise, the key's
-- other unexpired certificates issued here that were revoked before for
-- another reason (CA/B Forum BR §7.2.2: on evidence of key compromise the
-- CA SHOULD update such a CRL entry's reasonCode to keyCompromise; their
-- revocation date stays). Store.RevokeCertificate finds them, with the
-- valid ones, by certificates_key, which now holds both; and a keyCompromise
-- revocation fills in the key hash of both (certificates_no_key). A row
-- revoked for keyCompromise leaves both indexes.
-- +goose Up
DROP INDEX certificates_key;
CREATE INDEX certificates_key ON certificates(key_hash) WHERE status = 'valid' OR (status = 'revoked' AND revocation_reason <> 1);
DROP INDEX certificates_no_key;
CREATE INDEX certificates_no_key ON certificates(serial) WHERE key_hash IS NULL AND (status = 'valid' OR (status = 'revoked' AND revocation_reason <> 1));

-- +goose Down
DROP INDEX certificates_no_key;
CREATE INDEX certificates_no_key ON certificates(serial) WHERE key_hash IS NULL AND status = 'valid';
DROP INDEX certificates_key;
CREATE INDEX certificates_key ON certificates(key_hash) WHERE status = 'valid';
