-- A job's state is one of the lifecycle's (host/src/engine/lifecycle.rs,
-- JobState::ALL): the database refuses any other. SQLite adds a CHECK
-- constraint only with the table, so the table is rebuilt with it.

CREATE TABLE jobs_checked (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL,
    name            TEXT,
    definition      TEXT NOT NULL,
    definition_ref  TEXT,
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'running', 'paused', 'failed', 'completed', 'canceled')),
    fields          TEXT NOT NULL,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER
);
INSERT INTO jobs_checked (id, tenant, name, definition, definition_ref, state, fields, error, created_at, updated_at,
                          finished_at, lease_owner, lease_until)
    SELECT id, tenant, name, definition, definition_ref, state, fields, error, created_at, updated_at,
           finished_at, lease_owner, lease_until
    FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_checked RENAME TO jobs;
CREATE INDEX jobs_tenant_state ON jobs (tenant, state);
CREATE INDEX jobs_tenant_id ON jobs (tenant, id);
