-- TRUNCATE fires no row triggers, so 0001's trigger alone would let it empty the audit
-- trail. A statement trigger refuses it too. (0001 stays as it was: sqlx refuses to run
-- against a database whose applied migrations changed.)
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
