-- The provisioning journal of an SQLite database, in a file of its own (see
-- migrations/sqlite/0010_journal_file.sql). Run on every start.
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    request_id TEXT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    client TEXT NOT NULL,
    user_agent TEXT,
    request_body TEXT,
    status INTEGER NOT NULL,
    response_body TEXT,
    latency_micros BIGINT NOT NULL,
    user_id BIGINT,
    change TEXT,
    fault TEXT
);
-- A company's entries in order, with the user each is about: a user's
-- history is read from it without visiting other entries' rows. Entries
-- only ever go at its end; an index by user took each entry at a random
-- place, a page written per entry (a fifth of a GET by id's CPU with the
-- journal on). Files of earlier versions have (company_id, id) and
-- (company_id, user_id, id) instead: replaced on start.
CREATE INDEX IF NOT EXISTS journal_company_entries ON journal (company_id, id, user_id);
DROP INDEX IF EXISTS journal_company_id;
DROP INDEX IF EXISTS journal_company_user;
CREATE INDEX IF NOT EXISTS journal_at ON journal (at);
-- The `database_identity` of the database this journal belongs to.
CREATE TABLE IF NOT EXISTS journal_owner (id TEXT NOT NULL);
