-- `user_values` is kept by the database from `users.value_rows` (the rows
-- lower-cased by the application, as JSON), so writing a user is one
-- statement, atomic with its multi-valued entries.
ALTER TABLE users ADD COLUMN value_rows TEXT NOT NULL DEFAULT '[]';
UPDATE users SET value_rows = COALESCE((
    SELECT json_group_array(json_array(attribute, position, value_lower, type_lower, display_lower,
                                       CASE is_primary WHEN 1 THEN json('true') WHEN 0 THEN json('false') END))
    FROM (SELECT * FROM user_values v WHERE v.user_id = users.id ORDER BY attribute, position)
), '[]');

CREATE TRIGGER users_values_inserted AFTER INSERT ON users
BEGIN
    INSERT INTO user_values (user_id, attribute, position, value_lower, type_lower, display_lower, is_primary)
    SELECT NEW.id, r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5
    FROM json_each(NEW.value_rows) r;
END;

CREATE TRIGGER users_values_updated AFTER UPDATE OF value_rows ON users
WHEN NEW.value_rows IS NOT OLD.value_rows
BEGIN
    DELETE FROM user_values WHERE user_id = NEW.id;
    INSERT INTO user_values (user_id, attribute, position, value_lower, type_lower, display_lower, is_primary)
    SELECT NEW.id, r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5
    FROM json_each(NEW.value_rows) r;
END;
