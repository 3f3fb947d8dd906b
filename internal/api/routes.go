package api

import "github.com/probity-dev/probity"

// routeTable is every route of the API, in one place. openapi.yaml must
// document exactly these (TestOpenAPIMatchesRoutes).
func (s *Server) routeTable() []route {
	const (
		admin  = probity.ScopeAdmin
		read   = probity.ScopeRead
		ingest = probity.ScopeIngest
		eval   = probity.ScopeEval
	)
	return []route{
		{pattern: "GET /healthz", h: s.healthz},
		{pattern: "GET /readyz", h: s.readyz},
		{pattern: "GET /metrics", h: s.serveMetrics},
		{pattern: "GET /openapi.yaml", h: s.serveOpenAPI},

		{pattern: "POST /v1/agents", scope: admin, h: s.createAgent},
		{pattern: "GET /v1/agents", scope: read, h: s.listAgents},
		{pattern: "GET /v1/agents/{id}", scope: read, h: s.getAgent},
		{pattern: "PATCH /v1/agents/{id}", scope: admin, h: s.updateAgent},
		{pattern: "POST /v1/agents/{id}/suspend", scope: admin, h: s.suspendAgent},
		{pattern: "POST /v1/agents/{id}/reactivate", scope: admin, h: s.reactivateAgent},
		{pattern: "GET /v1/agents/{id}/models", scope: read, h: s.modelHistory},
		{pattern: "GET /v1/inventory", scope: read, h: s.inventory},
		{pattern: "GET /v1/agents/{id}/records", scope: read, h: s.listRecords},
		{pattern: "GET /v1/agents/{id}/score", scope: read, h: s.getScore},
		{pattern: "GET /v1/agents/{id}/score/history", scope: read, h: s.scoreHistory},
		{pattern: "GET /v1/agents/{id}/attestation", scope: read, h: s.getAttestation},
		{pattern: "POST /v1/gate", scope: read, h: s.gate},

		{pattern: "POST /v1/events", scope: ingest, maxBody: maxBatchBytes, h: s.postEvents},
		{pattern: "POST /otlp/v1/traces", scope: ingest, maxBody: maxBatchBytes, h: s.postTraces},

		{pattern: "POST /v1/pacts", scope: admin, maxBody: maxPactBytes, h: s.createPact},
		{pattern: "GET /v1/pacts", scope: read, h: s.listPacts},
		{pattern: "GET /v1/pacts/{id}", scope: read, h: s.getPact},
		{pattern: "GET /v1/pacts/{id}/versions/{n}", scope: read, h: s.getPactVersion},
		{pattern: "GET /v1/pacts/{id}/diff", scope: read, h: s.diffPact},
		{pattern: "POST /v1/pacts/{id}/verify", scope: probity.ScopeEval, maxBody: maxVerifyBytes, h: s.verifyPact},
		{pattern: "POST /v1/pacts/{id}/commitments/evaluate", scope: probity.ScopeEval, h: s.evaluateCommitments},

		{pattern: "GET /v1/suites", scope: read, orScope: eval, h: s.listSuites},
		{pattern: "POST /v1/suites", scope: eval, maxBody: maxSuiteBytes, h: s.createSuite},
		{pattern: "POST /v1/evals", scope: eval, h: s.createEval},
		{pattern: "GET /v1/evals", scope: read, orScope: eval, h: s.listEvals},
		{pattern: "GET /v1/evals/{id}", scope: read, orScope: eval, h: s.getEval},
		{pattern: "GET /v1/evals/{id}/results", scope: read, orScope: eval, h: s.getEvalResults},
		{pattern: "POST /v1/evals/{id}/cancel", scope: eval, h: s.cancelEval},
		{pattern: "POST /v1/schedules", scope: eval, h: s.createSchedule},
		{pattern: "GET /v1/schedules", scope: read, orScope: eval, h: s.listSchedules},
		{pattern: "DELETE /v1/schedules/{id}", scope: eval, h: s.deleteSchedule},

		{pattern: "POST /v1/api-keys", scope: admin, h: s.createKey},
		{pattern: "GET /v1/api-keys", scope: admin, h: s.listKeys},
		{pattern: "POST /v1/api-keys/{id}/revoke", scope: admin, h: s.revokeKey},

		{pattern: "GET /v1/violations", scope: read, h: s.listViolations},

		{pattern: "GET /v1/incidents", scope: read, h: s.listIncidents},
		{pattern: "GET /v1/incidents/{id}", scope: read, h: s.getIncident},
		{pattern: "POST /v1/incidents/{id}/acknowledge", scope: admin, h: s.acknowledgeIncident},
		{pattern: "POST /v1/incidents/{id}/resolve", scope: admin, h: s.resolveIncident},
		{pattern: "GET /v1/incidents/rules", scope: read, h: s.getIncidentRules},
		{pattern: "PUT /v1/incidents/rules", scope: admin, maxBody: maxRulesBytes, h: s.putIncidentRules},
		{pattern: "GET /v1/agents/{id}/anomalies", scope: read, h: s.listAnomalies},

		{pattern: "POST /v1/sinks", scope: admin, h: s.createSink},
		{pattern: "GET /v1/sinks", scope: read, h: s.listSinks},
		{pattern: "GET /v1/sinks/{id}", scope: read, h: s.getSink},
		{pattern: "DELETE /v1/sinks/{id}", scope: admin, h: s.deleteSink},
		{pattern: "GET /v1/sinks/{id}/deliveries", scope: read, h: s.listDeliveries},
		{pattern: "POST /v1/sinks/{id}/replay", scope: admin, h: s.replayDeliveries},

		{pattern: "GET /v1/audit", scope: read, h: s.listAudit},

		{pattern: "GET /v1/reports/board", scope: read, h: s.boardReport},

		{pattern: "GET /v1/ledger/checkpoint", scope: read, h: s.getCheckpoint},
		{pattern: "GET /v1/ledger/entries", scope: read, h: s.getEntries},
		{pattern: "GET /v1/ledger/entries/{index}", scope: read, h: s.getEntry},
		{pattern: "GET /v1/ledger/proof", scope: read, h: s.getProof},
		{pattern: "GET /v1/ledger/consistency", scope: read, h: s.getConsistency},
		{pattern: "GET /v1/keys", scope: read, h: s.getKeys},
	}
}
