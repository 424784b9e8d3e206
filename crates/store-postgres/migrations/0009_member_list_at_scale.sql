-- The member list at a million members (issue 9): an exact count without counting, and a
-- search an index serves.

-- Members per organization by status, kept by a trigger in the same transaction as every
-- membership insert, status change and delete, so an unfiltered list's `total` is one
-- indexed read instead of a count of the whole organization. One row per organization, so
-- a status change locks one row: two counter rows locked in opposite orders by two
-- concurrent changes could deadlock.
-- Instances still on the previous version may write memberships while this runs: the lock
-- (taken until the migration commits) keeps any change from falling between the backfill's
-- snapshot and the trigger that counts the next one.
LOCK TABLE memberships IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE member_counts (
    org_id       UUID PRIMARY KEY,
    invited      BIGINT NOT NULL DEFAULT 0,
    active       BIGINT NOT NULL DEFAULT 0,
    deactivated  BIGINT NOT NULL DEFAULT 0,
    removed      BIGINT NOT NULL DEFAULT 0
);
INSERT INTO member_counts (org_id, invited, active, deactivated, removed)
    SELECT org_id, count(*) FILTER (WHERE status = 'invited'),
           count(*) FILTER (WHERE status = 'active'),
           count(*) FILTER (WHERE status = 'deactivated'),
           count(*) FILTER (WHERE status = 'removed')
    FROM memberships GROUP BY org_id;

CREATE FUNCTION member_counts_add(org UUID, status TEXT, delta BIGINT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO member_counts AS c (org_id, invited, active, deactivated, removed)
    VALUES (org, CASE WHEN status = 'invited' THEN delta ELSE 0 END,
                 CASE WHEN status = 'active' THEN delta ELSE 0 END,
                 CASE WHEN status = 'deactivated' THEN delta ELSE 0 END,
                 CASE WHEN status = 'removed' THEN delta ELSE 0 END)
    ON CONFLICT (org_id) DO UPDATE SET invited = c.invited + excluded.invited,
        active = c.active + excluded.active,
        deactivated = c.deactivated + excluded.deactivated,
        removed = c.removed + excluded.removed;
$$;

CREATE FUNCTION memberships_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM member_counts_add(NEW.org_id, NEW.status, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM member_counts_add(OLD.org_id, OLD.status, -1);
    ELSIF OLD.org_id IS DISTINCT FROM NEW.org_id OR OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM member_counts_add(OLD.org_id, OLD.status, -1);
        PERFORM member_counts_add(NEW.org_id, NEW.status, 1);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER memberships_count AFTER INSERT OR UPDATE OF org_id, status OR DELETE
    ON memberships FOR EACH ROW EXECUTE FUNCTION memberships_count();

-- Substring search over every identity's email and name: trigram indexes, so `q` written
-- as `LIKE '%q%'` finds its matches without reading every member.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX identities_email_trgm ON identities USING gin (email_key gin_trgm_ops);
CREATE INDEX identities_name_trgm ON identities USING gin (name_key gin_trgm_ops);
