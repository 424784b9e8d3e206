-- What an organization's permissions are made of beside built-in roles (its custom roles,
-- its groups and the roles each group holds) carries a version, replaced by triggers in
-- the same transaction as every insert, update and delete of those rows. Each instance
-- keeps a copy of each organization's definitions and compares it with the version it
-- reads together with a membership, so a change decides the very next request on every
-- instance. Every change to these rows takes the organization's lock first, so the
-- version's row lock adds no wait and no lock order of its own.
--
-- The version is a random non-negative number, not a counter: a counter would repeat
-- after commits are lost (a failover to a replica that had not received them, a restore),
-- and a copy kept at the lost value would then match a different set of rows.
ALTER TABLE organizations ADD COLUMN access_version BIGINT NOT NULL DEFAULT 0;

-- 62 random bits from two draws of random(), each a double with at least 32 random bits.
CREATE FUNCTION access_version_next() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT (floor(random() * 2147483648)::bigint << 31) | floor(random() * 2147483648)::bigint
$$;

CREATE FUNCTION access_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE organizations SET access_version = access_version_next() WHERE id = OLD.org_id;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.org_id IS DISTINCT FROM OLD.org_id) THEN
        UPDATE organizations SET access_version = access_version_next() WHERE id = NEW.org_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER roles_access_version AFTER INSERT OR UPDATE OR DELETE ON roles
    FOR EACH ROW EXECUTE FUNCTION access_version_bump();
CREATE TRIGGER member_groups_access_version AFTER INSERT OR UPDATE OR DELETE ON member_groups
    FOR EACH ROW EXECUTE FUNCTION access_version_bump();
CREATE TRIGGER group_roles_access_version AFTER INSERT OR UPDATE OR DELETE ON group_roles
    FOR EACH ROW EXECUTE FUNCTION access_version_bump();
