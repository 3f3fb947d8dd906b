-- Suites an org uploaded (a suite document or an accuracy dataset), kept as
-- posted; immutable: an id names one content, by digest.
CREATE TABLE suites (
  org_id       TEXT NOT NULL,
  id           TEXT NOT NULL,
  kind         TEXT NOT NULL, -- suite or dataset
  digest       TEXT NOT NULL,
  source       BLOB NOT NULL,
  created_at   INTEGER NOT NULL,
  created_by   TEXT NOT NULL DEFAULT '',
  ledger_index INTEGER NOT NULL,
  PRIMARY KEY (org_id, id)
) WITHOUT ROWID;
