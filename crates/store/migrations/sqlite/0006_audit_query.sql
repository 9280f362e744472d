-- The audit log, queryable by person and app: who and which app a row is about, as columns,
-- so both backends filter them through plain indexes (the engine also keeps them in `detail`).
ALTER TABLE audit ADD COLUMN person TEXT;
ALTER TABLE audit ADD COLUMN person_id TEXT;
ALTER TABLE audit ADD COLUMN app TEXT;

-- Rows written before this migration get the columns from what their detail says. This is the
-- one rewrite the audit log ever sees: the append-only trigger is lifted for it, inside this
-- migration's transaction, and put back before it commits.
DROP TRIGGER audit_no_update;
UPDATE audit SET
    person = CASE WHEN json_type(detail, '$.person') = 'text' THEN lower(json_extract(detail, '$.person')) END,
    person_id = CASE WHEN json_type(detail, '$.person_id') = 'text' THEN json_extract(detail, '$.person_id') END,
    app = CASE
        WHEN json_type(detail, '$.app') = 'text' THEN json_extract(detail, '$.app')
        WHEN substr(action, 1, 4) = 'app.' THEN subject
    END;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

-- Newest first, paged by (at_ms, id), narrowed by tenant and one of these columns.
DROP INDEX audit_tenant;
CREATE INDEX audit_at ON audit (tenant_id, at_ms, id);
CREATE INDEX audit_person ON audit (tenant_id, person, at_ms, id);
CREATE INDEX audit_person_id ON audit (tenant_id, person_id, at_ms, id);
CREATE INDEX audit_subject ON audit (tenant_id, subject, at_ms, id);
CREATE INDEX audit_app ON audit (tenant_id, app, at_ms, id);

-- Without statistics SQLite's planner prefers (tenant_id, at_ms, id), whose order matches the
-- ORDER BY, over the index that finds one person's or one app's rows, and would read a whole
-- tenant's history to find a few of them. An audit log's shape is known in advance (many rows
-- per tenant, few per person), so the statistics say so; applications may write sqlite_stat1
-- themselves for this (https://www.sqlite.org/lang_analyze.html, "fixed results"). ANALYZE is
-- only here to create the table; the figures below replace what it measured.
ANALYZE audit;
DELETE FROM sqlite_stat1 WHERE tbl = 'audit';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('audit', 'sqlite_autoindex_audit_1', '1000000 1'),
    ('audit', 'audit_at', '1000000 100000 2 1'),
    ('audit', 'audit_person', '1000000 100000 20 2 1'),
    ('audit', 'audit_person_id', '1000000 100000 20 2 1'),
    ('audit', 'audit_subject', '1000000 100000 50 2 1'),
    ('audit', 'audit_app', '1000000 100000 5000 2 1');
