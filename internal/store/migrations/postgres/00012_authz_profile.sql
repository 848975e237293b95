-- The certificate profile an authorization was created for (the order's
-- profile): its validation uses that profile's DNS resolver settings, and
-- only orders of the same profile reuse it. '' for authorizations created
-- before this migration, which are then never reused.
-- +goose Up
ALTER TABLE authorizations ADD COLUMN profile TEXT COLLATE "C" NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE authorizations DROP COLUMN profile;
