-- A job's events (step starts and ends, log and progress lines, echo, step
-- failures, the end), each with its place in the job's gap-free sequence,
-- stored by the transaction of the batch that produced them (which holds the
-- job's row, so the next number is the job's largest plus one).

CREATE TABLE events (
    job_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    tenant  TEXT NOT NULL,
    at      INTEGER NOT NULL,
    kind    TEXT NOT NULL,                  -- the event's name (step_started, log, finished...)
    body    TEXT NOT NULL,                  -- JSON, as streamed
    PRIMARY KEY (job_id, seq)
);
