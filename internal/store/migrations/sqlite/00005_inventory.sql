-- Certificate inventory (issue #7): profile, key size, signature
-- algorithm, source (issued/imported/discovered), custom attributes and the
-- certificate a certificate replaced; a lower-cased name table whose
-- reversed_name column turns a suffix search into an index range scan, and
-- an attribute table for key=value search. Rows of both tables are written
-- in the transaction that writes the certificate.
-- +goose Up
ALTER TABLE certificates ADD COLUMN profile TEXT NOT NULL DEFAULT 'default';
ALTER TABLE certificates ADD COLUMN key_bits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE certificates ADD COLUMN signature_algorithm TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN source TEXT NOT NULL DEFAULT 'issued';
ALTER TABLE certificates ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE certificates ADD COLUMN replaces_serial TEXT;

-- Certificates issued before this migration: key size from the key type
-- ("RSA 2048", "ECDSA P-256"); the signature algorithm stays unknown ('').
UPDATE certificates SET key_bits = CAST(substr(key_type, 5) AS INTEGER) WHERE key_type LIKE 'RSA %';
UPDATE certificates SET key_bits = CAST(substr(key_type, 9) AS INTEGER) WHERE key_type LIKE 'ECDSA P-%';

-- Keyset pagination orders by (not_after, serial).
DROP INDEX certificates_not_after;
CREATE INDEX certificates_not_after ON certificates(not_after, serial);
CREATE INDEX certificates_status_not_after ON certificates(status, not_after, serial);
-- Covers the sort key and status of a certificate found by serial, so that
-- sorting the matches of a name or attribute search reads no certificate
-- row (whose large DER and chain columns come before these).
CREATE INDEX certificates_serial_expiry ON certificates(serial, not_after, status);

CREATE TABLE certificate_names (
    serial         TEXT NOT NULL REFERENCES certificates(serial),
    name           TEXT NOT NULL,  -- lower-cased SAN (DNS name or IP address)
    reversed_name  TEXT NOT NULL,  -- name with its characters reversed
    PRIMARY KEY (serial, name)
);
CREATE INDEX certificate_names_name ON certificate_names(name, serial);
CREATE INDEX certificate_names_reversed ON certificate_names(reversed_name, serial);

CREATE TABLE certificate_attributes (
    serial  TEXT NOT NULL REFERENCES certificates(serial),
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (serial, key)
);
CREATE INDEX certificate_attributes_kv ON certificate_attributes(key, value, serial);

-- Names of the certificates stored before this migration.
INSERT OR IGNORE INTO certificate_names (serial, name, reversed_name)
WITH RECURSIVE
  n(serial, name) AS (SELECT c.serial, lower(j.value) FROM certificates c, json_each(c.sans) j),
  r(serial, name, rest, acc) AS (
    SELECT serial, name, name, '' FROM n
    UNION ALL
    SELECT serial, name, substr(rest, 2), substr(rest, 1, 1) || acc FROM r WHERE rest <> '')
SELECT serial, name, acc FROM r WHERE rest = '';

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
