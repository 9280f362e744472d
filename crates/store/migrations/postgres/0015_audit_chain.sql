-- A tamper-evident audit log (issue 23): each entry carries its place in its tenant's chain
-- (`seq`), the hash of the entry before it and its own hash over both; `audit_chain` holds each
-- tenant's last sequence number and hash, and its row is what appenders take in turn.
-- Entries written before this migration have no `seq`; their digest starts the chain.
-- Adding columns is not an UPDATE: the append-only triggers stay in force. No index on `seq`:
-- the chain row serialises appends, and only `audit verify` reads in `seq` order.
ALTER TABLE audit ADD COLUMN seq BIGINT;
ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;

CREATE TABLE audit_chain (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants(id),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
