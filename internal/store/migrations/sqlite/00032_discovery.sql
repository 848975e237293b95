-- Certificate discovery (docs/discovery.md): each run of `certgate scan
-- run` is a row of scans; each endpoint (address, port, SNI name) it
-- tried is a row of scan_findings (the certificate's SHA-256 fingerprint,
-- or the error); discovered_endpoints holds the latest state of every
-- endpoint that ever served a certificate: what it serves, since when
-- (first_seen: when it was first seen serving that certificate) and until
-- when (last_seen), and the error of its latest scan if that failed. The
-- certificates themselves are in the inventory (certificates, source
-- 'discovered' unless issued or imported already). Times are Unix
-- nanoseconds. A new table's indexes cost nothing to build.
-- +goose Up
CREATE TABLE IF NOT EXISTS scans (
    id               TEXT PRIMARY KEY,
    status           TEXT NOT NULL,
    targets          TEXT NOT NULL,
    actor            TEXT NOT NULL DEFAULT '',
    started_at       INTEGER NOT NULL,
    finished_at      INTEGER NOT NULL DEFAULT 0,
    endpoints        INTEGER NOT NULL DEFAULT 0,
    served           INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    certificates     INTEGER NOT NULL DEFAULT 0,
    new_certificates INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS scans_started ON scans(started_at, id);
CREATE TABLE IF NOT EXISTS scan_findings (
    scan_id       TEXT NOT NULL,
    address       TEXT NOT NULL,
    port          INTEGER NOT NULL,
    sni           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    error         TEXT NOT NULL,
    tls_version   TEXT NOT NULL,
    cipher_suite  TEXT NOT NULL,
    trusted       INTEGER NOT NULL,
    trust_error   TEXT NOT NULL,
    incomplete    INTEGER NOT NULL,
    expired       INTEGER NOT NULL,
    name_mismatch INTEGER NOT NULL,
    self_signed   INTEGER NOT NULL,
    seen_at       INTEGER NOT NULL,
    PRIMARY KEY (scan_id, address, port, sni)
);
CREATE TABLE IF NOT EXISTS discovered_endpoints (
    address       TEXT NOT NULL,
    port          INTEGER NOT NULL,
    sni           TEXT NOT NULL,
    fingerprint   TEXT NOT NULL,
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    last_scan_id  TEXT NOT NULL,
    last_error    TEXT NOT NULL DEFAULT '',
    last_error_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (address, port, sni)
);
CREATE INDEX IF NOT EXISTS discovered_endpoints_fingerprint ON discovered_endpoints(fingerprint);
-- The scheduled scan of `certgate serve` (scan-interval): one row per
-- schedule, whose next run a node claims with a conditional UPDATE, so
-- that one node of a cluster runs each due scan.
CREATE TABLE IF NOT EXISTS scan_schedules (
    name     TEXT PRIMARY KEY,
    next_run INTEGER NOT NULL,
    node     TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE IF EXISTS scan_schedules;
DROP TABLE IF EXISTS discovered_endpoints;
DROP TABLE IF EXISTS scan_findings;
DROP TABLE IF EXISTS scans;
