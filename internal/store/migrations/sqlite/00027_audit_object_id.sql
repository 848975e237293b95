-- One object's audit events by its ID alone, in seq order: `certgate audit
-- list --object-id X` and GET /api/v1/audit/events?object_id=X without an
-- object type read a range of this index; audit_events_object (object_type,
-- object_id, seq) serves only a filter that names the type, so these
-- scanned every event of the log. IF NOT EXISTS as 00025.
-- +goose Up
CREATE INDEX IF NOT EXISTS audit_events_objid ON audit_events(object_id, seq);

-- +goose Down
DROP INDEX IF EXISTS audit_events_objid;
