-- The audit log, queryable by person and app: who and which app a row is about, as columns,
-- so both backends filter them through plain indexes (the engine also keeps them in `detail`).
ALTER TABLE audit ADD COLUMN person TEXT;
ALTER TABLE audit ADD COLUMN person_id TEXT;
ALTER TABLE audit ADD COLUMN app TEXT;

-- Rows written before this migration get the columns from what their detail says. This is the
-- one rewrite the audit log ever sees: the append-only trigger is lifted for it, inside this
-- migration's transaction, and put back before it commits.
ALTER TABLE audit DISABLE TRIGGER audit_append_only;
UPDATE audit SET
    person = CASE WHEN jsonb_typeof(detail::jsonb -> 'person') = 'string' THEN lower(detail::jsonb ->> 'person') END,
    person_id = CASE WHEN jsonb_typeof(detail::jsonb -> 'person_id') = 'string' THEN detail::jsonb ->> 'person_id' END,
    app = CASE
        WHEN jsonb_typeof(detail::jsonb -> 'app') = 'string' THEN detail::jsonb ->> 'app'
        WHEN substr(action, 1, 4) = 'app.' THEN subject
    END;
ALTER TABLE audit ENABLE TRIGGER audit_append_only;

-- Row triggers do not see TRUNCATE; this one refuses it too.
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_audit_append_only();

-- Newest first, paged by (at_ms, id), narrowed by tenant and one of these columns.
DROP INDEX audit_tenant;
CREATE INDEX audit_at ON audit (tenant_id, at_ms, id);
CREATE INDEX audit_person ON audit (tenant_id, person, at_ms, id);
CREATE INDEX audit_person_id ON audit (tenant_id, person_id, at_ms, id);
CREATE INDEX audit_subject ON audit (tenant_id, subject, at_ms, id);
CREATE INDEX audit_app ON audit (tenant_id, app, at_ms, id);
