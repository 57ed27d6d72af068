-- Instants are microseconds since the Unix epoch (BIGINT) on both backends.
CREATE TABLE companies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT companies_slug_key UNIQUE (slug)
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    lookup TEXT NOT NULL,
    digest BLOB NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT,
    CONSTRAINT api_keys_lookup_key UNIQUE (lookup)
);
CREATE INDEX api_keys_company ON api_keys (company_id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    company_id BIGINT NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    -- Lower-cased in the application (Unicode rules), so both backends agree.
    user_name_lower TEXT NOT NULL,
    external_id TEXT,
    name_formatted TEXT,
    given_name TEXT,
    family_name TEXT,
    middle_name TEXT,
    honorific_prefix TEXT,
    honorific_suffix TEXT,
    display_name TEXT,
    title TEXT,
    emails TEXT NOT NULL,
    phone_numbers TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT,
    email TEXT NOT NULL,
    phone TEXT,
    locale TEXT,
    time_zone TEXT,
    visible INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_company_user_name_key ON users (company_id, user_name_lower);
CREATE INDEX users_company_external_id ON users (company_id, external_id);
CREATE INDEX users_company_created ON users (company_id, created_at, id);
