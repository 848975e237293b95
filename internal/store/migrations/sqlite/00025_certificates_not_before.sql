-- Certificates by notBefore, with their profile: the issued report
-- (CountCertificatesBy) reads its window's range of this index, page by
-- page, instead of the whole certificates table; by day and by profile
-- without reading a row (covering). Not the issuer: an imported
-- certificate's issuer DN has no length bound, and a btree entry has one. IF NOT EXISTS: tests that forget a later migration
-- (ForgetKeyHashes) apply it again.
-- +goose Up
CREATE INDEX IF NOT EXISTS certificates_not_before ON certificates(not_before, profile);

-- +goose Down
DROP INDEX IF EXISTS certificates_not_before;
