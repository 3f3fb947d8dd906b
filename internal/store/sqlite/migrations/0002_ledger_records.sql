ALTER TABLE orgs ADD COLUMN ledger_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN ledger_origin TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN ledger_signer TEXT NOT NULL DEFAULT '';
ALTER TABLE orgs ADD COLUMN ledger_verifier TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN ledger_index INTEGER;

-- Leaves, by index: the exact bytes that were hashed.
CREATE TABLE ledger_entries (
  org_id TEXT NOT NULL,
  idx    INTEGER NOT NULL,
  data   BLOB NOT NULL,
  PRIMARY KEY (org_id, idx)
) WITHOUT ROWID;

-- tlog stored hashes, by stored-hash index.
CREATE TABLE ledger_hashes (
  org_id TEXT NOT NULL,
  idx    INTEGER NOT NULL,
  hash   BLOB NOT NULL,
  PRIMARY KEY (org_id, idx)
) WITHOUT ROWID;

CREATE TABLE ledger_checkpoints (
  org_id     TEXT NOT NULL,
  size       INTEGER NOT NULL,
  note       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, size)
) WITHOUT ROWID;

-- The record index; a record's body is its ledger entry.
CREATE TABLE records (
  org_id       TEXT NOT NULL,
  id           TEXT NOT NULL,
  agent_id     TEXT NOT NULL,
  session_id   TEXT NOT NULL,
  type         TEXT NOT NULL,
  time         INTEGER NOT NULL,
  ledger_index INTEGER NOT NULL,
  PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
CREATE INDEX records_agent_time ON records (org_id, agent_id, time, ledger_index);
