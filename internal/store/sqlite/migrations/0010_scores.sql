-- Trust score snapshots: each change of an agent's score, with its ledger
-- leaf; the series velocity and history are read from.
CREATE TABLE scores (
  org_id       TEXT NOT NULL,
  agent_id     TEXT NOT NULL,
  computed_at  INTEGER NOT NULL,
  composite    INTEGER NOT NULL,
  tier         TEXT NOT NULL,
  score        TEXT NOT NULL, -- the score object, JSON
  ledger_index INTEGER NOT NULL,
  PRIMARY KEY (org_id, agent_id, computed_at)
) WITHOUT ROWID;

-- Attestation signing keys (Ed25519), per org; retired keys stay, so that
-- attestations they signed still verify.
CREATE TABLE attestation_keys (
  org_id     TEXT NOT NULL,
  key_id     TEXT NOT NULL,
  public     BLOB NOT NULL,
  private    BLOB NOT NULL,
  status     TEXT NOT NULL, -- active or retired
  created_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, key_id)
) WITHOUT ROWID;
