-- The PostgreSQL twin of migrations/sqlite/00009_perspectives.sql.
-- +goose Up
CREATE TABLE authorization_perspectives (
    authz_id    TEXT COLLATE "C" NOT NULL REFERENCES authorizations(id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    perspective TEXT COLLATE "C" NOT NULL,
    status      TEXT NOT NULL,
    problem     TEXT,
    checked_at  BIGINT NOT NULL,
    PRIMARY KEY (authz_id, attempt, perspective)
);

-- +goose Down
DROP TABLE authorization_perspectives;
