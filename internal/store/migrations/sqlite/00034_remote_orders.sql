-- The order at an upstream CA (internal/issuer/acmeupstream) that a local
-- order's certificate is issued by: recorded before certgate asks the
-- upstream to issue (finalize), so that a process killed between the
-- upstream issuing and certgate storing the certificate does not lose its
-- record. The sweep that would fail such a processing order fetches the
-- upstream order instead (RA recoverRemote) and stores the certificate.
-- One row per local order; claims counts the recoveries started, so that
-- only one node of a cluster resumes an order at a time (ClaimRemoteOrder
-- compares it). csr is the client's CSR (DER): the certificate is checked
-- against its key. Deleted with the order (DeleteStale).
-- +goose Up
CREATE TABLE IF NOT EXISTS remote_orders (
    order_id          TEXT PRIMARY KEY,
    issuer            TEXT NOT NULL,
    upstream_order    TEXT NOT NULL,
    upstream_account  TEXT NOT NULL,
    csr               BLOB NOT NULL,
    created_at        INTEGER NOT NULL,
    claims            INTEGER NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE IF EXISTS remote_orders;
