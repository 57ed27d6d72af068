-- Query planner statistics as for a company of a million users, so SQLite
-- uses the selective index for a filter (externalId eq, title sw, ...) from
-- the first request, whatever the table holds. Without statistics it walks
-- the creation-order index and filters every row, which is slow at scale.
-- `ANALYZE` replaces them with measured figures.
ANALYZE companies;
DELETE FROM sqlite_stat1 WHERE tbl IN ('users', 'user_values');
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('users', 'users_company_user_name_key', '1000000 1000000 1'),
    ('users', 'users_company_external_id', '1000000 1000000 1'),
    ('users', 'users_company_created', '1000000 1000000 1 1'),
    ('users', 'users_company_email_lower', '1000000 1000000 1'),
    ('users', 'users_company_role', '1000000 1000000 200000'),
    ('users', 'users_company_name_sort', '1000000 1000000 2 1'),
    ('users', 'users_company_title', '1000000 1000000 100'),
    ('user_values', 'user_values_value', '2000000 1000000 1'),
    ('user_values', 'sqlite_autoindex_user_values_1', '2000000 2 1 1');
ANALYZE sqlite_schema;
