-- Expiry notifications (internal/notify, docs/notifications.md). One row
-- per (certificate, threshold, channel, recipient): the primary key that
-- makes every node's scan insert it once (INSERT ... ON CONFLICT DO
-- NOTHING), so that it is sent at most once across restarts and nodes.
-- status: pending (due at next_attempt_at), sending (claimed by node until
-- lease_until; a claim whose lease ran out is claimed again), sent,
-- failed (given up after the last attempt) or skipped (the certificate was
-- revoked or renewed before it was sent). job_leases holds the lease of
-- the node that runs a periodic pass (one at a time across the cluster).
-- IF NOT EXISTS: tests that forget an earlier migration (ForgetKeyHashes)
-- apply this one again.
-- +goose Up
CREATE TABLE IF NOT EXISTS notifications (
    id               TEXT NOT NULL UNIQUE,
    serial           TEXT NOT NULL REFERENCES certificates(serial),
    threshold_days   INTEGER NOT NULL,
    channel          TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    rule             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    node             TEXT NOT NULL DEFAULT '',
    lease_until      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    sent_at          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (serial, threshold_days, channel, recipient)
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS notifications_created ON notifications(created_at, id);
CREATE TABLE IF NOT EXISTS job_leases (
    name         TEXT PRIMARY KEY,
    node         TEXT NOT NULL,
    lease_until  INTEGER NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS job_leases;
DROP TABLE notifications;
