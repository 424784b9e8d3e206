-- The identity an organization's provider knows by (issuer, subject), linked at the
-- person's first SSO sign-in. Linking the same subject again replaces the identity and
-- linked_at.
CREATE TABLE sso_subjects (
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    issuer       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    identity_id  TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    linked_at    INTEGER NOT NULL,
    PRIMARY KEY (org_id, issuer, subject)
) STRICT;
CREATE INDEX sso_subjects_identity ON sso_subjects (identity_id);
