-- Violations found when records were checked against their agent's pact.
-- record_ids is a JSON array of the evidence records' ids.
CREATE TABLE violations (
  org_id       text COLLATE "C" NOT NULL,
  id           text COLLATE "C" NOT NULL,
  agent_id     text COLLATE "C" NOT NULL,
  pact_id      text COLLATE "C" NOT NULL,
  pact_version integer NOT NULL,
  clause       text COLLATE "C" NOT NULL,
  kind         text NOT NULL,
  severity     text NOT NULL,
  record_ids   text NOT NULL,
  explanation  text NOT NULL,
  time         timestamptz NOT NULL,
  ledger_index bigint NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX violations_ledger ON violations (org_id, ledger_index);
