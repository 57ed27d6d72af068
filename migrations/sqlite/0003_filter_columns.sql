-- SCIM filters compare case-insensitive attributes through these columns,
-- lower-cased in the application (Unicode rules; SQLite's lower() is ASCII only).
ALTER TABLE users ADD COLUMN display_name_lower TEXT;
ALTER TABLE users ADD COLUMN title_lower TEXT;
ALTER TABLE users ADD COLUMN name_formatted_lower TEXT;
ALTER TABLE users ADD COLUMN given_name_lower TEXT;
ALTER TABLE users ADD COLUMN family_name_lower TEXT;
ALTER TABLE users ADD COLUMN middle_name_lower TEXT;
ALTER TABLE users ADD COLUMN honorific_prefix_lower TEXT;
ALTER TABLE users ADD COLUMN honorific_suffix_lower TEXT;
UPDATE users SET
    display_name_lower = lower(display_name),
    title_lower = lower(title),
    name_formatted_lower = lower(name_formatted),
    given_name_lower = lower(given_name),
    family_name_lower = lower(family_name),
    middle_name_lower = lower(middle_name),
    honorific_prefix_lower = lower(honorific_prefix),
    honorific_suffix_lower = lower(honorific_suffix);

-- One row per entry of `emails` and `phoneNumbers`, for value filters such as
-- emails[type eq "work" and value co "@x"].
CREATE TABLE user_values (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    attribute TEXT NOT NULL,
    position INTEGER NOT NULL,
    value_lower TEXT,
    type_lower TEXT,
    display_lower TEXT,
    is_primary INTEGER,
    PRIMARY KEY (user_id, attribute, position)
);
INSERT INTO user_values (user_id, attribute, position, value_lower, type_lower, display_lower, is_primary)
SELECT u.id, a.attribute, e.key, lower(json_extract(e.value, '$.value')), lower(json_extract(e.value, '$.type')),
       lower(json_extract(e.value, '$.display')), json_extract(e.value, '$.primary')
FROM users u
JOIN (SELECT 'emails' AS attribute UNION ALL SELECT 'phoneNumbers') a
JOIN json_each(CASE a.attribute WHEN 'emails' THEN u.emails ELSE u.phone_numbers END) e;

CREATE INDEX user_values_value ON user_values (attribute, value_lower);
CREATE INDEX users_company_title ON users (company_id, title_lower);
