-- Locks per key (`lock 'deploy-${env}', limit: 1 do ... end`): each row is
-- one `lock` expression of a job, holding (held_at set) or waiting (NULL)
-- for its tenant's key. Rows are written by the transaction of the batch
-- that applied, left or cancelled the expression; the key's row in
-- lock_keys is updated first by every transaction that changes a key's
-- rows, so on PostgreSQL those transactions take their turns key by key.
-- Waiters enter in the order of their ids (first come, first served).

CREATE TABLE lock_keys (
    tenant  TEXT NOT NULL,
    key     TEXT NOT NULL,
    changes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, key)
);

CREATE TABLE locks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    key          TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    fei          TEXT NOT NULL,
    max_holders  INTEGER NOT NULL,
    line         INTEGER NOT NULL,
    requested_at INTEGER NOT NULL,
    held_at      INTEGER,
    UNIQUE (job_id, fei)
);
CREATE INDEX locks_key ON locks (tenant, key, id);
