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

CREATE TRIGGER people_directory_insert AFTER INSERT ON people BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER people_directory_update AFTER UPDATE ON people BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER people_directory_delete AFTER DELETE ON people BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER groups_directory_insert AFTER INSERT ON groups BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER groups_directory_update AFTER UPDATE ON groups BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER groups_directory_delete AFTER DELETE ON groups BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER group_members_directory_insert AFTER INSERT ON group_members BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER group_members_directory_update AFTER UPDATE ON group_members BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER group_members_directory_delete AFTER DELETE ON group_members BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER group_nesting_directory_insert AFTER INSERT ON group_nesting BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER group_nesting_directory_update AFTER UPDATE ON group_nesting BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER group_nesting_directory_delete AFTER DELETE ON group_nesting BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER offboardings_directory_insert AFTER INSERT ON offboardings BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER offboardings_directory_update AFTER UPDATE ON offboardings BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER offboardings_directory_delete AFTER DELETE ON offboardings BEGIN
    UPDATE tenants SET directory_version = directory_version + 1 WHERE id = OLD.tenant_id;
END;

-- The stamp is written by the trigger itself; `WHEN NEW.seq IS OLD.seq` keeps that write from
-- counting as a change of its own should recursive triggers ever be turned on.
CREATE TRIGGER accounts_version_insert AFTER INSERT ON accounts BEGIN
    UPDATE apps SET accounts_version = accounts_version + 1 WHERE id = NEW.app_id;
    UPDATE accounts SET seq = (SELECT accounts_version FROM apps WHERE id = NEW.app_id)
        WHERE app_id = NEW.app_id AND remote_id = NEW.remote_id;
END;
CREATE TRIGGER accounts_version_update AFTER UPDATE ON accounts WHEN NEW.seq IS OLD.seq BEGIN
    UPDATE apps SET accounts_version = accounts_version + 1 WHERE id = NEW.app_id;
    UPDATE accounts SET seq = (SELECT accounts_version FROM apps WHERE id = NEW.app_id)
        WHERE app_id = NEW.app_id AND remote_id = NEW.remote_id;
END;
CREATE TRIGGER accounts_version_delete AFTER DELETE ON accounts BEGIN
    UPDATE apps SET accounts_version = accounts_version + 1 WHERE id = OLD.app_id;
    INSERT INTO accounts_gone (tenant_id, app_id, remote_id, seq)
        SELECT OLD.tenant_id, OLD.app_id, OLD.remote_id, accounts_version FROM apps WHERE id = OLD.app_id
        ON CONFLICT (app_id, remote_id) DO UPDATE SET seq = excluded.seq;
END;
