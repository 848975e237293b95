-- Which serve process moves an order to processing, and whether that
-- process is alive: each process (node) with other nodes beside it on the
-- storage renews a lease row of its own every second or so
-- (RenewNodeLease), and records its ID with every order it starts
-- issuing (orders.processing_node; '' when written by a version before
-- this one, or by a process that holds no lease). The sweep of any node
-- fails a processing order whose node's lease ran out (AbandonedOrders):
-- within seconds of a kill, not after StuckAfter; an order whose node is
-- alive is never touched, however slow its issuance. No index on
-- processing_node: the sweep reads the processing orders by the partial
-- index orders_processing (a handful), each node's lease by its primary
-- key. IF NOT EXISTS: tests that forget a later migration
-- (ForgetKeyHashes) apply it again (they drop the column).
-- +goose Up
CREATE TABLE IF NOT EXISTS node_leases (
    node         TEXT PRIMARY KEY,
    lease_until  INTEGER NOT NULL
);
ALTER TABLE orders ADD COLUMN processing_node TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE orders DROP COLUMN processing_node;
DROP TABLE IF EXISTS node_leases;
