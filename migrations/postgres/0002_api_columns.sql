-- Lower-cased in the application (Unicode rules) so both backends agree:
-- the display email for the Teamtailor API's filter[email], and the name
-- for its case-insensitive sort (byte order, whatever the database locale).
ALTER TABLE users ADD COLUMN email_lower TEXT;
ALTER TABLE users ADD COLUMN name_sort TEXT COLLATE "C";
UPDATE users SET email_lower = lower(email), name_sort = lower(name);
ALTER TABLE users ALTER COLUMN email_lower SET NOT NULL;
CREATE INDEX users_company_email_lower ON users (company_id, email_lower);
CREATE INDEX users_company_role ON users (company_id, role);
CREATE INDEX users_company_name_sort ON users (company_id, name_sort, id);
