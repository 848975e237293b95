-- The PostgreSQL twin of migrations/sqlite/00027_node_leases.sql (see
-- there). A column with a constant default is added without rewriting the
-- table (PostgreSQL 11 and later): the ALTER holds its lock for a moment
-- only. No index (none to build CONCURRENTLY): the sweep reads the
-- processing orders by orders_processing, each lease by its primary key.
-- +goose Up
CREATE TABLE IF NOT EXISTS node_leases (
    node         TEXT COLLATE "C" PRIMARY KEY,
    lease_until  BIGINT NOT NULL
);
ALTER TABLE orders ADD COLUMN processing_node TEXT COLLATE "C" NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE orders DROP COLUMN processing_node;
DROP TABLE IF EXISTS node_leases;
