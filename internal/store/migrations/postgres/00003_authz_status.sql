-- The sweep looks up stale authorizations by status and expiry; without
-- this index that lookup would scan every authorization ever created.
-- +goose Up
CREATE INDEX authorizations_status ON authorizations(status, expires_at);

-- +goose Down
DROP INDEX authorizations_status;
