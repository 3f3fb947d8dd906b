-- Immutable pact versions: the canonical bytes the digest covers, and the
-- text the client posted.
CREATE TABLE pact_versions (
  org_id       text COLLATE "C" NOT NULL,
  pact_id      text COLLATE "C" NOT NULL,
  version      integer NOT NULL,
  digest       text NOT NULL,
  canonical    bytea NOT NULL,
  source       bytea NOT NULL,
  created_at   timestamptz NOT NULL,
  created_by   text NOT NULL,
  ledger_index bigint NOT NULL,
  PRIMARY KEY (org_id, pact_id, version)
);

-- An agent's active pact: at most one per agent.
CREATE TABLE pact_bindings (
  org_id   text COLLATE "C" NOT NULL,
  agent_id text COLLATE "C" NOT NULL,
  pact_id  text COLLATE "C" NOT NULL,
  PRIMARY KEY (org_id, agent_id)
);
CREATE INDEX pact_bindings_pact ON pact_bindings (org_id, pact_id);
