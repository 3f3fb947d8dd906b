-- Behavioral incidents: the columns they are looked up by and the whole
-- incident as JSON. An agent has at most one active (open or acknowledged)
-- incident per rule: the partial unique index holds that across replicas.
CREATE TABLE incidents (
  org_id       TEXT NOT NULL,
  id           TEXT NOT NULL,
  agent_id     TEXT NOT NULL,
  rule         TEXT NOT NULL,
  severity     TEXT NOT NULL,
  status       TEXT NOT NULL, -- open, acknowledged or resolved
  opened_at    INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  resolved_at  INTEGER, -- NULL while active
  resolved_index INTEGER, -- the leaf of its resolution
  ledger_index INTEGER NOT NULL, -- the leaf of its opening
  body         TEXT NOT NULL,
  PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX incidents_active ON incidents (org_id, agent_id, rule) WHERE status IN ('open', 'acknowledged');
CREATE INDEX incidents_order ON incidents (org_id, ledger_index);
CREATE INDEX incidents_agent ON incidents (org_id, agent_id, ledger_index);

-- An org's incident rules document, laid over the server's rules.
CREATE TABLE incident_rules (
  org_id     TEXT NOT NULL PRIMARY KEY,
  doc        TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Hourly activity of each agent, the baseline of runtime anomalies: one
-- row of totals (tool '') and one row per tool called.
CREATE TABLE activity (
  org_id     TEXT NOT NULL,
  agent_id   TEXT NOT NULL,
  hour       INTEGER NOT NULL,
  tool       TEXT NOT NULL,
  records    INTEGER NOT NULL,
  tool_calls INTEGER NOT NULL,
  errors     INTEGER NOT NULL,
  violations INTEGER NOT NULL,
  PRIMARY KEY (org_id, agent_id, hour, tool)
) WITHOUT ROWID;
CREATE INDEX activity_hour ON activity (hour);

-- Anomaly flags; the id is derived from agent, metric and period, so a
-- flag found twice is stored once.
CREATE TABLE anomalies (
  org_id      TEXT NOT NULL,
  id          TEXT NOT NULL,
  agent_id    TEXT NOT NULL,
  metric      TEXT NOT NULL,
  start_at    INTEGER NOT NULL,
  end_at      INTEGER NOT NULL,
  detected_at INTEGER NOT NULL,
  body        TEXT NOT NULL,
  PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE INDEX anomalies_agent ON anomalies (org_id, agent_id, start_at);
CREATE INDEX anomalies_start ON anomalies (org_id, start_at);
