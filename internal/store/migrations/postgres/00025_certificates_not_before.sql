-- Certificates by notBefore: the issued report (CountCertificatesBy) reads
-- its window's range of this index, page by page, instead of the whole
-- certificates table.
--
-- Built CONCURRENTLY outside a transaction (NO TRANSACTION), dropping an
-- index of the name an interrupted run left first, as 00021 (see there).
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS certificates_not_before;
CREATE INDEX CONCURRENTLY certificates_not_before ON certificates(not_before);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS certificates_not_before;
