-- Approvals: an order whose profile requires approval waits after finalize
-- (stored order status 'approval', served as 'processing') with its CSR
-- here until an approver decides. status: pending | approved | rejected;
-- escalated_at is set once when a pending approval waited too long. No
-- foreign key to orders: the record of a decision outlives its order.
-- +goose Up
CREATE TABLE approvals (
    id            TEXT PRIMARY KEY,
    order_id      TEXT NOT NULL UNIQUE,
    account_id    TEXT NOT NULL,
    profile       TEXT NOT NULL,
    identifiers   TEXT NOT NULL,
    key_type      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    csr           BLOB NOT NULL,
    status        TEXT NOT NULL,
    requested_at  INTEGER NOT NULL,
    decided_at    INTEGER NOT NULL DEFAULT 0,
    decided_by    TEXT NOT NULL DEFAULT '',
    comment       TEXT NOT NULL DEFAULT '',
    escalated_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX approvals_status ON approvals(status, requested_at);

-- +goose Down
DROP TABLE approvals;
