-- `user_values` is kept by the database from `users.value_rows` (the rows
-- lower-cased by the application, as JSON), so writing a user is one
-- statement, atomic with its multi-valued entries.
ALTER TABLE users ADD COLUMN value_rows TEXT NOT NULL DEFAULT '[]';
UPDATE users u SET value_rows = COALESCE((
    SELECT json_agg(json_build_array(v.attribute, v.position, v.value_lower, v.type_lower, v.display_lower,
                                     v.is_primary) ORDER BY v.attribute, v.position)::text
    FROM user_values v WHERE v.user_id = u.id
), '[]');

CREATE FUNCTION users_write_values() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.value_rows = OLD.value_rows THEN
            RETURN NULL;
        END IF;
        DELETE FROM user_values WHERE user_id = NEW.id;
    END IF;
    INSERT INTO user_values (user_id, attribute, position, value_lower, type_lower, display_lower, is_primary)
    SELECT NEW.id, r ->> 0, (r ->> 1)::integer, r ->> 2, r ->> 3, r ->> 4, (r ->> 5)::boolean
    FROM jsonb_array_elements(NEW.value_rows::jsonb) r;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_values_written AFTER INSERT OR UPDATE OF value_rows ON users
    FOR EACH ROW EXECUTE FUNCTION users_write_values();
