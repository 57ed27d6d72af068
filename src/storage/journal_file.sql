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
CREATE INDEX IF NOT EXISTS journal_company_id ON journal (company_id, id);
CREATE INDEX IF NOT EXISTS journal_company_user ON journal (company_id, user_id, id);
CREATE INDEX IF NOT EXISTS journal_at ON journal (at);
-- The `database_identity` of the database this journal belongs to.
CREATE TABLE IF NOT EXISTS journal_owner (id TEXT NOT NULL);
