-- Certificates whose ARI replacement (RFC 9773) has been issued
-- (replaced_at set when the order naming them in "replaces" became valid),
-- by status and notAfter: CountCertificatesByExpiry (the metric
-- certgate_certificates_by_expiry) leaves them out when that replacement is
-- still valid, as the expiring report does, by subtracting the ones in its
-- window found here from the covering count of certificates_status_not_after,
-- so that besides index entries it reads only the order and the certificate
-- that renewed each renewed certificate of the window (two primary-key
-- lookups each). replaced_at is in the index so that it covers the
-- statement (SQLite reads the column of the "<> 0" condition too).
-- +goose Up
CREATE INDEX certificates_replaced_not_after ON certificates(status, not_after, replaced_by, replaced_at) WHERE replaced_at <> 0;

-- +goose Down
DROP INDEX certificates_replaced_not_after;
