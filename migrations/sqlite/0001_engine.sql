-- The engine's durable state. Every table carries the tenant from the start.
-- Times are milliseconds since the Unix epoch.

CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL,
    name            TEXT,
    definition      TEXT NOT NULL,          -- the definition tree, JSON
    definition_ref  TEXT,                   -- "name@version" when launched from a stored definition
    state           TEXT NOT NULL,
    fields          TEXT NOT NULL,          -- input fields, then the final fields
    error           TEXT,                   -- JSON StepError when failed
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER
);
CREATE INDEX jobs_tenant_state ON jobs (tenant, state);

CREATE TABLE expressions (
    job_id  TEXT NOT NULL,
    fei     TEXT NOT NULL,
    tenant  TEXT NOT NULL,
    body    TEXT NOT NULL,                  -- JSON Expression
    PRIMARY KEY (job_id, fei)
);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    kind        TEXT NOT NULL,              -- apply, reply, cancel, dispatch, result, timer
    fei         TEXT,
    body        TEXT NOT NULL,              -- JSON Message
    due_at      INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER
);
CREATE INDEX messages_job_due ON messages (job_id, due_at);
CREATE INDEX messages_kind_due ON messages (kind, due_at);

CREATE TABLE history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT NOT NULL,
    tenant      TEXT NOT NULL,
    fei         TEXT NOT NULL,
    line        INTEGER,
    participant TEXT NOT NULL,
    action      TEXT NOT NULL,
    params      TEXT NOT NULL,              -- JSON; secrets never reach params
    attempt     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    result      TEXT NOT NULL               -- JSON field updates, or JSON StepError
);
CREATE INDEX history_job ON history (job_id, id);

CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    heartbeat_at INTEGER NOT NULL
);
