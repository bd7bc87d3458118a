-- What the HTTP API adds: tenants and their tokens, stored definitions,
-- uploaded participants, encrypted secrets, webhook triggers, schedules and
-- the audit log. Times are milliseconds since the Unix epoch.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    limits      TEXT NOT NULL,              -- JSON TenantLimits
    revision    INTEGER NOT NULL,           -- bumped when its participants, secrets or limits change
    created_at  INTEGER NOT NULL
);

CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    tenant      TEXT,                       -- NULL for the server's admin token
    name        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,       -- SHA-256 of the token, hex
    scopes      TEXT NOT NULL,              -- space-separated: read run admin
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE definitions (
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    format      TEXT NOT NULL,              -- mastermind | json
    source      TEXT NOT NULL,              -- as pushed
    tree        TEXT NOT NULL,              -- parsed, JSON
    created_at  INTEGER NOT NULL,
    created_by  TEXT,                       -- token id
    PRIMARY KEY (tenant, name, version)
);

CREATE TABLE participants (
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    wasm        BLOB NOT NULL,
    sha256      TEXT NOT NULL,
    grants      TEXT NOT NULL,              -- JSON array of grant specs
    description TEXT NOT NULL,              -- JSON, what the component declares
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    PRIMARY KEY (tenant, name, version)
);

CREATE TABLE secrets (
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    sealed      TEXT NOT NULL,              -- XChaCha20-Poly1305: base64(nonce || ciphertext)
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE triggers (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    definition  TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,       -- SHA-256 of the URL's secret, hex
    field       TEXT NOT NULL,              -- the payload goes under this field
    fields      TEXT NOT NULL,              -- JSON fields every launch starts from
    per_minute  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX triggers_tenant ON triggers (tenant);

CREATE TABLE schedules (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    definition  TEXT NOT NULL,
    cron        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    fields      TEXT NOT NULL,
    next_at     INTEGER NOT NULL,
    last_job    TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_at);

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant      TEXT,
    token       TEXT,                       -- token id
    action      TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id   TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX audit_tenant ON audit (tenant, id);

CREATE INDEX jobs_tenant_id ON jobs (tenant, id);
