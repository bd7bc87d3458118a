-- A job's definition tree moves out of its row. The row is rewritten at
-- every step (lease, state, fields), and a database rewrites a row whole:
-- SQLite reads and writes every overflow page of the definition each time
-- (a 1,000-step definition is about 100 kB; docs/benchmarks.md). The tree is
-- written once, when the job is stored, and read when the job is loaded.
CREATE TABLE job_definitions (
    job_id      TEXT PRIMARY KEY,
    definition  TEXT NOT NULL           -- the definition tree, JSON
);
INSERT INTO job_definitions (job_id, definition) SELECT id, definition FROM jobs;
ALTER TABLE jobs DROP COLUMN definition;
