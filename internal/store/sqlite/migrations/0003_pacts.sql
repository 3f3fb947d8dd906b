-- Immutable pact versions: the canonical bytes the digest covers, and the
-- text the client posted.
CREATE TABLE pact_versions (
  org_id       TEXT NOT NULL,
  pact_id      TEXT NOT NULL,
  version      INTEGER NOT NULL,
  digest       TEXT NOT NULL,
  canonical    BLOB NOT NULL,
  source       BLOB NOT NULL,
  created_at   INTEGER NOT NULL,
  created_by   TEXT NOT NULL,
  ledger_index INTEGER NOT NULL,
  PRIMARY KEY (org_id, pact_id, version)
) WITHOUT ROWID;

-- An agent's active pact: at most one per agent.
CREATE TABLE pact_bindings (
  org_id   TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  pact_id  TEXT NOT NULL,
  PRIMARY KEY (org_id, agent_id)
) WITHOUT ROWID;
CREATE INDEX pact_bindings_pact ON pact_bindings (org_id, pact_id);
