-- Facts the server derives from a record at ingest, kept beside its index
-- entry so that windows and sessions are read without decoding leaves:
-- latency and failure for commitments; for a tool result the injection
-- detector flagged, the distinctive tokens traced through its session
-- (a JSON array); for a tool call that carried one, influenced = 1.
ALTER TABLE records ADD COLUMN latency_ms REAL;
ALTER TABLE records ADD COLUMN failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE records ADD COLUMN taint TEXT;
ALTER TABLE records ADD COLUMN influenced INTEGER NOT NULL DEFAULT 0;

UPDATE records SET
  latency_ms = (SELECT json_extract(e.data, '$.record.latencyMs') FROM ledger_entries e
                WHERE e.org_id = records.org_id AND e.idx = records.ledger_index),
  failed = (type = 'error' OR coalesce((SELECT json_extract(e.data, '$.record.outcome') IN ('failure', 'timeout')
                FROM ledger_entries e WHERE e.org_id = records.org_id AND e.idx = records.ledger_index), 0));

CREATE INDEX records_tainted ON records (org_id, agent_id, session_id, time, ledger_index) WHERE taint IS NOT NULL;

-- An injection-influenced call that also breaks the pact.
ALTER TABLE violations ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0;
