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
    every_job   INTEGER NOT NULL,            -- 1: every job's events; 0: jobs whose definition names it (notify:)
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE notifications (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    webhook      TEXT NOT NULL,
    job_id       TEXT NOT NULL,
    event        TEXT NOT NULL,
    body         TEXT NOT NULL,             -- the JSON posted
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    next_at      INTEGER,                    -- NULL once delivered or given up
    lease_owner  TEXT,
    lease_until  INTEGER,
    delivered_at INTEGER,
    last_error   TEXT
);
CREATE INDEX notifications_due ON notifications (next_at);
CREATE INDEX notifications_webhook ON notifications (tenant, webhook, id);
