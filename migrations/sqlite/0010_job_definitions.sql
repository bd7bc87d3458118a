-- A job's definition tree moves out of its row. The row is rewritten at
-- every step (lease, state, fields), and SQLite rewrites a row whole: it
-- read and wrote every overflow page of the tree at each step, so a step
-- cost more the longer the job (docs/benchmarks.md). The tree is written
-- once, when the job is stored, and read when the job is loaded.
CREATE TABLE job_definitions (
    job_id      TEXT PRIMARY KEY,
    definition  TEXT NOT NULL           -- the definition tree, JSON
);
INSERT INTO job_definitions (job_id, definition) SELECT id, definition FROM jobs;
ALTER TABLE jobs DROP COLUMN definition;
