CREATE INDEX records_agent_session_time ON records (org_id, agent_id, session_id, time, ledger_index);
