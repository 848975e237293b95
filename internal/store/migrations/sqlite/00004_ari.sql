-- ACME Renewal Information (RFC 9773): an order may name the certificate
-- it replaces (orders.replaces holds the client's CertID); the replaced
-- certificate records the order that claimed it (replaced_by) and, once
-- that order is valid, when the replacement was issued (replaced_at).
-- +goose Up
ALTER TABLE orders ADD COLUMN replaces TEXT;
ALTER TABLE certificates ADD COLUMN replaced_by TEXT;
ALTER TABLE certificates ADD COLUMN replaced_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX certificates_replaced_by ON certificates(replaced_by) WHERE replaced_by IS NOT NULL;

-- +goose Down
DROP INDEX certificates_replaced_by;
ALTER TABLE certificates DROP COLUMN replaced_at;
ALTER TABLE certificates DROP COLUMN replaced_by;
ALTER TABLE orders DROP COLUMN replaces;
