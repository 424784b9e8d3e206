-- Single sign-on through OpenID Connect, per organization: its connection, the email
-- domains it claims, and the sign-ins sent to the provider and not yet back. Same
-- conventions as 0001: UUIDv7 ids, TIMESTAMPTZ times, explicit constraint names.

-- At most one connection per organization. default_role NULL means nobody new is let in
-- at their first SSO sign-in.
CREATE TABLE sso_connections (
    org_id         UUID PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    issuer         TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    client_secret  TEXT NOT NULL,
    scopes         TEXT[] NOT NULL,
    default_role   TEXT CHECK (default_role IN ('admin', 'user', 'marketing', 'notifications')),
    enforce        BOOLEAN NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- The domain is the key: the database itself refuses a second organization's claim
-- (the store maps a violation of sso_domains_domain to DomainClaimed).
CREATE TABLE sso_domains (
    domain  TEXT NOT NULL,
    org_id  UUID NOT NULL REFERENCES sso_connections (org_id) ON DELETE CASCADE,
    CONSTRAINT sso_domains_domain PRIMARY KEY (domain)
);
CREATE INDEX sso_domains_org ON sso_domains (org_id);

-- Found by the hash of the state value and deleted when taken; expired ones are pruned
-- (expires_at) whenever one is taken.
CREATE TABLE sso_logins (
    state_hash     TEXT PRIMARY KEY,
    org_id         UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    email_hint     TEXT NOT NULL,
    next           TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX sso_logins_expires ON sso_logins (expires_at);
