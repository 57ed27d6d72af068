-- The provisioning journal: what each SCIM and API request sent, what it got
-- back and what it changed. Bodies are stored redacted.
CREATE TABLE journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
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
CREATE INDEX journal_company_id ON journal (company_id, id);
CREATE INDEX journal_company_user ON journal (company_id, user_id, id);
CREATE INDEX journal_at ON journal (at);
