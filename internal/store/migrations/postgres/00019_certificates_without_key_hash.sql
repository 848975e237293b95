-- Valid certificates without a key hash (certificates.key_hash NULL): rows
-- whose DER does not parse, and rows that a node of an older certgate
-- stored after migration 18 filled the column (during a rolling upgrade of
-- a cluster). A keyCompromise revocation fills in their hash first
-- (Store.RevokeCertificate), so that it finds them too; the index keeps
-- that a read of a few entries. Created after the backfill, when it is
-- (nearly) empty.
-- +goose Up
CREATE INDEX certificates_no_key ON certificates(serial) WHERE key_hash IS NULL AND status = 'valid';

-- +goose Down
DROP INDEX certificates_no_key;
