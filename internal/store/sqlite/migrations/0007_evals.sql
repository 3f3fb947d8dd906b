-- Eval runs: the suites run against an agent, their progress, and who runs
-- them (owner and lease, so that a run left by a stopped server is resumed).
CREATE TABLE eval_runs (
  org_id        TEXT NOT NULL,
  id            TEXT NOT NULL,
  agent_id      TEXT NOT NULL,
  suites        TEXT NOT NULL, -- JSON array of suite ids
  repeats       INTEGER NOT NULL,
  run_trigger   TEXT NOT NULL,
  status        TEXT NOT NULL,
  reason        TEXT NOT NULL DEFAULT '',
  total         INTEGER NOT NULL,
  done          INTEGER NOT NULL DEFAULT 0,
  model_version TEXT NOT NULL DEFAULT '',
  created_at    INTEGER NOT NULL,
  created_by    TEXT NOT NULL DEFAULT '',
  started_at    INTEGER,
  finished_at   INTEGER,
  owner         TEXT NOT NULL DEFAULT '',
  lease_until   INTEGER NOT NULL DEFAULT 0,
  summary       TEXT,
  ledger_index  INTEGER NOT NULL,
  PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE INDEX eval_runs_agent ON eval_runs (org_id, agent_id, id);
CREATE INDEX eval_runs_open ON eval_runs (status, lease_until) WHERE status IN ('queued', 'running');

-- One row per graded case; seq is the item's index in its run.
CREATE TABLE eval_results (
  org_id        TEXT NOT NULL,
  run_id        TEXT NOT NULL,
  seq           INTEGER NOT NULL,
  suite         TEXT NOT NULL,
  case_id       TEXT NOT NULL,
  repeats       INTEGER NOT NULL,
  status        TEXT NOT NULL,
  grade         TEXT NOT NULL,
  transcript    TEXT NOT NULL,
  latency_ms    REAL NOT NULL,
  model_version TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  ledger_index  INTEGER NOT NULL,
  PRIMARY KEY (org_id, run_id, seq)
) WITHOUT ROWID;
