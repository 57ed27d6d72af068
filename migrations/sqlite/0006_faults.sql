-- Fault injection plans per company (JSON), set at runtime through /admin.
CREATE TABLE company_faults (
    company_id BIGINT PRIMARY KEY REFERENCES companies (id) ON DELETE CASCADE,
    plan TEXT NOT NULL
);
