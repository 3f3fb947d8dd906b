ALTER TABLE orgs ADD COLUMN ledger_size bigint NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN ledger_origin text NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN ledger_signer text NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN ledger_verifier text NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN ledger_index bigint;

-- Leaves, by index: the exact bytes that were hashed.
CREATE TABLE ledger_entries (
  org_id text COLLATE "C" NOT NULL,
  idx    bigint NOT NULL,
  data   bytea NOT NULL,
  PRIMARY KEY (org_id, idx)
);

-- tlog stored hashes, by stored-hash index.
CREATE TABLE ledger_hashes (
  org_id text COLLATE "C" NOT NULL,
  idx    bigint NOT NULL,
  hash   bytea NOT NULL,
  PRIMARY KEY (org_id, idx)
);

CREATE TABLE ledger_checkpoints (
  org_id     text COLLATE "C" NOT NULL,
  size       bigint NOT NULL,
  note       text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (org_id, size)
);

-- The record index; a record's body is its ledger entry.
CREATE TABLE records (
  org_id       text COLLATE "C" NOT NULL,
  id           text COLLATE "C" NOT NULL,
  agent_id     text COLLATE "C" NOT NULL,
  session_id   text COLLATE "C" NOT NULL,
  type         text NOT NULL,
  time         timestamptz NOT NULL,
  ledger_index bigint NOT NULL,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX records_agent_time ON records (org_id, agent_id, time, ledger_index);
