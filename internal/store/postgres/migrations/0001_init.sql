CREATE TABLE orgs (
  id         TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  audit_seq  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
  id         TEXT PRIMARY KEY,
  org_id     TEXT NOT NULL REFERENCES orgs(id),
  name       TEXT NOT NULL,
  prefix     TEXT NOT NULL,
  scopes     TEXT NOT NULL,
  hash       BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX api_keys_org ON api_keys (org_id, id);

CREATE TABLE agents (
  org_id     TEXT NOT NULL REFERENCES orgs(id),
  id         TEXT NOT NULL,
  doc        TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, id)
) WITHOUT ROWID;

CREATE TABLE agent_models (
  org_id     TEXT NOT NULL,
  agent_id   TEXT NOT NULL,
  since      INTEGER NOT NULL,
  doc        TEXT NOT NULL,
  FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
);
CREATE INDEX agent_models_agent ON agent_models (org_id, agent_id, since);

CREATE TABLE audit (
  org_id  TEXT NOT NULL REFERENCES orgs(id),
  seq     INTEGER NOT NULL,
  time    INTEGER NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT NOT NULL,
  change  TEXT,
  PRIMARY KEY (org_id, seq)
) WITHOUT ROWID;
