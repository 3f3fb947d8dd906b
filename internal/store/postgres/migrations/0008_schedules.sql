-- Recurring eval runs: a cron expression and the suites to run.
CREATE TABLE schedules (
  org_id      text COLLATE "C" NOT NULL,
  id          text COLLATE "C" NOT NULL,
  agent_id    text COLLATE "C" NOT NULL,
  suites      text NOT NULL, -- JSON array of suite ids
  repeats     integer NOT NULL,
  cron        text NOT NULL,
  next_run    timestamptz NOT NULL,
  last_run_id text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL,
  created_by  text NOT NULL DEFAULT '',
  PRIMARY KEY (org_id, id)
);
CREATE INDEX schedules_due ON schedules (next_run);
