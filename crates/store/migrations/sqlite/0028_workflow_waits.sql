-- Workflow steps that wait for queued work (issue 16): a `deprovision` step queues its
-- operations through the guard and records them here (the plan, and what each app was to do),
-- then waits, status `waiting`, while later passes look at how far the queue got.
ALTER TABLE workflow_steps ADD COLUMN detail TEXT;
