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
-- Index builds only (no table is rewritten), CONCURRENTLY outside a
-- transaction (NO TRANSACTION), as 00017 and later (see 00021): writes to
-- these tables go on while a large database upgrades, where a plain CREATE
-- or DROP INDEX in the migration's transaction held them off until the
-- last build ended. Each new index is built before the ones it replaces
-- are dropped; certificates_revoked, whose name stays, is built beside the
-- old one as certificates_revoked_new and then renamed (as 00020). Every
-- statement is harmless to repeat after an interruption: an index of the
-- name a statement builds that is there already is what an interrupted run
-- left behind, and is dropped and built again.
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS challenges_processing;
CREATE INDEX CONCURRENTLY challenges_processing ON challenges(lease_until) WHERE status = 'processing';
DROP INDEX CONCURRENTLY IF EXISTS challenges_status;

DROP INDEX CONCURRENTLY IF EXISTS authorizations_pending;
CREATE INDEX CONCURRENTLY authorizations_pending ON authorizations(account_id, expires_at) WHERE status = 'pending';
DROP INDEX CONCURRENTLY IF EXISTS authorizations_failed;
CREATE INDEX CONCURRENTLY authorizations_failed ON authorizations(expires_at) WHERE status = 'invalid' OR (status = 'deactivated' AND validated_at = 0);
DROP INDEX CONCURRENTLY IF EXISTS authorizations_valid;
CREATE INDEX CONCURRENTLY authorizations_valid ON authorizations(account_id, ident_type, ident_value, wildcard, expires_at) WHERE status = 'valid';
DROP INDEX CONCURRENTLY IF EXISTS authorizations_account_status;
DROP INDEX CONCURRENTLY IF EXISTS authorizations_status;
DROP INDEX CONCURRENTLY IF EXISTS authorizations_reuse;

DROP INDEX CONCURRENTLY IF EXISTS orders_stale;
CREATE INDEX CONCURRENTLY orders_stale ON orders(expires_at) WHERE status IN ('pending', 'invalid');
DROP INDEX CONCURRENTLY IF EXISTS orders_processing;
CREATE INDEX CONCURRENTLY orders_processing ON orders(updated_at) WHERE status = 'processing';
DROP INDEX CONCURRENTLY IF EXISTS orders_status;

DROP INDEX CONCURRENTLY IF EXISTS certificates_revoked_new;
CREATE INDEX CONCURRENTLY certificates_revoked_new ON certificates(issuer, not_after) WHERE status = 'revoked';
DROP INDEX CONCURRENTLY IF EXISTS certificates_revoked;
ALTER INDEX certificates_revoked_new RENAME TO certificates_revoked;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS certificates_revoked_new;
CREATE INDEX CONCURRENTLY certificates_revoked_new ON certificates(issuer, status);
DROP INDEX CONCURRENTLY IF EXISTS certificates_revoked;
ALTER INDEX certificates_revoked_new RENAME TO certificates_revoked;

DROP INDEX CONCURRENTLY IF EXISTS orders_status;
CREATE INDEX CONCURRENTLY orders_status ON orders(status, updated_at);
DROP INDEX CONCURRENTLY IF EXISTS orders_processing;
DROP INDEX CONCURRENTLY IF EXISTS orders_stale;

DROP INDEX CONCURRENTLY IF EXISTS authorizations_reuse;
CREATE INDEX CONCURRENTLY authorizations_reuse ON authorizations(account_id, ident_type, ident_value, wildcard, status, expires_at);
DROP INDEX CONCURRENTLY IF EXISTS authorizations_status;
CREATE INDEX CONCURRENTLY authorizations_status ON authorizations(status, expires_at);
DROP INDEX CONCURRENTLY IF EXISTS authorizations_account_status;
CREATE INDEX CONCURRENTLY authorizations_account_status ON authorizations(account_id, status, expires_at);
DROP INDEX CONCURRENTLY IF EXISTS authorizations_valid;
DROP INDEX CONCURRENTLY IF EXISTS authorizations_failed;
DROP INDEX CONCURRENTLY IF EXISTS authorizations_pending;

DROP INDEX CONCURRENTLY IF EXISTS challenges_status;
CREATE INDEX CONCURRENTLY challenges_status ON challenges(status);
DROP INDEX CONCURRENTLY IF EXISTS challenges_processing;
