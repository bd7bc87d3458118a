-- Webhooks a tenant names (`PUT /v1/webhooks/{name}`), called when a job
-- ends or an approval waits; and the outbox of their deliveries, written by
-- the transaction of the batch that produced the event, delivered (and
-- retried) by whichever process claims them, so a slow or failing
-- receiver never holds a job back.

CREATE TABLE webhooks (
    tenant      TEXT NOT NULL,
    name        TEXT NOT NULL,
    url         TEXT,                       -- the URL in clear, or
    url_secret  TEXT,                       -- the name of the tenant's secret holding it
    events      TEXT NOT NULL,              -- space-separated: job.completed job.failed ...
    every_job   BIGINT NOT NULL,            -- 1: every job's events; 0: jobs whose definition names it (notify:)
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE notifications (
    id           BIGSERIAL PRIMARY KEY,
    tenant       TEXT NOT NULL,
    webhook      TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    event        TEXT NOT NULL,
    body         TEXT NOT NULL,             -- the JSON posted
    created_at   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL,
    next_at      BIGINT,                    -- NULL once delivered or given up
    lease_owner  TEXT,
    lease_until  BIGINT,
    delivered_at BIGINT,
    last_error   TEXT
);
CREATE INDEX notifications_due ON notifications (next_at);
CREATE INDEX notifications_webhook ON notifications (tenant, webhook, id);
