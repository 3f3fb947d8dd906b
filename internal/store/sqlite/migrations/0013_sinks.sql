-- Sinks: where an org's events go (webhook, syslog, Splunk HEC), with the
-- kind's settings as JSON and the signing secret or token apart from them.
CREATE TABLE sinks (
  org_id       TEXT NOT NULL,
  id           TEXT NOT NULL,
  name         TEXT NOT NULL DEFAULT '',
  kind         TEXT NOT NULL,
  format       TEXT NOT NULL,
  config       TEXT NOT NULL,
  secret       TEXT NOT NULL DEFAULT '',
  min_severity TEXT NOT NULL,
  event_types  TEXT NOT NULL, -- JSON array; empty for every type
  created_at   INTEGER NOT NULL,
  created_by   TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (org_id, id)
) WITHOUT ROWID;

-- The outbox: one row per event and sink, queued in the transaction that
-- made the event, with the event itself, until the sink has it (sent) or
-- the retries are spent (dead). A claimed row is due again at the end of
-- its lease, so a claimer that dies gives it back.
CREATE TABLE deliveries (
  org_id       TEXT NOT NULL,
  id           TEXT NOT NULL,
  sink_id      TEXT NOT NULL,
  event_id     TEXT NOT NULL,
  event_type   TEXT NOT NULL,
  severity     TEXT NOT NULL,
  agent_id     TEXT NOT NULL DEFAULT '',
  event_time   INTEGER NOT NULL,
  body         TEXT NOT NULL,
  status       TEXT NOT NULL, -- pending, sent or dead
  attempts     INTEGER NOT NULL DEFAULT 0,
  tries        INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL,
  claim        TEXT NOT NULL DEFAULT '',
  last_attempt INTEGER NOT NULL DEFAULT 0,
  last_code    INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL,
  sent_at      INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX deliveries_due ON deliveries (org_id, sink_id, next_attempt, id) WHERE status = 'pending';
CREATE INDEX deliveries_sink ON deliveries (org_id, sink_id, id);
CREATE INDEX deliveries_sink_status ON deliveries (org_id, sink_id, status, id);
CREATE INDEX deliveries_sent ON deliveries (sent_at) WHERE status = 'sent';

-- The delivery log: every attempt, its answer and how long it took.
CREATE TABLE delivery_attempts (
  org_id      TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  duration_us INTEGER NOT NULL,
  code        INTEGER NOT NULL DEFAULT 0,
  error       TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (org_id, delivery_id, seq)
) WITHOUT ROWID;
