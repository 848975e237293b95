-- Rate limits shared by every node (internal/ratelimit): one row per
-- bucket key holding the GCRA theoretical arrival time (Unix ns; a row
-- whose tat is in the past is the same as no row and is pruned), and
-- per-subject overrides of a limit (subject "account:ID", "ip:ADDR",
-- "domain:NAME", "eab:KEYID"); count 0 disables the limit for the subject.
-- The index counts an account's pending authorizations without scanning
-- all of its authorizations.
-- +goose Up
CREATE TABLE rate_buckets (
    key TEXT PRIMARY KEY,
    tat INTEGER NOT NULL
);
CREATE TABLE rate_limit_overrides (
    limit_name TEXT NOT NULL,
    subject    TEXT NOT NULL,
    count      INTEGER NOT NULL,
    period     INTEGER NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (limit_name, subject)
);
CREATE INDEX authorizations_account_status ON authorizations(account_id, status, expires_at);

-- +goose Down
DROP INDEX authorizations_account_status;
DROP TABLE rate_limit_overrides;
DROP TABLE rate_buckets;
