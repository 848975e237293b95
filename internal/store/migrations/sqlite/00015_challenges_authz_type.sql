-- An authorization's challenges are read in type order (GetAuthorization,
-- GetChallengeAuthorization: the authorization and challenge requests of
-- every flow). With an index on authz_id alone the database sorted the
-- rows of each read; an index on (authz_id, type) returns them in order.
-- It replaces challenges(authz_id), whose every use (the reads above, the
-- sweep's deletes by authz_id) it also serves, so writes touch no more
-- indexes than before. An index build only.
-- +goose Up
CREATE INDEX challenges_authz_type ON challenges(authz_id, type);
DROP INDEX challenges_authz;

-- +goose Down
CREATE INDEX challenges_authz ON challenges(authz_id);
DROP INDEX challenges_authz_type;
