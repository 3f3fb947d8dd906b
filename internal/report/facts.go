package report

import (
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/score"
)

// Facts is everything a board report is built from: what the store and the
// score package say about an org's fleet at the end of a period and during
// it. The API gathers them; Build only reads them.
type Facts struct {
	Org         string
	GeneratedAt time.Time
	From, To    time.Time // the period: From inclusive, To exclusive
	Thresholds  Thresholds
	Agents      []AgentFacts
	Ledger      LedgerFacts
	Oversight   OversightFacts
	// Incidents is nil when the server does not track incidents.
	Incidents *IncidentFacts
}

// Thresholds are the numbers the report judges by.
type Thresholds struct {
	// Reliance is the composite below which an agent is not to be relied
	// on (700).
	Reliance int
	// LowDimension is the value under which a dimension with evidence is a
	// key risk.
	LowDimension float64
	// GracePeriod is how old the last eval may be before the evidence is
	// stale (the score's decay grace period).
	GracePeriod time.Duration
	// Decline is the fall of the composite over 7 days, in points, that is
	// a key risk.
	Decline int
	// BaselineSuites make up a full security baseline.
	BaselineSuites []string
}

// DefaultThresholds are the defaults of DESIGN.md: a reliance threshold of
// 700, the score's grace period and baseline suites, dimensions under 0.90
// and a 20-point weekly fall flagged.
func DefaultThresholds(cfg score.Config) Thresholds {
	return Thresholds{Reliance: 700, LowDimension: 0.90, GracePeriod: cfg.GracePeriod, Decline: 20,
		BaselineSuites: cfg.BaselineSuites}
}

// AgentFacts is one agent: its inventory entry, its score at the end of
// the period (with the explanation), and what it did during the period.
type AgentFacts struct {
	Agent probity.Agent
	Score score.Score
	// Records is the number of behavioral records in the period's days.
	Records      int
	Evals        EvalFacts
	Violations   ViolationFacts
	ModelUpdates []ModelUpdate // in the period, oldest first
	// OpenIncidents counts the agent's open incidents by severity (zero
	// without incident tracking).
	OpenIncidents score.Incidents
}

// EvalFacts is an agent's eval activity in the period.
type EvalFacts struct {
	Runs, Completed, Failed int // runs created in the period and how they ended
	// Cases counts distinct graded cases (errors are not graded) and
	// CasesFailed those that failed.
	Cases, CasesFailed int
	// InjectionCases are prompt-injection cases (security, LLM01);
	// InjectionSucceeded those the injection won.
	InjectionCases, InjectionSucceeded int
	// OWASP counts graded cases by the OWASP id (LLM01…) their case names.
	OWASP map[string]CaseCount
}

// CaseCount is graded cases and how many of them failed.
type CaseCount struct {
	Cases  int `json:"cases"`
	Failed int `json:"failed"`
}

// ViolationFacts is an agent's pact violations in the period.
type ViolationFacts struct {
	Total      int
	BySeverity map[string]int // critical, major, minor, info
	// Confirmed counts injection-influenced actions that also broke the
	// pact.
	Confirmed int
	// OWASP counts violations by the OWASP id their clause monitors.
	OWASP map[string]int
}

// ModelUpdate is a change of an agent's model and whether it was assessed:
// a full baseline completed on the new version after the change.
type ModelUpdate struct {
	At         time.Time
	From, To   probity.Model
	Assessed   bool
	AssessedAt time.Time // when the last baseline suite completed
}

// LedgerFacts is the org's ledger at the time of the report.
type LedgerFacts struct {
	Origin     string
	Size       int64
	RootHash   string // base64, as in the checkpoint
	Checkpoint string // the signed note
}

// OversightFacts is what people did to the fleet in the period, from the
// audit log, and what the org has in place for transparency.
type OversightFacts struct {
	Suspensions   []Action // agent.suspend
	Reactivations []Action // agent.reactivate, each with its root cause
	ModelChanges  int      // agent.update entries that changed a model
	Pacts         int      // pacts stored
	// AttestationKeyID is the active attestation signing key, if any, and
	// AttestationKeySince when it was made.
	AttestationKeyID    string
	AttestationKeySince time.Time
}

// Action is one audit entry about an agent.
type Action struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	AgentID string    `json:"agentId"`
	Reason  string    `json:"reason,omitempty"` // the reason or root cause given
}

// IncidentFacts is the org's incidents: every rule configured and the
// incidents that were open at some time in the period.
type IncidentFacts struct {
	Rules     []Rule
	Incidents []Incident
}

// Rule is one incident rule as configured.
type Rule struct {
	ID       string
	Severity string
	Enabled  bool
}

// Incident is one behavioral security incident.
type Incident struct {
	ID             string    `json:"id"`
	AgentID        string    `json:"agentId"`
	Rule           string    `json:"rule"`
	Severity       string    `json:"severity"`
	Status         string    `json:"status"` // open, acknowledged, resolved
	Title          string    `json:"title"`
	OpenedAt       time.Time `json:"openedAt"`
	AcknowledgedAt time.Time `json:"acknowledgedAt,omitzero"`
	ResolvedAt     time.Time `json:"resolvedAt,omitzero"`
	RootCause      string    `json:"rootCause,omitempty"`
}
