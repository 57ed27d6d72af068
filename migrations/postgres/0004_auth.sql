-- Keys that sign the server's own OAuth access tokens (HS256), by `kid`.
-- Retired keys still verify tokens issued before the rotation.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
