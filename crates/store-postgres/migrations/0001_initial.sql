-- Roster's schema on PostgreSQL. Ids are UUIDv7; times are TIMESTAMPTZ (UTC, millisecond
-- values); secrets are stored only as SHA-256 hex.

CREATE TABLE organizations (
    id          UUID PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('provider', 'vendor', 'company')),
    name        TEXT NOT NULL,
    slug        TEXT NOT NULL,
    settings    JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT organizations_slug UNIQUE (slug)
);

CREATE TABLE identities (
    id                 UUID PRIMARY KEY,
    email              TEXT NOT NULL,
    -- Lowercased whole address: uniqueness is case-insensitive.
    email_key          TEXT NOT NULL,
    name               TEXT,
    password_hash      TEXT,
    email_verified_at  TIMESTAMPTZ,
    timezone           TEXT,
    locale             TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT identities_email_key UNIQUE (email_key)
);

CREATE TABLE memberships (
    id           UUID PRIMARY KEY,
    org_id       UUID NOT NULL REFERENCES organizations (id),
    identity_id  UUID NOT NULL REFERENCES identities (id),
    status       TEXT NOT NULL CHECK (status IN ('invited', 'active', 'deactivated', 'removed')),
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    removed_at   TIMESTAMPTZ
);
-- One live membership per identity and organization; removed ones stay as tombstones.
CREATE UNIQUE INDEX memberships_live ON memberships (org_id, identity_id) WHERE status <> 'removed';
CREATE INDEX memberships_identity ON memberships (identity_id);

CREATE TABLE membership_roles (
    membership_id  UUID NOT NULL REFERENCES memberships (id),
    org_id         UUID NOT NULL REFERENCES organizations (id),
    role           TEXT NOT NULL CHECK (role IN ('admin', 'user', 'marketing', 'notifications')),
    PRIMARY KEY (membership_id, role)
);
CREATE INDEX membership_roles_org ON membership_roles (org_id, role);

CREATE TABLE invitations (
    id               UUID PRIMARY KEY,
    org_id           UUID NOT NULL REFERENCES organizations (id),
    membership_id    UUID NOT NULL REFERENCES memberships (id),
    identity_id      UUID NOT NULL REFERENCES identities (id),
    token_hash       TEXT NOT NULL,
    invited_by_kind  TEXT NOT NULL,
    invited_by_id    UUID,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    accepted_at      TIMESTAMPTZ,
    revoked_at       TIMESTAMPTZ,
    CONSTRAINT invitations_token UNIQUE (token_hash)
);
CREATE INDEX invitations_membership ON invitations (org_id, membership_id);

CREATE TABLE sessions (
    id                    UUID PRIMARY KEY,
    identity_id           UUID NOT NULL REFERENCES identities (id),
    token_hash            TEXT NOT NULL,
    csrf_hash             TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    last_seen_at          TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL,
    idle_timeout_minutes  INTEGER NOT NULL,
    revoked_at            TIMESTAMPTZ,
    CONSTRAINT sessions_token UNIQUE (token_hash)
);
CREATE INDEX sessions_identity ON sessions (identity_id);

CREATE TABLE api_tokens (
    id          UUID PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('operator', 'organization')),
    org_id      UUID REFERENCES organizations (id),
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ,
    CONSTRAINT api_tokens_token UNIQUE (token_hash),
    CHECK ((kind = 'operator') = (org_id IS NULL))
);

-- Append-only; no foreign keys, because the trail outlives what it talks about.
CREATE TABLE audit_events (
    id           UUID PRIMARY KEY,
    org_id       UUID,
    at           TIMESTAMPTZ NOT NULL,
    actor_kind   TEXT NOT NULL,
    actor_id     UUID,
    action       TEXT NOT NULL,
    target_kind  TEXT,
    target_id    UUID,
    details      JSONB NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE outbox (
    id               UUID PRIMARY KEY,
    org_id           UUID,
    recipient        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    -- The notice; NULL once sent (it may hold a live link).
    payload          JSONB,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    lease_until      TIMESTAMPTZ,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    sent_at          TIMESTAMPTZ
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
