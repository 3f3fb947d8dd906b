-- Sinks: where an org's events go (webhook, syslog, Splunk HEC), with the
-- kind's settings as JSON and the signing secret or token apart from them.
CREATE TABLE sinks (
  org_id       text COLLATE "C" NOT NULL,
  id           text COLLATE "C" NOT NULL,
  name         text NOT NULL DEFAULT '',
  kind         text NOT NULL,
  format       text NOT NULL,
  config       text NOT NULL,
  secret       text NOT NULL DEFAULT '',
  min_severity text NOT NULL,
  event_types  text NOT NULL, -- JSON array; empty for every type
  created_at   timestamptz NOT NULL,
  created_by   text NOT NULL DEFAULT '',
  PRIMARY KEY (org_id, id)
);

-- The outbox: one row per event and sink, queued in the transaction that
-- made the event, with the event itself, until the sink has it (sent) or
-- the retries are spent (dead). A claimed row is due again at the end of
-- its lease, so a claimer that dies gives it back.
CREATE TABLE deliveries (
  org_id       text COLLATE "C" NOT NULL,
  id           text COLLATE "C" NOT NULL,
  sink_id      text COLLATE "C" NOT NULL,
  event_id     text NOT NULL,
  event_type   text NOT NULL,
  severity     text NOT NULL,
  agent_id     text NOT NULL DEFAULT '',
  event_time   timestamptz NOT NULL,
  body         text NOT NULL,
  status       text NOT NULL, -- pending, sent or dead
  attempts     integer NOT NULL DEFAULT 0,
  tries        integer NOT NULL DEFAULT 0,
  next_attempt timestamptz NOT NULL,
  claim        text NOT NULL DEFAULT '',
  last_attempt timestamptz,
  last_code    integer NOT NULL DEFAULT 0,
  last_error   text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL,
  sent_at      timestamptz,
  PRIMARY KEY (org_id, id)
);
CREATE INDEX deliveries_due ON deliveries (org_id, sink_id, next_attempt, id) WHERE status = 'pending';
CREATE INDEX deliveries_sink ON deliveries (org_id, sink_id, id);
CREATE INDEX deliveries_sink_status ON deliveries (org_id, sink_id, status, id);
CREATE INDEX deliveries_sent ON deliveries (sent_at) WHERE status = 'sent';

-- The delivery log: every attempt, its answer and how long it took.
CREATE TABLE delivery_attempts (
  org_id      text COLLATE "C" NOT NULL,
  delivery_id text COLLATE "C" NOT NULL,
  seq         integer NOT NULL,
  at          timestamptz NOT NULL,
  duration_us bigint NOT NULL,
  code        integer NOT NULL DEFAULT 0,
  error       text NOT NULL DEFAULT '',
  PRIMARY KEY (org_id, delivery_id, seq)
);
