// Package notify delivers Probity's events to SIEM/SOAR destinations
// (sinks): a durable outbox in the store, webhook, syslog and Splunk HEC
// transports, and the json, cef and ocsf encodings.
package notify

import (
	"encoding/json"
	"time"
)

// Event types a sink can subscribe to.
const (
	IncidentOpened   = "incident.opened"
	IncidentUpdated  = "incident.updated"
	IncidentResolved = "incident.resolved"
	AgentSuspended   = "agent.suspended"
	AgentReactivated = "agent.reactivated"
	ScoreChanged     = "score.changed"
	ScoreTierChanged = "score.tier_changed"
	PactViolated     = "pact.violated"
	EvalCompleted    = "eval.completed"
	EvalFailed       = "eval.failed"
)

// Severities, most severe first. Incidents carry critical, high or medium;
// other events carry the severity of what they report, or info.
const (
	SeverityCritical = "critical"
	SeverityHigh     = "high"
	SeverityMedium   = "medium"
	SeverityLow      = "low"
	SeverityInfo     = "info"
)

// Event is one thing that happened, as the outbox keeps it until every
// subscribed sink has it.
type Event struct {
	ID       string          `json:"id"`            // unique per org; set by the outbox when empty
	Org      string          `json:"org,omitempty"` // set by the outbox
	Type     string          `json:"type"`          // one of the constants above
	Severity string          `json:"severity"`      // one of the severities above
	AgentID  string          `json:"agentId,omitempty"`
	Time     time.Time       `json:"time"`
	Title    string          `json:"title"`             // one line for humans (CEF name, HEC summary)
	Detail   string          `json:"detail,omitempty"`  // more words for humans (CEF msg, OCSF desc)
	Rule     string          `json:"rule,omitempty"`    // the incident rule or clause (CEF signature id)
	Subject  string          `json:"subject,omitempty"` // the id of what it reports (OCSF finding uid); else data.id
	Data     json.RawMessage `json:"data,omitempty"`    // the subject: the incident, score, violation or run
}

// Types lists every event type, in the order of the constants.
var Types = []string{IncidentOpened, IncidentUpdated, IncidentResolved, AgentSuspended, AgentReactivated,
	ScoreChanged, ScoreTierChanged, PactViolated, EvalCompleted, EvalFailed}

// Severities lists the severities, most severe first.
var Severities = []string{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInfo}

// rank orders severities: critical 4 down to info 0, -1 for unknown.
func rank(sev string) int {
	for i, s := range Severities {
		if s == sev {
			return len(Severities) - 1 - i
		}
	}
	return -1
}

// AtLeast reports whether severity sev is min or more severe.
func AtLeast(sev, min string) bool { return rank(sev) >= rank(min) && rank(sev) >= 0 }
