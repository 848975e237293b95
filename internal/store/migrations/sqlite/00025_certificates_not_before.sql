-- Certificates by notBefore: the issued report (CountCertificatesBy) reads
-- its window's range of this index, page by page, instead of the whole
-- certificates table. IF NOT EXISTS: tests that forget a later migration
-- (ForgetKeyHashes) apply it again.
-- +goose Up
CREATE INDEX IF NOT EXISTS certificates_not_before ON certificates(not_before);

-- +goose Down
DROP INDEX IF EXISTS certificates_not_before;
