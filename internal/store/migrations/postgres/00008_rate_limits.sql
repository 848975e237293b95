-- The PostgreSQL twin of migrations/sqlite/00008_rate_limits.sql.
-- +goose Up
CREATE TABLE rate_buckets (
    key TEXT COLLATE "C" PRIMARY KEY,
    tat BIGINT NOT NULL
);
CREATE TABLE rate_limit_overrides (
    limit_name TEXT COLLATE "C" NOT NULL,
    subject    TEXT COLLATE "C" NOT NULL,
    count      BIGINT NOT NULL,
    period     BIGINT NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (limit_name, subject)
);
CREATE INDEX authorizations_account_status ON authorizations(account_id, status, expires_at);

-- +goose Down
DROP INDEX authorizations_account_status;
DROP TABLE rate_limit_overrides;
DROP TABLE rate_buckets;
