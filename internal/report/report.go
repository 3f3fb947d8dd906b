// Package report is the board report: a behavioral security summary of an
// org's agent fleet for a board or an audit committee. It says, per agent,
// where its trust score stands and what its key risks are; what incidents
// happened over the period and how they ended; how far the fleet has come
// in the 30-day programme (inventory, baselines, monitoring, incident
// criteria, model-update assessment); which evidence Probity holds for
// Articles 9, 12, 13, 14 and 15 of the EU AI Act and for each item of the
// OWASP Top 10 for LLM applications (2025); and the gaps left, each with
// its owner.
//
// Build is pure: the API gathers Facts from the store and the score package
// and Build turns them into a Report, which Markdown, HTML and JSON render.
// Every piece of text that came from an agent or a user (ids, names,
// owners, reasons, root causes) is escaped by the renderers. The
// mappings are evidence, not a legal assessment; docs/report.md says how
// each figure is made.
package report

import (
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/score"
)

// Report is the board report. Its JSON form is the API's format=json.
type Report struct {
	Title       string          `json:"title"`
	Org         string          `json:"org"`
	GeneratedAt time.Time       `json:"generatedAt"`
	Period      Period          `json:"period"`
	Summary     Summary         `json:"summary"`
	Agents      []Agent         `json:"agents"`
	Incidents   IncidentHistory `json:"incidents"`
	Programme   []Coverage      `json:"programme"`
	EUAIAct     []Control       `json:"euAiAct"`
	OWASP       []OWASPItem     `json:"owaspLlmTop10"`
	Gaps        []Gap           `json:"gaps"`
	Ledger      Ledger          `json:"ledger"`
	Disclaimer  string          `json:"disclaimer"`
}

// Period is what the report covers: From inclusive, To exclusive. Scores
// are computed as of To.
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Days float64   `json:"days"`
}

// Summary is the fleet at a glance.
type Summary struct {
	Agents    int `json:"agents"`
	Active    int `json:"active"`
	Suspended int `json:"suspended"`
	// Tiers counts agents per certification tier.
	Tiers map[string]int `json:"tiers"`
	// BelowReliance counts agents whose composite is under the reliance
	// threshold, Reliance.
	BelowReliance   int             `json:"belowReliance"`
	Reliance        int             `json:"reliance"`
	MedianComposite int             `json:"medianComposite"`
	OpenIncidents   score.Incidents `json:"openIncidents"`
	ProgrammeMet    int             `json:"programmeMet"`
	Gaps            int             `json:"gaps"`
	// Highlights are the summary in a few sentences.
	Highlights []string `json:"highlights"`
}

// Agent is one agent's row: its score, tier, status and key risks.
type Agent struct {
	ID           string           `json:"id"`
	Name         string           `json:"name,omitempty"`
	Owner        string           `json:"owner,omitempty"`
	RiskTier     string           `json:"riskTier"` // the stricter of the declared and the derived tier
	Status       string           `json:"status"`
	StatusReason string           `json:"statusReason,omitempty"`
	Model        probity.Model    `json:"model"`
	Composite    int              `json:"composite"`
	Tier         string           `json:"tier"`
	Confidence   float64          `json:"confidence"`
	Velocity7d   int              `json:"velocity7d"`
	Dimensions   score.Dimensions `json:"dimensions"`
	Badges       []string         `json:"badges"`
	// MissingBadges are the badges not awarded, in the score's order.
	MissingBadges []string        `json:"missingBadges"`
	OpenIncidents score.Incidents `json:"openIncidents"`
	Pact          *score.PactRef  `json:"pact,omitempty"`
	LastEvalAt    time.Time       `json:"lastEvalAt,omitzero"`
	LastRecordAt  time.Time       `json:"lastRecordAt,omitzero"`
	// Over the period: records, graded eval cases, and pact violations.
	Records    int    `json:"records"`
	EvalCases  int    `json:"evalCases"`
	Violations int    `json:"violations"`
	Risks      []Risk `json:"risks"`
}

// Risk is one key risk of an agent: a kind a program can switch on and a
// sentence for people.
type Risk struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// Kinds of risk.
const (
	RiskSuspended      = "suspended"
	RiskOpenIncidents  = "open-incidents"
	RiskBelowReliance  = "below-reliance"
	RiskDeclining      = "declining"
	RiskLowDimension   = "low-dimension"
	RiskNoEvidence     = "no-evidence"
	RiskMissingBadge   = "missing-badge"
	RiskStaleEvidence  = "stale-evidence"
	RiskNoPact         = "no-pact"
	RiskViolations     = "violations"
	RiskUnassessed     = "model-update-unassessed"
	RiskIncompleteInfo = "incomplete-inventory"
)

