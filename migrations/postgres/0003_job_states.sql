-- A job's state is one of the lifecycle's (host/src/engine/lifecycle.rs,
-- JobState::ALL): the database refuses any other.
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check
    CHECK (state IN ('pending', 'running', 'paused', 'failed', 'completed', 'canceled'));
