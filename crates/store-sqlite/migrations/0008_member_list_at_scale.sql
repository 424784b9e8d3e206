-- The member list at a million members (issue 9): an exact count without counting, and a
-- search an index serves.

-- Members per organization by status, kept by triggers in the same transaction as every
-- membership insert, status change and delete, so an unfiltered list's `total` is one
-- indexed read instead of a count of the whole organization. One row per organization, so
-- a status change touches one row (on PostgreSQL two row locks taken in either order could
-- deadlock two concurrent changes).
CREATE TABLE member_counts (
    org_id       TEXT PRIMARY KEY NOT NULL,
    invited      INTEGER NOT NULL DEFAULT 0,
    active       INTEGER NOT NULL DEFAULT 0,
    deactivated  INTEGER NOT NULL DEFAULT 0,
    removed      INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
INSERT INTO member_counts (org_id, invited, active, deactivated, removed)
    SELECT org_id, sum(status = 'invited'), sum(status = 'active'),
           sum(status = 'deactivated'), sum(status = 'removed')
    FROM memberships GROUP BY org_id;

CREATE TRIGGER memberships_count_insert AFTER INSERT ON memberships BEGIN
    INSERT INTO member_counts (org_id) VALUES (new.org_id) ON CONFLICT (org_id) DO NOTHING;
    UPDATE member_counts SET invited = invited + (new.status = 'invited'),
        active = active + (new.status = 'active'),
        deactivated = deactivated + (new.status = 'deactivated'),
        removed = removed + (new.status = 'removed')
    WHERE org_id = new.org_id;
END;
CREATE TRIGGER memberships_count_update AFTER UPDATE OF org_id, status ON memberships
WHEN old.org_id IS NOT new.org_id OR old.status IS NOT new.status BEGIN
    UPDATE member_counts SET invited = invited - (old.status = 'invited'),
        active = active - (old.status = 'active'),
        deactivated = deactivated - (old.status = 'deactivated'),
        removed = removed - (old.status = 'removed')
    WHERE org_id = old.org_id;
    INSERT INTO member_counts (org_id) VALUES (new.org_id) ON CONFLICT (org_id) DO NOTHING;
    UPDATE member_counts SET invited = invited + (new.status = 'invited'),
        active = active + (new.status = 'active'),
        deactivated = deactivated + (new.status = 'deactivated'),
        removed = removed + (new.status = 'removed')
    WHERE org_id = new.org_id;
END;
CREATE TRIGGER memberships_count_delete AFTER DELETE ON memberships BEGIN
    UPDATE member_counts SET invited = invited - (old.status = 'invited'),
        active = active - (old.status = 'active'),
        deactivated = deactivated - (old.status = 'deactivated'),
        removed = removed - (old.status = 'removed')
    WHERE org_id = old.org_id;
END;

-- Substring search over every identity's email and name: an FTS5 index of trigrams, so
-- `q` of three characters or more finds its matches without reading every member.
-- The index is keyed by `search_row`, a stable integer of the identity's own: the implicit
-- rowid would do, but VACUUM may renumber it and the index would then name other people.
-- The index stores no text of its own (contentless); the triggers keep it in step.
ALTER TABLE identities ADD COLUMN search_row INTEGER;
UPDATE identities SET search_row = rowid;
CREATE UNIQUE INDEX identities_search_row ON identities (search_row);

CREATE VIRTUAL TABLE identity_search USING fts5 (
    email_key, name_key, content = '', contentless_delete = 1, tokenize = 'trigram case_sensitive 1'
);
INSERT INTO identity_search (rowid, email_key, name_key)
    SELECT search_row, email_key, coalesce(name_key, '') FROM identities;

CREATE TRIGGER identities_search_insert AFTER INSERT ON identities BEGIN
    UPDATE identities SET search_row = (SELECT coalesce(max(search_row), 0) + 1 FROM identities)
        WHERE id = new.id;
    INSERT INTO identity_search (rowid, email_key, name_key)
        SELECT search_row, new.email_key, coalesce(new.name_key, '') FROM identities
        WHERE id = new.id;
END;
CREATE TRIGGER identities_search_update AFTER UPDATE OF email_key, name_key ON identities BEGIN
    DELETE FROM identity_search WHERE rowid = old.search_row;
    INSERT INTO identity_search (rowid, email_key, name_key)
        VALUES (new.search_row, new.email_key, coalesce(new.name_key, ''));
END;
CREATE TRIGGER identities_search_delete AFTER DELETE ON identities BEGIN
    DELETE FROM identity_search WHERE rowid = old.search_row;
END;
