-- Trust score snapshots: each change of an agent's score, with its ledger
-- leaf; the series velocity and history are read from.
CREATE TABLE scores (
  org_id       text COLLATE "C" NOT NULL,
  agent_id     text COLLATE "C" NOT NULL,
  computed_at  timestamptz NOT NULL,
  composite    integer NOT NULL,
  tier         text NOT NULL,
  score        text NOT NULL, -- the score object, JSON
  ledger_index bigint NOT NULL,
  PRIMARY KEY (org_id, agent_id, computed_at)
);

-- Attestation signing keys (Ed25519), per org; retired keys stay, so that
-- attestations they signed still verify.
CREATE TABLE attestation_keys (
  org_id     text COLLATE "C" NOT NULL,
  key_id     text COLLATE "C" NOT NULL,
  public     bytea NOT NULL,
  private    bytea NOT NULL,
  status     text NOT NULL, -- active or retired
  created_at timestamptz NOT NULL,
  PRIMARY KEY (org_id, key_id)
);
