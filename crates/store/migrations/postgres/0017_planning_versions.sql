-- Versions that let a node keep the directory and each app's stored accounts in memory between
-- propagation passes (issue 18), with the database as the truth.
--
-- `tenants.directory_version` moves in the same transaction as every write to the directory
-- (people, groups, memberships, nesting, offboardings): triggers, so no write path can forget it.
-- A cache built at version V is current while the version is still V.
-- `tenants.marks_answered` moves whenever marks of directory changes (person marks, "everything")
-- are cleared (`queue::clear_dirty_in`): a node that did not clear them itself knows that changes
-- it never saw as marks were answered by someone else, and rebuilds.
-- `apps.accounts_version` moves with every write to the app's stored accounts, and each account
-- row carries the version that last wrote it (`seq`); `accounts_gone` keeps the version that
-- removed an account. A cache at version V reads only the rows and removals after V.
ALTER TABLE tenants ADD COLUMN directory_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN marks_answered BIGINT NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN accounts_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX accounts_seq ON accounts (app_id, seq);

CREATE TABLE accounts_gone (
    tenant_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (app_id, remote_id)
);
CREATE INDEX accounts_gone_seq ON accounts_gone (app_id, seq);

-- Statement-level triggers (one bump per statement, not per row): a bulk import of 100,000
-- people updates the tenant's row a few hundred times, not 100,000 times in one transaction.
CREATE FUNCTION tenure_directory_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tenants SET directory_version = directory_version + 1
        WHERE id IN (SELECT DISTINCT tenant_id FROM changed_rows);
    RETURN NULL;
END $$;

CREATE TRIGGER people_directory_insert AFTER INSERT ON people REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER people_directory_update AFTER UPDATE ON people REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER people_directory_delete AFTER DELETE ON people REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER groups_directory_insert AFTER INSERT ON groups REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER groups_directory_update AFTER UPDATE ON groups REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER groups_directory_delete AFTER DELETE ON groups REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER group_members_directory_insert AFTER INSERT ON group_members REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER group_members_directory_update AFTER UPDATE ON group_members REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER group_members_directory_delete AFTER DELETE ON group_members REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER group_nesting_directory_insert AFTER INSERT ON group_nesting REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER group_nesting_directory_update AFTER UPDATE ON group_nesting REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER group_nesting_directory_delete AFTER DELETE ON group_nesting REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER offboardings_directory_insert AFTER INSERT ON offboardings REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER offboardings_directory_update AFTER UPDATE ON offboardings REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();
CREATE TRIGGER offboardings_directory_delete AFTER DELETE ON offboardings REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_directory_version();

-- Stamping the rows is an UPDATE of accounts, which fires the UPDATE trigger again: the nested
-- firing (depth > 1) does nothing.
CREATE FUNCTION tenure_accounts_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    UPDATE apps SET accounts_version = accounts_version + 1
        WHERE id IN (SELECT DISTINCT app_id FROM changed_rows);
    UPDATE accounts a SET seq = p.accounts_version FROM apps p, changed_rows c
        WHERE p.id = a.app_id AND a.app_id = c.app_id AND a.remote_id = c.remote_id;
    RETURN NULL;
END $$;

CREATE FUNCTION tenure_accounts_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE apps SET accounts_version = accounts_version + 1
        WHERE id IN (SELECT DISTINCT app_id FROM changed_rows);
    INSERT INTO accounts_gone (tenant_id, app_id, remote_id, seq)
        SELECT c.tenant_id, c.app_id, c.remote_id, p.accounts_version FROM changed_rows c JOIN apps p ON p.id = c.app_id
        ON CONFLICT (app_id, remote_id) DO UPDATE SET seq = excluded.seq;
    RETURN NULL;
END $$;

CREATE TRIGGER accounts_version_insert AFTER INSERT ON accounts REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_accounts_written();
CREATE TRIGGER accounts_version_update AFTER UPDATE ON accounts REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_accounts_written();
CREATE TRIGGER accounts_version_delete AFTER DELETE ON accounts REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tenure_accounts_removed();
