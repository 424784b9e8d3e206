-- Single sign-on through OpenID Connect, per organization: its connection, the email
-- domains it claims, and the sign-ins sent to the provider and not yet back.

-- At most one connection per organization. scopes is a JSON array of strings;
-- default_role NULL means nobody new is let in at their first SSO sign-in.
CREATE TABLE sso_connections (
    org_id         TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    issuer         TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    client_secret  TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    default_role   TEXT CHECK (default_role IN ('admin', 'user', 'marketing', 'notifications')),
    enforce        INTEGER NOT NULL CHECK (enforce IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

-- The domain is the key: the database itself refuses a second organization's claim.
CREATE TABLE sso_domains (
    domain  TEXT PRIMARY KEY NOT NULL,
    org_id  TEXT NOT NULL REFERENCES sso_connections (org_id) ON DELETE CASCADE
) STRICT;
CREATE INDEX sso_domains_org ON sso_domains (org_id);

-- Found by the hash of the state value and deleted when taken; expired ones are pruned
-- (expires_at) whenever one is taken.
CREATE TABLE sso_logins (
    state_hash     TEXT PRIMARY KEY NOT NULL,
    org_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    email_hint     TEXT NOT NULL,
    next           TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX sso_logins_expires ON sso_logins (expires_at);
