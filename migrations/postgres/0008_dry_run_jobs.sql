-- A dry-run job (`dry_run: true` on POST /v1/jobs): the stubs its
-- capability calls are answered from (JSON; NULL for a real job). Its calls
-- are answered by the host and nothing is sent (capabilities/dry_run.rs).
ALTER TABLE jobs ADD COLUMN dry_run TEXT;
