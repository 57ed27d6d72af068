-- Lower-cased in the application (Unicode rules) so both backends agree:
-- the display email for the Teamtailor API's filter[email], and the name
-- for its case-insensitive sort.
ALTER TABLE users ADD COLUMN email_lower TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN name_sort TEXT;
UPDATE users SET email_lower = lower(email), name_sort = lower(name);
CREATE INDEX users_company_email_lower ON users (company_id, email_lower);
CREATE INDEX users_company_role ON users (company_id, role);
CREATE INDEX users_company_name_sort ON users (company_id, name_sort, id);
