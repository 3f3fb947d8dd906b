-- Ids compare bytewise (COLLATE "C") so that paging orders rows exactly as
-- the SQLite driver does, whatever the database's default collation.

CREATE TABLE orgs (
  id         text COLLATE "C" PRIMARY KEY,
  created_at timestamptz NOT NULL,
  audit_seq  bigint NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
  id         text COLLATE "C" PRIMARY KEY,
  org_id     text COLLATE "C" NOT NULL REFERENCES orgs (id),
  name       text NOT NULL,
  prefix     text NOT NULL,
  scopes     text[] NOT NULL,
  hash       bytea NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  created_by text NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, id);

CREATE TABLE agents (
  org_id     text COLLATE "C" NOT NULL REFERENCES orgs (id),
  id         text COLLATE "C" NOT NULL,
  doc        jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (org_id, id)
);

CREATE TABLE agent_models (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, -- orders changes with equal since
  org_id   text COLLATE "C" NOT NULL,
  agent_id text COLLATE "C" NOT NULL,
  since    timestamptz NOT NULL,
  doc      jsonb NOT NULL,
  FOREIGN KEY (org_id, agent_id) REFERENCES agents (org_id, id)
);
CREATE INDEX agent_models_agent ON agent_models (org_id, agent_id, since, id);

-- change is text, not jsonb: it must come back byte for byte as written.
CREATE TABLE audit (
  org_id text COLLATE "C" NOT NULL REFERENCES orgs (id),
  seq    bigint NOT NULL,
  time   timestamptz NOT NULL,
  actor  text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  change text,
  PRIMARY KEY (org_id, seq)
);
