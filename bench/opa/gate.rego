# The delegation gate as a Rego policy, the anchor BenchmarkGate/opa compares
# POST /v1/gate with: allow when the agent exists, is active, has
# compositeScore >= input.minScore (700 when absent) and every badge in
# input.requireBadges; otherwise list the reasons.
package gate

import rego.v1

agent := data.agents[input.agentId]

min_score := object.get(input, "minScore", 700)

reasons contains "unknown agent" if not agent

reasons contains "the agent is suspended" if agent.status == "suspended"

reasons contains sprintf("composite score %d is below %d", [agent.compositeScore, min_score]) if agent.compositeScore < min_score

reasons contains sprintf("badge %s is missing", [b]) if {
	some b in object.get(input, "requireBadges", [])
	not b in agent.badges
}

decision := {
	"allow": count(reasons) == 0,
	"reasons": reasons,
	"compositeScore": object.get(agent, "compositeScore", 0),
	"certificationTier": object.get(agent, "certificationTier", ""),
	"status": object.get(agent, "status", ""),
	"badges": object.get(agent, "badges", []),
}
