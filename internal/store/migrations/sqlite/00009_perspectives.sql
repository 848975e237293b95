-- Multi-perspective validation (internal/va/mpic, CA/B BR 3.2.2.9): what
-- each network perspective saw at each validation attempt of an
-- authorization (status valid, invalid or unreachable; the problem as
-- JSON). Rows go with their authorization.
-- +goose Up
CREATE TABLE authorization_perspectives (
    authz_id    TEXT NOT NULL REFERENCES authorizations(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    perspective TEXT NOT NULL,
    status      TEXT NOT NULL,
    problem     TEXT,
    checked_at  INTEGER NOT NULL,
    PRIMARY KEY (authz_id, attempt, perspective)
);

-- +goose Down
DROP TABLE authorization_perspectives;
