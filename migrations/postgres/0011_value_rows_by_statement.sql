-- Value rows of inserted users are written once per statement, not once per
-- user (an import inserts 500 users in one statement), and are no longer
-- checked against `users` one by one: they come from the users' own
-- `value_rows`, and deleting users deletes theirs, by trigger as well.
ALTER TABLE user_values DROP CONSTRAINT user_values_user_id_fkey;
DROP TRIGGER users_values_written ON users;

CREATE FUNCTION users_insert_values() RETURNS trigger AS $$
BEGIN
    INSERT INTO user_values (user_id, attribute, position, value_lower, type_lower, display_lower, is_primary)
    SELECT u.id, r ->> 0, (r ->> 1)::integer, r ->> 2, r ->> 3, r ->> 4, (r ->> 5)::boolean
    FROM inserted_users u CROSS JOIN LATERAL jsonb_array_elements(u.value_rows::jsonb) r;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION users_delete_values() RETURNS trigger AS $$
BEGIN
    DELETE FROM user_values v USING deleted_users u WHERE v.user_id = u.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_values_inserted AFTER INSERT ON users
    REFERENCING NEW TABLE AS inserted_users
    FOR EACH STATEMENT EXECUTE FUNCTION users_insert_values();
-- Column-specific (UPDATE OF) triggers cannot have transition tables.
CREATE TRIGGER users_values_written AFTER UPDATE OF value_rows ON users
    FOR EACH ROW EXECUTE FUNCTION users_write_values();
CREATE TRIGGER users_values_deleted AFTER DELETE ON users
    REFERENCING OLD TABLE AS deleted_users
    FOR EACH STATEMENT EXECUTE FUNCTION users_delete_values();
