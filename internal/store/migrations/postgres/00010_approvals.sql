-- The PostgreSQL twin of migrations/sqlite/00010_approvals.sql.
-- +goose Up
CREATE TABLE approvals (
    id            TEXT COLLATE "C" PRIMARY KEY,
    order_id      TEXT COLLATE "C" NOT NULL UNIQUE,
    account_id    TEXT COLLATE "C" NOT NULL,
    profile       TEXT COLLATE "C" NOT NULL,
    identifiers   TEXT NOT NULL,
    key_type      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    csr           BYTEA NOT NULL,
    status        TEXT NOT NULL,
    requested_at  BIGINT NOT NULL,
    decided_at    BIGINT NOT NULL DEFAULT 0,
    decided_by    TEXT NOT NULL DEFAULT '',
    comment       TEXT NOT NULL DEFAULT '',
    escalated_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX approvals_status ON approvals(status, requested_at);

-- +goose Down
DROP TABLE approvals;
