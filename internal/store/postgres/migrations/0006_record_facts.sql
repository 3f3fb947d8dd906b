-- Facts the server derives from a record at ingest, kept beside its index
-- entry so that windows and sessions are read without decoding leaves:
-- latency and failure for commitments; for a tool result the injection
-- detector flagged, the distinctive tokens traced through its session
-- (a JSON array); for a tool call that carried one, influenced = true.
ALTER TABLE records ADD COLUMN latency_ms double precision;
ALTER TABLE records ADD COLUMN failed boolean NOT NULL DEFAULT false;
ALTER TABLE records ADD COLUMN taint text;
ALTER TABLE records ADD COLUMN influenced boolean NOT NULL DEFAULT false;

-- jsonb rejects the escape \u0000, which record text may hold: it is
-- removed first (the fields read here are a number and a word).
UPDATE records r SET
  latency_ms = (replace(convert_from(e.data, 'UTF8'), '\u0000', '')::jsonb #>> '{record,latencyMs}')::double precision,
  failed = (r.type = 'error' OR coalesce(replace(convert_from(e.data, 'UTF8'), '\u0000', '')::jsonb #>> '{record,outcome}' IN ('failure', 'timeout'), false))
FROM ledger_entries e
WHERE e.org_id = r.org_id AND e.idx = r.ledger_index;

CREATE INDEX records_tainted ON records (org_id, agent_id, session_id, time, ledger_index) WHERE taint IS NOT NULL;

-- An injection-influenced call that also breaks the pact.
ALTER TABLE violations ADD COLUMN confirmed boolean NOT NULL DEFAULT false;
