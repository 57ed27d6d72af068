-- SCIM filters compare case-insensitive attributes through these columns,
-- lower-cased in the application (Unicode rules), and compare text in byte
-- order (COLLATE "C") so ordering agrees with SQLite whatever the locale.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE users ALTER COLUMN user_name_lower TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN email_lower TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN external_id TYPE TEXT COLLATE "C";
ALTER TABLE users
    ADD COLUMN display_name_lower TEXT COLLATE "C",
    ADD COLUMN title_lower TEXT COLLATE "C",
    ADD COLUMN name_formatted_lower TEXT COLLATE "C",
    ADD COLUMN given_name_lower TEXT COLLATE "C",
    ADD COLUMN family_name_lower TEXT COLLATE "C",
    ADD COLUMN middle_name_lower TEXT COLLATE "C",
    ADD COLUMN honorific_prefix_lower TEXT COLLATE "C",
    ADD COLUMN honorific_suffix_lower TEXT COLLATE "C";
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
-- emails[type eq "work" and value co "@x"]. The resource itself is read from
-- the JSON on the user row.
CREATE TABLE user_values (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    attribute TEXT NOT NULL,
    position INTEGER NOT NULL,
    value_lower TEXT COLLATE "C",
    type_lower TEXT COLLATE "C",
    display_lower TEXT COLLATE "C",
    is_primary BOOLEAN,
    PRIMARY KEY (user_id, attribute, position)
);
INSERT INTO user_values (user_id, attribute, position, value_lower, type_lower, display_lower, is_primary)
SELECT u.id, a.attribute, e.position::INTEGER - 1, lower(e.entry ->> 'value'), lower(e.entry ->> 'type'),
       lower(e.entry ->> 'display'), (e.entry ->> 'primary')::BOOLEAN
FROM users u
CROSS JOIN LATERAL (VALUES ('emails', u.emails), ('phoneNumbers', u.phone_numbers)) AS a (attribute, list)
CROSS JOIN LATERAL jsonb_array_elements(a.list::jsonb) WITH ORDINALITY AS e (entry, position);

CREATE INDEX user_values_value ON user_values (attribute, value_lower);
CREATE INDEX user_values_value_trigram ON user_values USING gin (value_lower gin_trgm_ops);
CREATE INDEX users_user_name_trigram ON users USING gin (user_name_lower gin_trgm_ops);
CREATE INDEX users_company_title ON users (company_id, title_lower);
