-- Approvals in keyset order (requested_at, id), all of them and by status:
-- each page of the approvals list (ListApprovalsPage, GET /api/v1/approvals
-- and certgate approval list) is a range of one of these indexes from its
-- cursor on, LIMIT rows, where the list read every approval ever made.
-- approvals_status_keyset replaces approvals_status (status, requested_at),
-- whose order left ties of requested_at to a sort.
--
-- Built CONCURRENTLY outside a transaction (NO TRANSACTION), dropping an
-- index of the name an interrupted run left first, as 00021 (see there).
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS approvals_keyset;
CREATE INDEX CONCURRENTLY approvals_keyset ON approvals(requested_at, id);
DROP INDEX CONCURRENTLY IF EXISTS approvals_status_keyset;
CREATE INDEX CONCURRENTLY approvals_status_keyset ON approvals(status, requested_at, id);
DROP INDEX CONCURRENTLY IF EXISTS approvals_status;

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS approvals_status ON approvals(status, requested_at);
DROP INDEX CONCURRENTLY IF EXISTS approvals_status_keyset;
DROP INDEX CONCURRENTLY IF EXISTS approvals_keyset;
