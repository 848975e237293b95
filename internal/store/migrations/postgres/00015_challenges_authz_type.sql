-- An authorization's challenges are read in type order (GetAuthorization,
-- GetChallengeAuthorization: the authorization and challenge requests of
-- every flow). With an index on authz_id alone the database sorted the
-- rows of each read; an index on (authz_id, type) returns them in order.
-- It replaces challenges(authz_id), whose every use (the reads above, the
-- sweep's deletes by authz_id) it also serves, so writes touch no more
-- indexes than before. An index build only, CONCURRENTLY outside a
-- transaction (NO TRANSACTION; see 00014): writes to challenges go on
-- while it is built. Harmless to repeat after an interruption.
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS challenges_authz_type;
CREATE INDEX CONCURRENTLY challenges_authz_type ON challenges(authz_id, type);
DROP INDEX CONCURRENTLY IF EXISTS challenges_authz;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS challenges_authz;
CREATE INDEX CONCURRENTLY challenges_authz ON challenges(authz_id);
DROP INDEX CONCURRENTLY IF EXISTS challenges_authz_type;
