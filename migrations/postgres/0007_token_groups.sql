-- A token's groups (space-separated names): an `approval` naming groups
-- (`groups: ['ops']`) may be decided by an approver token in one of them.
ALTER TABLE tokens ADD COLUMN groups TEXT NOT NULL DEFAULT '';
