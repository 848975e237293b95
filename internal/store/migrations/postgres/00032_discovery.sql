-- The PostgreSQL twin of migrations/sqlite/00032_discovery.sql (see
-- there): times BIGINT, flags BOOLEAN, keys COLLATE "C". New, empty
-- tables: their indexes are built in the migration's transaction.
-- +goose Up
CREATE TABLE IF NOT EXISTS scans (
    id               TEXT COLLATE "C" PRIMARY KEY,
    status           TEXT COLLATE "C" NOT NULL,
    targets          TEXT COLLATE "C" NOT NULL,
    actor            TEXT COLLATE "C" NOT NULL DEFAULT '',
    started_at       BIGINT NOT NULL,
    finished_at      BIGINT NOT NULL DEFAULT 0,
    endpoints        BIGINT NOT NULL DEFAULT 0,
    served           BIGINT NOT NULL DEFAULT 0,
    failed           BIGINT NOT NULL DEFAULT 0,
    certificates     BIGINT NOT NULL DEFAULT 0,
    new_certificates BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS scans_started ON scans(started_at, id);
CREATE TABLE IF NOT EXISTS scan_findings (
    scan_id       TEXT COLLATE "C" NOT NULL,
    address       TEXT COLLATE "C" NOT NULL,
    port          INTEGER NOT NULL,
    sni           TEXT COLLATE "C" NOT NULL,
    fingerprint   TEXT COLLATE "C" NOT NULL,
    error         TEXT COLLATE "C" NOT NULL,
    tls_version   TEXT COLLATE "C" NOT NULL,
    cipher_suite  TEXT COLLATE "C" NOT NULL,
    trusted       BOOLEAN NOT NULL,
    trust_error   TEXT COLLATE "C" NOT NULL,
    incomplete    BOOLEAN NOT NULL,
    expired       BOOLEAN NOT NULL,
    name_mismatch BOOLEAN NOT NULL,
    self_signed   BOOLEAN NOT NULL,
    seen_at       BIGINT NOT NULL,
    PRIMARY KEY (scan_id, address, port, sni)
);
CREATE TABLE IF NOT EXISTS discovered_endpoints (
    address       TEXT COLLATE "C" NOT NULL,
    port          INTEGER NOT NULL,
    sni           TEXT COLLATE "C" NOT NULL,
    fingerprint   TEXT COLLATE "C" NOT NULL,
    first_seen    BIGINT NOT NULL,
    last_seen     BIGINT NOT NULL,
    last_scan_id  TEXT COLLATE "C" NOT NULL,
    last_error    TEXT COLLATE "C" NOT NULL DEFAULT '',
    last_error_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (address, port, sni)
);
CREATE INDEX IF NOT EXISTS discovered_endpoints_fingerprint ON discovered_endpoints(fingerprint);
-- The scheduled scan of `certgate serve` (scan-interval): one row per
-- schedule, whose next run a node claims with a conditional UPDATE, so
-- that one node of a cluster runs each due scan.
CREATE TABLE IF NOT EXISTS scan_schedules (
    name     TEXT COLLATE "C" PRIMARY KEY,
    next_run BIGINT NOT NULL,
    node     TEXT COLLATE "C" NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE IF EXISTS scan_schedules;
DROP TABLE IF EXISTS discovered_endpoints;
DROP TABLE IF EXISTS scan_findings;
DROP TABLE IF EXISTS scans;
