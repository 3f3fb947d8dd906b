-- Each agent's records counted by UTC day and type, kept with the records
-- index in the same transaction: scoring reads days, not every record.
CREATE TABLE record_days (
  org_id   text COLLATE "C" NOT NULL,
  agent_id text COLLATE "C" NOT NULL,
  day      timestamptz NOT NULL, -- the day's UTC midnight
  type     text NOT NULL,
  n        bigint NOT NULL,
  last     timestamptz NOT NULL, -- the latest record's time
  PRIMARY KEY (org_id, agent_id, day, type)
);

INSERT INTO record_days (org_id, agent_id, day, type, n, last)
  SELECT org_id, agent_id, date_trunc('day', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', type, count(*), max(time)
  FROM records GROUP BY 1, 2, 3, 4;
