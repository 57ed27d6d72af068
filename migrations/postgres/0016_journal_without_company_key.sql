-- Journal entries name their company without a foreign key. Its check, a
-- lookup of the company row FOR KEY SHARE for every entry inserted, was a
-- quarter of PostgreSQL's time to insert a batch (pgbench, 500 entries:
-- 12.8 ms with it, 9.3 without). Entries are written only for companies
-- that exist, companies are never deleted, and a company's reset deletes
-- its entries itself; SQLite's journal, in a file of its own, never had
-- one.
ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_company_id_fkey;
