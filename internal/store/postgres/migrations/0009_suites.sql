-- Suites an org uploaded (a suite document or an accuracy dataset), kept as
-- posted; immutable: an id names one content, by digest.
CREATE TABLE suites (
  org_id       text COLLATE "C" NOT NULL,
  id           text COLLATE "C" NOT NULL,
  kind         text NOT NULL, -- suite or dataset
  digest       text NOT NULL,
  source       bytea NOT NULL,
  created_at   timestamptz NOT NULL,
  created_by   text NOT NULL DEFAULT '',
  ledger_index bigint NOT NULL,
  PRIMARY KEY (org_id, id)
);
