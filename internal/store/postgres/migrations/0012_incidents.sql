-- Behavioral incidents: the columns they are looked up by and the whole
-- incident as JSON. An agent has at most one active (open or acknowledged)
-- incident per rule: the partial unique index holds that across replicas.
CREATE TABLE incidents (
  org_id       text COLLATE "C" NOT NULL,
  id           text COLLATE "C" NOT NULL,
  agent_id     text COLLATE "C" NOT NULL,
  rule         text COLLATE "C" NOT NULL,
  severity     text NOT NULL,
  status       text NOT NULL, -- open, acknowledged or resolved
  opened_at    timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  resolved_at  timestamptz, -- NULL while active
  resolved_index bigint, -- the leaf of its resolution
  ledger_index bigint NOT NULL, -- the leaf of its opening
  body         text NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX incidents_active ON incidents (org_id, agent_id, rule) WHERE status IN ('open', 'acknowledged');
CREATE INDEX incidents_order ON incidents (org_id, ledger_index);
CREATE INDEX incidents_agent ON incidents (org_id, agent_id, ledger_index);

-- An org's incident rules document, laid over the server's rules.
CREATE TABLE incident_rules (
  org_id     text COLLATE "C" NOT NULL PRIMARY KEY,
  doc        text NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Hourly activity of each agent, the baseline of runtime anomalies: one
-- row of totals (tool '') and one row per tool called.
CREATE TABLE activity (
  org_id     text COLLATE "C" NOT NULL,
  agent_id   text COLLATE "C" NOT NULL,
  hour       timestamptz NOT NULL,
  tool       text COLLATE "C" NOT NULL,
  records    bigint NOT NULL,
  tool_calls bigint NOT NULL,
  errors     bigint NOT NULL,
  violations bigint NOT NULL,
  PRIMARY KEY (org_id, agent_id, hour, tool)
);
CREATE INDEX activity_hour ON activity (hour);

-- Anomaly flags; the id is derived from agent, metric and period, so a
-- flag found twice is stored once.
CREATE TABLE anomalies (
  org_id      text COLLATE "C" NOT NULL,
  id          text COLLATE "C" NOT NULL,
  agent_id    text COLLATE "C" NOT NULL,
  metric      text NOT NULL,
  start_at    timestamptz NOT NULL,
  end_at      timestamptz NOT NULL,
  detected_at timestamptz NOT NULL,
  body        text NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX anomalies_agent ON anomalies (org_id, agent_id, start_at);
CREATE INDEX anomalies_start ON anomalies (org_id, start_at);
