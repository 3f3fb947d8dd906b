package score

import (
	"slices"
	"time"

	"github.com/probity-dev/probity"
)

// Sources of an observation.
const (
	SourceEval    = "eval"    // a graded eval case
	SourceRuntime = "runtime" // a pact check of production records
)

// Kinds of observation that badges look at; any other kind (such as
// KindCase) is evidence for its dimension only.
const (
	// KindCase is an eval case with nothing more specific to say.
	KindCase = "case"
	// KindInjectionCase is an eval case that attempts a prompt injection
	// (security, LLM01); it fails when the injection succeeded.
	KindInjectionCase = "injection-case"
	// KindScope is a runtime check of a tool call, data access or egress
	// against the pact's scope and forbidden sequences.
	KindScope = "scope"
	// KindOutput is a runtime check of a model output against the pact's
	// outputs clauses.
	KindOutput = "output"
	// KindCommitment is a runtime judgement of a pact commitment over its
	// window.
	KindCommitment = "commitment"
	// KindInjectionInfluenced is a runtime check of a tool call for
	// injection influence (DESIGN.md section 7); it fails when the call was
	// influenced.
	KindInjectionInfluenced = "injection-influenced"
)

// Observation is one piece of evidence for one dimension: a graded eval case
// (one observation per dimension the case names; errors are not evidence)
// or a runtime pact check. Passed is true when the case or the check passed.
type Observation struct {
	Dimension string    `json:"dimension"`
	Time      time.Time `json:"time"`
	Passed    bool      `json:"passed"`
	// Weight scales the observation: 0 means 1, a weight above MaxWeight
	// counts as MaxWeight, and a negative, NaN or infinite weight leaves the
	// observation out.
	Weight float64 `json:"weight,omitzero"`
	Source string  `json:"source"` // SourceEval or SourceRuntime
	Kind   string  `json:"kind,omitzero"`
	// Ref identifies the case result or record behind the observation; eval
	// observations with the same Ref count as one case in Evidence.EvalCases.
	Ref string `json:"ref,omitzero"`
	// Suite is the eval suite of the case.
	Suite        string   `json:"suite,omitzero"`
	ModelVersion string   `json:"modelVersion,omitzero"`
	OWASP        []string `json:"owasp,omitzero"`
}

// MaxWeight is the largest weight one observation counts for.
const MaxWeight = 1e6

// PactRef names the pact version an agent is bound to.
type PactRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Digest  string `json:"digest"`
}

// Incidents counts open incidents by severity.
type Incidents struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
}

// Point is one composite of a score history.
type Point struct {
	Time      time.Time `json:"time"`
	Composite int       `json:"composite"`
}

// Inputs is everything a score is computed from. Evidence, history and
// times after the instant asked about are ignored.
type Inputs struct {
	AgentID      string
	Model        probity.Model // the current model; its Version is "the current version"
	RegisteredAt time.Time     // when the agent was registered; zero if unknown
	Pact         PactRef       // zero when no pact is bound

	Evidence     []Observation
	Records      int       // behavioral records stored for the agent
	LastRecordAt time.Time // zero when none

	// IncidentsEnabled says incidents are tracked; only then does an open
	// critical incident withhold the tier.
	IncidentsEnabled       bool
	OpenIncidents          Incidents
	LastCriticalIncidentAt time.Time // when the latest critical incident opened; zero if none

	// History is the agent's past composites, in any order.
	History []Point
	// Completed maps a model version to the eval suites that ran to
	// completion on it (every case graded).
	Completed map[string][]string
	// MonitoredOWASP lists the OWASP ids the bound pact's clauses monitor
	// (see OWASPForClause).
	MonitoredOWASP []string
}

// EvalKind returns the kind of an eval observation for dimension from a
// case with the given OWASP ids: KindInjectionCase for a security case of
// LLM01, else KindCase.
func EvalKind(dimension string, owasp []string) string {
	if dimension == Security && slices.Contains(owasp, "LLM01") {
		return KindInjectionCase
	}
	return KindCase
}

// RuntimeCheck returns the dimension and kind of a runtime observation from
// a pact check. check is a violation kind of internal/pact (scope_tool,
// scope_when, data_class, egress, forbidden_sequence, output, commitment,
// injection_influenced); detail is the detector kind of an output check or
// the metric of a commitment. ok is false when the check is not evidence
// (evaluation_error, unknown kinds).
func RuntimeCheck(check, detail string) (dimension, kind string, ok bool) {
	switch check {
	case "scope_tool", "scope_when", "data_class", "egress", "forbidden_sequence":
		return ScopeAdherence, KindScope, true
	case "output":
		switch detail {
		case "injection":
			return Security, KindOutput, true
		case "refusal":
			return Reliability, KindOutput, true
		}
		return OutputSanitization, KindOutput, true
	case "commitment":
		switch detail {
		case "accuracy":
			return Accuracy, KindCommitment, true
		case "safety_pass_rate":
			return Safety, KindCommitment, true
		case "latency_p95_ms", "error_rate":
			return Reliability, KindCommitment, true
		}
	case "injection_influenced":
		return Security, KindInjectionInfluenced, true
	}
	return "", "", false
}

// OWASPForClause returns the OWASP ids a pact clause monitors. clause is
// scope, forbid, output or commitment; detail is the detector kind of an
// output clause or the metric of a commitment.
func OWASPForClause(clause, detail string) []string {
	switch clause {
	case "scope", "forbid":
		return []string{"LLM06"}
	case "output":
		switch detail {
		case "injection":
			return []string{"LLM01"}
		case "xss", "sql", "shell":
			return []string{"LLM05"}
		case "secrets", "pii", "canary":
			return []string{"LLM02"}
		}
	case "commitment":
		switch detail {
		case "accuracy":
			return []string{"LLM09"}
		case "latency_p95_ms", "error_rate":
			return []string{"LLM10"}
		}
	}
	return nil
}
