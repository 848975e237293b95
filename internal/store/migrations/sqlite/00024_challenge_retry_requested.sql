-- A client's request for a retry of a challenge being validated (RFC 8555
-- §8.2: a response POSTed again to a processing challenge), made through
-- a node that does not run the validation: the time of the latest such
-- request (Unix nanoseconds; 0: none). The validating node reads it by
-- primary key while it waits between attempts (RequestChallengeRetry,
-- ChallengeRetryRequestedAt). No index: nothing searches by it.
-- +goose Up
ALTER TABLE challenges ADD COLUMN retry_requested_at INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE challenges DROP COLUMN retry_requested_at;
