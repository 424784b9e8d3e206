-- Sign-in, recovery and organization tokens: single-use identity links (password reset,
-- email change), shared throttling counters, the sign-in attempt log, and what an
-- organization token may do. Same conventions as 0001: UUIDv7 text ids, UTC milliseconds,
-- secrets only as SHA-256 hex.

CREATE TABLE identity_tokens (
    id                 TEXT PRIMARY KEY NOT NULL,
    identity_id        TEXT NOT NULL REFERENCES identities (id),
    purpose            TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
    token_hash         TEXT NOT NULL,
    -- The address being confirmed (email changes), as typed and lowercased.
    new_email          TEXT,
    new_email_key      TEXT,
    -- The organization whose admin sent the link, if an admin did.
    org_id             TEXT REFERENCES organizations (id),
    requested_by_kind  TEXT NOT NULL,
    requested_by_id    TEXT,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    used_at            INTEGER,
    revoked_at         INTEGER,
    CHECK ((new_email IS NULL) = (new_email_key IS NULL))
) STRICT;
CREATE UNIQUE INDEX identity_tokens_token ON identity_tokens (token_hash);
CREATE INDEX identity_tokens_identity ON identity_tokens (identity_id, purpose, created_at);

-- Fixed-window counters shared by every instance (sign-in failures per email and per
-- address, reset requests, re-authentication).
CREATE TABLE throttles (
    scope              TEXT NOT NULL,
    key                TEXT NOT NULL,
    count              INTEGER NOT NULL CHECK (count >= 0),
    window_started_at  INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;

-- Every sign-in, refused or not. No foreign key: an attempt for an unknown email has no
-- identity, and the log outlives what it talks about.
CREATE TABLE sign_in_attempts (
    id           TEXT PRIMARY KEY NOT NULL,
    reference    TEXT NOT NULL,
    at           INTEGER NOT NULL,
    email        TEXT NOT NULL,
    identity_id  TEXT,
    client_ip    TEXT,
    code         TEXT NOT NULL
) STRICT;
CREATE INDEX sign_in_attempts_identity ON sign_in_attempts (identity_id, id);

-- Organization tokens act for the person who created them, with the permissions chosen
-- at creation (a JSON array of permission codes).
ALTER TABLE api_tokens ADD COLUMN created_by TEXT REFERENCES identities (id);
ALTER TABLE api_tokens ADD COLUMN permissions TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
CREATE INDEX api_tokens_org ON api_tokens (org_id, created_at);
CREATE INDEX api_tokens_created_by ON api_tokens (created_by);
