-- The PostgreSQL twin of migrations/sqlite/00005_inventory.sql
-- (certificate inventory, issue #7).
-- +goose Up
ALTER TABLE certificates ADD COLUMN profile TEXT NOT NULL DEFAULT 'default';
ALTER TABLE certificates ADD COLUMN key_bits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN signature_algorithm TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN source TEXT NOT NULL DEFAULT 'issued';
ALTER TABLE certificates ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE certificates ADD COLUMN replaces_serial TEXT COLLATE "C";

UPDATE certificates SET key_bits = CAST(substr(key_type, 5) AS INTEGER) WHERE key_type LIKE 'RSA %';
UPDATE certificates SET key_bits = CAST(substr(key_type, 9) AS INTEGER) WHERE key_type LIKE 'ECDSA P-%';

DROP INDEX certificates_not_after;
CREATE INDEX certificates_not_after ON certificates(not_after, serial);
CREATE INDEX certificates_status_not_after ON certificates(status, not_after, serial);
CREATE INDEX certificates_serial_expiry ON certificates(serial, not_after, status);

CREATE TABLE certificate_names (
    serial         TEXT COLLATE "C" NOT NULL REFERENCES certificates(serial),
    name           TEXT COLLATE "C" NOT NULL,
    reversed_name  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (serial, name)
);
CREATE INDEX certificate_names_name ON certificate_names(name, serial);
CREATE INDEX certificate_names_reversed ON certificate_names(reversed_name, serial);

CREATE TABLE certificate_attributes (
    serial  TEXT COLLATE "C" NOT NULL REFERENCES certificates(serial),
    key     TEXT COLLATE "C" NOT NULL,
    value   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (serial, key)
);
CREATE INDEX certificate_attributes_kv ON certificate_attributes(key, value, serial);

INSERT INTO certificate_names (serial, name, reversed_name)
SELECT DISTINCT c.serial, lower(j.value), reverse(lower(j.value))
FROM certificates c, jsonb_array_elements_text(c.sans::jsonb) AS j(value)
ON CONFLICT DO NOTHING;

-- +goose Down
DROP TABLE certificate_attributes;
DROP TABLE certificate_names;
DROP INDEX certificates_serial_expiry;
DROP INDEX certificates_status_not_after;
DROP INDEX certificates_not_after;
CREATE INDEX certificates_not_after ON certificates(not_after);
ALTER TABLE certificates DROP COLUMN replaces_serial;
ALTER TABLE certificates DROP COLUMN attributes;
ALTER TABLE certificates DROP COLUMN source;
ALTER TABLE certificates DROP COLUMN signature_algorithm;
ALTER TABLE certificates DROP COLUMN key_bits;
ALTER TABLE certificates DROP COLUMN profile;
