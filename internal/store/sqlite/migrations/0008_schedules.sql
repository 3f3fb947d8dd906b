-- Recurring eval runs: a cron expression and the suites to run.
CREATE TABLE schedules (
  org_id      TEXT NOT NULL,
  id          TEXT NOT NULL,
  agent_id    TEXT NOT NULL,
  suites      TEXT NOT NULL, -- JSON array of suite ids
  repeats     INTEGER NOT NULL,
  cron        TEXT NOT NULL,
  next_run    INTEGER NOT NULL,
  last_run_id TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  created_by  TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE INDEX schedules_due ON schedules (next_run);
