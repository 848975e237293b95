-- One object's audit events by its ID alone, in seq order: `certgate audit
-- list --object-id X` and GET /api/v1/audit/events?object_id=X without an
-- object type read a range of this index; audit_events_object (object_type,
-- object_id, seq) serves only a filter that names the type, so these
-- filtered every event of the log.
--
-- Built CONCURRENTLY outside a transaction (NO TRANSACTION), dropping an
-- index of the name an interrupted run left first, as 00021 (see there).
-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS audit_events_objid;
CREATE INDEX CONCURRENTLY audit_events_objid ON audit_events(object_id, seq);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS audit_events_objid;
