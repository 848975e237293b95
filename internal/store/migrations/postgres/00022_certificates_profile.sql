-- Certificates by profile, then notAfter: the inventory's profile filter
-- (certificate list and reports, sorted by notAfter), the check that a
-- filter names a known profile (ProfileKnown) and the use count of a
-- profile to be deleted (profileUse) seek it instead of reading the whole
-- certificates table.
--
-- Built CONCURRENTLY outside a transaction (NO TRANSACTION), dropping an
-- index of the name an interrupted run left first, as 00021 (see there).
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS certificates_profile;
CREATE INDEX CONCURRENTLY certificates_profile ON certificates(profile, not_after, serial);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS certificates_profile;
