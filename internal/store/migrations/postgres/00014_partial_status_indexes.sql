-- Indexes on status columns hold only the rows that the queries using them
-- look for (partial indexes), instead of every row: an issuance flow moves
-- its order, authorization and challenge through several statuses, and
-- each move of a row rewrote its entry in every index on its status, one
-- more page (WAL frame) per commit each. Rows in their final status
-- (valid orders, authorizations and challenges, valid certificates) now
-- leave or never enter these indexes. A query uses a partial index only
-- when its WHERE repeats the index's condition with the same literals
-- (SQLite; PostgreSQL proves it from the literals too).
--
--   challenges_processing: ExpiredLeases (processing challenges by lease
--     expiry), replacing challenges(status), which held every challenge
--     (two of each authorization's three stay pending for ever).
--   authorizations_pending: PendingAuthorizations (an account's pending
--     authorizations, the rate limit) and the sweep of stale pending ones,
--     replacing authorizations(account_id, status, expires_at) and, with
--     authorizations_failed, authorizations(status, expires_at).
--   authorizations_failed: the sweep of invalid authorizations and of
--     deactivated ones that were never valid.
--   authorizations_valid: authorization reuse and revocation checks
--     (FindValidAuthorization, ValidAuthorizationsFor), replacing
--     authorizations(account_id, ident_type, ident_value, wildcard,
--     status, expires_at).
--   orders_stale: the sweep of pending and invalid orders;
--   orders_processing: orders left processing by a crash; both replacing
--     orders(status, updated_at).
--   certificates_revoked: the CRL (an issuer's revoked certificates),
--     replacing certificates(issuer, status).
--
-- Index builds only (no table is rewritten).
-- +goose Up
DROP INDEX challenges_status;
CREATE INDEX challenges_processing ON challenges(lease_until) WHERE status = 'processing';

DROP INDEX authorizations_account_status;
DROP INDEX authorizations_status;
DROP INDEX authorizations_reuse;
CREATE INDEX authorizations_pending ON authorizations(account_id, expires_at) WHERE status = 'pending';
CREATE INDEX authorizations_failed ON authorizations(expires_at) WHERE status = 'invalid' OR (status = 'deactivated' AND validated_at = 0);
CREATE INDEX authorizations_valid ON authorizations(account_id, ident_type, ident_value, wildcard, expires_at) WHERE status = 'valid';

DROP INDEX orders_status;
CREATE INDEX orders_stale ON orders(expires_at) WHERE status IN ('pending', 'invalid');
CREATE INDEX orders_processing ON orders(updated_at) WHERE status = 'processing';

DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked ON certificates(issuer, not_after) WHERE status = 'revoked';

-- +goose Down
DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked ON certificates(issuer, status);

DROP INDEX orders_processing;
DROP INDEX orders_stale;
CREATE INDEX orders_status ON orders(status, updated_at);

DROP INDEX authorizations_valid;
DROP INDEX authorizations_failed;
DROP INDEX authorizations_pending;
CREATE INDEX authorizations_reuse ON authorizations(account_id, ident_type, ident_value, wildcard, status, expires_at);
CREATE INDEX authorizations_status ON authorizations(status, expires_at);
CREATE INDEX authorizations_account_status ON authorizations(account_id, status, expires_at);

DROP INDEX challenges_processing;
CREATE INDEX challenges_status ON challenges(status);
