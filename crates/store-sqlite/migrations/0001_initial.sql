-- Roster's schema on SQLite. Ids are UUIDv7 text; times are UTC milliseconds since the
-- epoch; secrets are stored only as SHA-256 hex.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('provider', 'vendor', 'company')),
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX organizations_slug ON organizations (slug);

CREATE TABLE identities (
    id                 TEXT PRIMARY KEY NOT NULL,
    email              TEXT NOT NULL,
    -- Lowercased whole address: uniqueness is case-insensitive.
    email_key          TEXT NOT NULL,
    name               TEXT,
    password_hash      TEXT,
    email_verified_at  INTEGER,
    timezone           TEXT,
    locale             TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX identities_email_key ON identities (email_key);

CREATE TABLE memberships (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    identity_id  TEXT NOT NULL REFERENCES identities (id),
    status       TEXT NOT NULL CHECK (status IN ('invited', 'active', 'deactivated', 'removed')),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    removed_at   INTEGER
) STRICT;
-- One live membership per identity and organization; removed ones stay as tombstones.
CREATE UNIQUE INDEX memberships_live ON memberships (org_id, identity_id) WHERE status <> 'removed';
CREATE INDEX memberships_identity ON memberships (identity_id);

CREATE TABLE membership_roles (
    membership_id  TEXT NOT NULL REFERENCES memberships (id),
    org_id         TEXT NOT NULL REFERENCES organizations (id),
    role           TEXT NOT NULL CHECK (role IN ('admin', 'user', 'marketing', 'notifications')),
    PRIMARY KEY (membership_id, role)
) STRICT;
CREATE INDEX membership_roles_org ON membership_roles (org_id, role);

CREATE TABLE invitations (
    id               TEXT PRIMARY KEY NOT NULL,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    membership_id    TEXT NOT NULL REFERENCES memberships (id),
    identity_id      TEXT NOT NULL REFERENCES identities (id),
    token_hash       TEXT NOT NULL,
    invited_by_kind  TEXT NOT NULL,
    invited_by_id    TEXT,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    accepted_at      INTEGER,
    revoked_at       INTEGER
) STRICT;
CREATE UNIQUE INDEX invitations_token ON invitations (token_hash);
CREATE INDEX invitations_membership ON invitations (org_id, membership_id);

CREATE TABLE sessions (
    id                    TEXT PRIMARY KEY NOT NULL,
    identity_id           TEXT NOT NULL REFERENCES identities (id),
    token_hash            TEXT NOT NULL,
    csrf_hash             TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    last_seen_at          INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    idle_timeout_minutes  INTEGER NOT NULL,
    revoked_at            INTEGER
) STRICT;
CREATE UNIQUE INDEX sessions_token ON sessions (token_hash);
CREATE INDEX sessions_identity ON sessions (identity_id);

CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('operator', 'organization')),
    org_id      TEXT REFERENCES organizations (id),
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER,
    CHECK ((kind = 'operator') = (org_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX api_tokens_token ON api_tokens (token_hash);

-- Append-only; no foreign keys, because the trail outlives what it talks about.
CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY NOT NULL,
    org_id       TEXT,
    at           INTEGER NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    target_kind  TEXT,
    target_id    TEXT,
    details      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

CREATE TABLE outbox (
    id               TEXT PRIMARY KEY NOT NULL,
    org_id           TEXT,
    recipient        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    -- The notice as JSON; NULL once sent (it may hold a live link).
    payload          TEXT,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    lease_until      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
) STRICT;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
