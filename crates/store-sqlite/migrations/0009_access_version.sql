-- What an organization's permissions are made of beside built-in roles (its custom roles,
-- its groups and the roles each group holds) carries a version, replaced by triggers in
-- the same transaction as every insert, update and delete of those rows. An instance keeps
-- a copy of each organization's definitions and compares it with the version it reads
-- together with a membership, so a change decides the very next request on every
-- instance and in every process that writes the file.
--
-- The version is a random non-negative 63-bit number, not a counter: a counter would
-- repeat after the file is restored from a backup under a running server, and a copy
-- kept at the lost value would then match a different set of rows.
--
-- A migration that rebuilds one of these tables (create, copy, drop, rename) drops its
-- triggers and must create them again.
ALTER TABLE organizations ADD COLUMN access_version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER roles_access_version_insert AFTER INSERT ON roles BEGIN
    UPDATE organizations SET access_version = random() & 9223372036854775807 WHERE id = new.org_id;
END;
CREATE TRIGGER roles_access_version_update AFTER UPDATE ON roles BEGIN
    UPDATE organizations SET access_version = random() & 9223372036854775807
        WHERE id IN (old.org_id, new.org_id);
END;
CREATE TRIGGER roles_access_version_delete AFTER DELETE ON roles BEGIN
    UPDATE organizations SET access_version = random() & 9223372036854775807 WHERE id = old.org_id;
END;

CREATE TRIGGER member_groups_access_version_insert AFTER INSERT ON member_groups BEGIN
    UPDATE organizations SET access_version = random() & 9223372036854775807 WHERE id = new.org_id;
END;
CREATE TRIGGER member_groups_access_version_update AFTER UPDATE ON member_groups BEGIN
    UPDATE organizations SET access_version = random() & 9223372036854775807
        WHERE id IN (old.org_id, new.org_id);
END;
CREATE TRIGGER member_groups_access_version_delete AFTER DELETE ON member_groups BEGIN
    UPDATE organizations SET access_version = random() & 9223372036854775807 WHERE id = old.org_id;
END;

CREATE TRIGGER group_roles_access_version_insert AFTER INSERT ON group_roles BEGIN
    UPDATE organizations SET access_version = random() & 9223372036854775807 WHERE id = new.org_id;
END;
CREATE TRIGGER group_roles_access_version_update AFTER UPDATE ON group_roles BEGIN
    UPDATE organizations SET access_version = random() & 9223372036854775807
        WHERE id IN (old.org_id, new.org_id);
END;
CREATE TRIGGER group_roles_access_version_delete AFTER DELETE ON group_roles BEGIN
    UPDATE organizations SET access_version = random() & 9223372036854775807 WHERE id = old.org_id;
END;
