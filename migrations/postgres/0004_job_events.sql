-- A job's events (step starts and ends, log and progress lines, echo, step
-- failures, the end), each with its place in the job's gap-free sequence,
-- stored by the transaction of the batch that produced them. jobs.last_event
-- is the sequence's last number (0: none yet).
ALTER TABLE jobs ADD COLUMN last_event BIGINT NOT NULL DEFAULT 0;

CREATE TABLE events (
    job_id  TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    tenant  TEXT NOT NULL,
    at      BIGINT NOT NULL,
    kind    TEXT NOT NULL,                  -- the event's name (step_started, log, finished...)
    body    TEXT NOT NULL,                  -- JSON, as streamed
    PRIMARY KEY (job_id, seq)
);
