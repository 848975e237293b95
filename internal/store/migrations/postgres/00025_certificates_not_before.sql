-- Certificates by notBefore, with their profile: the issued report
-- (CountCertificatesBy) reads its window's range of this index, page by
-- page, instead of the whole certificates table; by day and by profile
-- without reading a row (covering). Not the issuer: an imported
-- certificate's issuer DN has no length bound, and a btree entry has one.
--
-- Built CONCURRENTLY outside a transaction (NO TRANSACTION), dropping an
-- index of the name an interrupted run left first, as 00021 (see there).
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS certificates_not_before;
CREATE INDEX CONCURRENTLY certificates_not_before ON certificates(not_before, profile);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS certificates_not_before;
