-- Violations found when records were checked against their agent's pact.
-- record_ids is a JSON array of the evidence records' ids.
CREATE TABLE violations (
  org_id       TEXT NOT NULL,
  id           TEXT NOT NULL,
  agent_id     TEXT NOT NULL,
  pact_id      TEXT NOT NULL,
  pact_version INTEGER NOT NULL,
  clause       TEXT NOT NULL,
  kind         TEXT NOT NULL,
  severity     TEXT NOT NULL,
  record_ids   TEXT NOT NULL,
  explanation  TEXT NOT NULL,
  time         INTEGER NOT NULL,
  ledger_index INTEGER NOT NULL,
  PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX violations_ledger ON violations (org_id, ledger_index);
