-- Eval runs: the suites run against an agent, their progress, and who runs
-- them (owner and lease, so that a run left by a stopped server is resumed).
CREATE TABLE eval_runs (
  org_id        text COLLATE "C" NOT NULL,
  id            text COLLATE "C" NOT NULL,
  agent_id      text COLLATE "C" NOT NULL,
  suites        text NOT NULL, -- JSON array of suite ids
  repeats       integer NOT NULL,
  run_trigger   text NOT NULL,
  status        text NOT NULL,
  reason        text NOT NULL DEFAULT '',
  total         integer NOT NULL,
  done          integer NOT NULL DEFAULT 0,
  model_version text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL,
  created_by    text NOT NULL DEFAULT '',
  started_at    timestamptz,
  finished_at   timestamptz,
  owner         text NOT NULL DEFAULT '',
  lease_until   bigint NOT NULL DEFAULT 0,
  summary       text,
  ledger_index  bigint NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX eval_runs_agent ON eval_runs (org_id, agent_id, id);
CREATE INDEX eval_runs_open ON eval_runs (status, lease_until) WHERE status IN ('queued', 'running');

-- One row per graded case; seq is the item's index in its run.
CREATE TABLE eval_results (
  org_id        text COLLATE "C" NOT NULL,
  run_id        text COLLATE "C" NOT NULL,
  seq           integer NOT NULL,
  suite         text NOT NULL,
  case_id       text NOT NULL,
  repeats       integer NOT NULL,
  status        text NOT NULL,
  grade         text NOT NULL,
  transcript    text NOT NULL,
  latency_ms    double precision NOT NULL,
  model_version text NOT NULL,
  created_at    timestamptz NOT NULL,
  ledger_index  bigint NOT NULL,
  PRIMARY KEY (org_id, run_id, seq)
);
