-- Violations by agent, in ledger order: what a trust score reads.
CREATE INDEX violations_agent ON violations (org_id, agent_id, ledger_index);
