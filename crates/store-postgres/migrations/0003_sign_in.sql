-- Sign-in, recovery and organization tokens: single-use identity links (password reset,
-- email change), shared throttling counters, the sign-in attempt log, and what an
-- organization token may do. Same conventions as 0001: UUIDv7 ids, TIMESTAMPTZ times,
-- secrets only as SHA-256 hex.

CREATE TABLE identity_tokens (
    id                 UUID PRIMARY KEY,
    identity_id        UUID NOT NULL REFERENCES identities (id),
    purpose            TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
    token_hash         TEXT NOT NULL,
    -- The address being confirmed (email changes), as typed and lowercased.
    new_email          TEXT,
    new_email_key      TEXT,
    -- The organization whose admin sent the link, if an admin did.
    org_id             UUID REFERENCES organizations (id),
    requested_by_kind  TEXT NOT NULL,
    requested_by_id    UUID,
    created_at         TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    used_at            TIMESTAMPTZ,
    revoked_at         TIMESTAMPTZ,
    CONSTRAINT identity_tokens_token UNIQUE (token_hash),
    CHECK ((new_email IS NULL) = (new_email_key IS NULL))
);
CREATE INDEX identity_tokens_identity ON identity_tokens (identity_id, purpose, created_at);

-- Fixed-window counters shared by every instance (sign-in failures per email and per
-- address, reset requests, re-authentication).
CREATE TABLE throttles (
    scope              TEXT NOT NULL,
    key                TEXT NOT NULL,
    count              INTEGER NOT NULL CHECK (count >= 0),
    window_started_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Every sign-in, refused or not. No foreign key: an attempt for an unknown email has no
-- identity, and the log outlives what it talks about.
CREATE TABLE sign_in_attempts (
    id           UUID PRIMARY KEY,
    reference    TEXT NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    email        TEXT NOT NULL,
    identity_id  UUID,
    client_ip    TEXT,
    code         TEXT NOT NULL
);
CREATE INDEX sign_in_attempts_identity ON sign_in_attempts (identity_id, id);

-- Organization tokens act for the person who created them, with the permissions chosen
-- at creation (a JSON array of permission codes).
ALTER TABLE api_tokens ADD COLUMN created_by UUID REFERENCES identities (id);
ALTER TABLE api_tokens ADD COLUMN permissions JSONB NOT NULL DEFAULT '[]';
ALTER TABLE api_tokens ADD COLUMN last_used_at TIMESTAMPTZ;
CREATE INDEX api_tokens_org ON api_tokens (org_id, created_at);
CREATE INDEX api_tokens_created_by ON api_tokens (created_by);