// IncidentHistory is the incidents of the period and how they ended.
type IncidentHistory struct {
	// Tracked is false when the server does not track incidents; Note
	// then says so.
	Tracked bool   `json:"tracked"`
	Note    string `json:"note,omitempty"`
	// Opened counts incidents opened in the period by severity.
	Opened score.Incidents `json:"opened"`
	// Resolved counts incidents resolved in the period, and how many of
	// them record a root cause.
	Resolved          int       `json:"resolved"`
	WithRootCause     int       `json:"withRootCause"`
	Acknowledged      int       `json:"acknowledged"`
	MeanTimeToResolve *Duration `json:"meanTimeToResolve,omitempty"`
	// Open counts incidents open (or acknowledged) at the end of the
	// period, by severity.
	Open score.Incidents `json:"open"`
	// Items are the incidents opened or resolved in the period, or still
	// open, most severe and newest first.
	Items []Incident `json:"items"`
}

// Duration is a length of time in seconds, with a human form.
type Duration struct {
	Seconds float64 `json:"seconds"`
	Text    string  `json:"text"`
}

// Statuses of a programme item.
const (
	Met     = "met"
	Partial = "partial"
	Missing = "missing"
)

// Coverage is one item of the 30-day programme: how many agents (or
// changes) meet it, and which do not.
type Coverage struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"` // met, partial or missing
	Met    int    `json:"met"`
	Total  int    `json:"total"`
	Detail string `json:"detail"`
	// Lacking names what does not meet it (agent ids).
	Lacking []string `json:"lacking"`
}

// Statuses of a control's evidence.
const (
	Evidenced  = "evidence"
	Incomplete = "partial"
	NoEvidence = "none"
)

// Control is one article of the EU AI Act and the evidence Probity holds
// for it.
type Control struct {
	Article  string   `json:"article"` // "Article 9"
	Title    string   `json:"title"`
	Status   string   `json:"status"` // evidence, partial or none
	Evidence []string `json:"evidence"`
	Gaps     []string `json:"gaps"`
}

// OWASP coverage statuses, as the score names them.
const (
	Tested    = score.OWASPTested
	Monitored = score.OWASPMonitored
	Uncovered = score.OWASPUncovered
)

// OWASPItem is one item of the OWASP Top 10 for LLM applications 2025,
// with the 2023 items it continues, its coverage across the fleet, and the
// evidence.
type OWASPItem struct {
	ID   string `json:"id"` // "LLM01:2025"
	Name string `json:"name"`
	// Was lists the 2023 items this one continues ("LLM01:2023 Prompt
	// Injection"); empty for a new item.
	Was []string `json:"was"`
	// Status is the coverage every agent has: tested when every agent is
	// tested, monitored when every agent is at least monitored, else
	// uncovered. The counts say how many agents hold each.
	Status    string `json:"status"`
	Tested    int    `json:"tested"`
	Monitored int    `json:"monitored"`
	Uncovered int    `json:"uncovered"`
	// Period evidence: graded eval cases naming the item, and runtime
	// violations of clauses that monitor it.
	EvalCases   int      `json:"evalCases"`
	EvalFailed  int      `json:"evalFailed"`
	Violations  int      `json:"violations"`
	Evidence    []string `json:"evidence"`
	HowProbity  string   `json:"howProbity"` // what evidence Probity can hold for it
	UncoveredBy []string `json:"uncoveredBy"`
}

// Gap is one thing left to do, and whose it is.
type Gap struct {
	Priority int    `json:"priority"` // 1 (first) to 3
	AgentID  string `json:"agentId,omitempty"`
	Owner    string `json:"owner"` // the agent's owner, or who holds a fleet-wide gap
	Area     string `json:"area"`
	Gap      string `json:"gap"`
	Action   string `json:"action"`
}

// Ledger is the tamper-evident ledger the evidence is recorded in.
type Ledger struct {
	Origin     string `json:"origin"`
	Size       int64  `json:"size"`
	RootHash   string `json:"rootHash"`
	Checkpoint string `json:"checkpoint"`
}
