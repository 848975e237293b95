-- Dashboard sessions signed in with OpenID Connect (sso-issuer,
-- internal/web): such a session has no API token (token_id '') and acts
-- with the role mapped from the ID token at sign-in (role); sso_issuer and
-- sso_subject are the ID token's iss and sub, display_name its email (or
-- preferred_username, name, sub) as pages and the audit log show it.
-- Sessions signed in with a token keep '' in all four and act with their
-- token's role.
-- +goose Up
ALTER TABLE ui_sessions ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE ui_sessions ADD COLUMN sso_issuer TEXT NOT NULL DEFAULT '';
ALTER TABLE ui_sessions ADD COLUMN sso_subject TEXT NOT NULL DEFAULT '';
ALTER TABLE ui_sessions ADD COLUMN display_name TEXT NOT NULL DEFAULT '';

-- +goose Down
DELETE FROM ui_sessions WHERE token_id = '';
ALTER TABLE ui_sessions DROP COLUMN display_name;
ALTER TABLE ui_sessions DROP COLUMN sso_subject;
ALTER TABLE ui_sessions DROP COLUMN sso_issuer;
ALTER TABLE ui_sessions DROP COLUMN role;
