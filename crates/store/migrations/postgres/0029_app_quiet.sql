-- Apps whose user list is being read in full while Tenure holds its own writes to them back. A
-- full read that raced the app's changes (its totalResults moved between pages, twice over) is
-- made again in a quiet moment, and during a wave of creates the writes are Tenure's own: the
-- reader asks every node's workers to send that app nothing until its read is done. One row a
-- reader; workers claim no operation of an app that has a row whose `until_ms` is still ahead.
-- The reader renews `until_ms` while it reads and deletes its row when done, so a reader that
-- died frees the app within seconds.
CREATE TABLE app_quiet (
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    reader TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, reader)
);
