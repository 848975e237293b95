-- The PostgreSQL twin of migrations/sqlite/00031_notifications.sql (see
-- there). New tables only: no lock on an existing one.
-- +goose Up
CREATE TABLE IF NOT EXISTS notifications (
    id               TEXT COLLATE "C" NOT NULL UNIQUE,
    serial           TEXT COLLATE "C" NOT NULL REFERENCES certificates(serial),
    threshold_days   INTEGER NOT NULL,
    channel          TEXT COLLATE "C" NOT NULL,
    recipient        TEXT COLLATE "C" NOT NULL,
    rule             TEXT COLLATE "C" NOT NULL,
    status           TEXT COLLATE "C" NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    node             TEXT COLLATE "C" NOT NULL DEFAULT '',
    lease_until      BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    sent_at          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (serial, threshold_days, channel, recipient)
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications(status, next_attempt_at);
CREATE INDEX IF NOT EXISTS notifications_created ON notifications(created_at, id);
CREATE TABLE IF NOT EXISTS job_leases (
    name         TEXT COLLATE "C" PRIMARY KEY,
    node         TEXT COLLATE "C" NOT NULL,
    lease_until  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS job_leases;
DROP TABLE notifications;
