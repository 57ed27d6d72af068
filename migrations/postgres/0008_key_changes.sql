-- A counter bumped by every change that can end a key's use (revocation,
-- expiry, scopes, deletion), so servers caching verified keys in memory see
-- a change made by another instance or the command line within a poll.
CREATE TABLE key_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO key_changes (id, generation) VALUES (1, 0);

CREATE FUNCTION bump_key_changes() RETURNS trigger AS $$
BEGIN
    UPDATE key_changes SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER api_keys_changed AFTER UPDATE OF company_id, lookup, digest, scopes, expires_at, revoked_at ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION bump_key_changes();

CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION bump_key_changes();
