-- The PostgreSQL twin of migrations/sqlite/00013_issuer_chains.sql (the
-- intermediates of a certificate's chain stored once per distinct chain and
-- referenced by certificates.chain_id; chain_pem '' for such certificates).
-- +goose Up
CREATE TABLE issuer_chains (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256  BYTEA NOT NULL UNIQUE,
    pem     TEXT NOT NULL
);
ALTER TABLE certificates ADD COLUMN chain_id BIGINT;

-- +goose Down
-- Like SQLite's: refused while certificates are stored in the new form.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM certificates WHERE chain_id IS NOT NULL) THEN
        RAISE EXCEPTION 'certificates are stored without chain_pem (migration 00013): restore the backup taken before the upgrade';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE certificates DROP COLUMN chain_id;
DROP TABLE issuer_chains;
