-- The identity an organization's provider knows by (issuer, subject), linked at the
-- person's first SSO sign-in. Linking the same subject again replaces the identity and
-- linked_at. Same conventions as 0001: UUIDv7 ids, TIMESTAMPTZ times.
CREATE TABLE sso_subjects (
    org_id       UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    identity_id  UUID NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    linked_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, issuer, subject)
);
CREATE INDEX sso_subjects_identity ON sso_subjects (identity_id);
