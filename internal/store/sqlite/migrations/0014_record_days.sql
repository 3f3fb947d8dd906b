-- Each agent's records counted by UTC day and type, kept with the records
-- index in the same transaction: scoring reads days, not every record.
CREATE TABLE record_days (
  org_id   TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  day      INTEGER NOT NULL, -- microseconds since 1970 of the day's UTC midnight
  type     TEXT NOT NULL,
  n        INTEGER NOT NULL,
  last     INTEGER NOT NULL, -- the latest record's time
  PRIMARY KEY (org_id, agent_id, day, type)
) WITHOUT ROWID;

INSERT INTO record_days (org_id, agent_id, day, type, n, last)
  SELECT org_id, agent_id, time - (time % 86400000000), type, count(*), max(time)
  FROM records GROUP BY org_id, agent_id, time - (time % 86400000000), type;
