-- An upload compiles off the request path (services/uploads.rs): it is
-- stored here `compiling`, then becomes a participants row (`ready`, with
-- the version it became) or ends `failed` with the load error. A restart
-- resumes those left `compiling`. The bytes are dropped once it is done.
CREATE TABLE participant_uploads (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL,
    name        TEXT,                       -- asked for at upload, else learnt from describe
    wasm        BLOB NOT NULL,              -- emptied once compiled or failed
    sha256      TEXT NOT NULL,
    grants      TEXT NOT NULL,              -- JSON array of grant specs
    state       TEXT NOT NULL CHECK (state IN ('compiling', 'ready', 'failed')),
    error       TEXT,                       -- why it failed
    version     INTEGER,                    -- the participants version it became
    created_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX participant_uploads_state ON participant_uploads (state);
CREATE INDEX participant_uploads_tenant ON participant_uploads (tenant, created_at);
