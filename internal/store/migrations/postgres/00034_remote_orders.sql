-- The PostgreSQL twin of migrations/sqlite/00034_remote_orders.sql (see
-- there): a new table, no lock on an existing one.
-- +goose Up
CREATE TABLE IF NOT EXISTS remote_orders (
    order_id          TEXT COLLATE "C" PRIMARY KEY,
    issuer            TEXT NOT NULL,
    upstream_order    TEXT NOT NULL,
    upstream_account  TEXT NOT NULL,
    csr               BYTEA NOT NULL,
    created_at        BIGINT NOT NULL,
    claims            BIGINT NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE IF EXISTS remote_orders;
