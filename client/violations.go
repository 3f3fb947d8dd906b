package client

import (
	"context"
	"net/http"
	"time"
)

// Violation kinds.
const (
	KindScopeTool           = "scope_tool"
	KindScopeWhen           = "scope_when"
	KindDataClass           = "data_class"
	KindEgress              = "egress"
	KindForbiddenSequence   = "forbidden_sequence"
	KindOutput              = "output"
	KindEvaluationError     = "evaluation_error"
	KindCommitment          = "commitment"
	KindInjectionInfluenced = "injection_influenced"
)

// Violation is a record (or, for a forbidden sequence, the records of every
// step) that broke a clause of its agent's active pact, a commitment
// breached over its window, or a tool call influenced by injected content
// (clause "injection.influenced"), which is found for agents without a pact
// too. Everything in it but Time and LedgerIndex comes from what agents
// sent or what pacts say: treat it as untrusted text when printing.
type Violation struct {
	ID          string `json:"id"` // "v_" and the ledger index
	AgentID     string `json:"agentId"`
	PactID      string `json:"pactId,omitempty"` // empty for an influenced call of an agent without a pact
	PactVersion int    `json:"pactVersion,omitempty"`
	Clause      string `json:"clause"` // a clause id, a scope clause such as "scope.tools", or "injection.influenced"
	Kind        string `json:"kind"`
	Severity    string `json:"severity"`
	// Confirmed marks an injection-influenced call that also broke the pact.
	Confirmed bool `json:"confirmed,omitempty"`
	// RecordIDs is the evidence, in session order: the steps of a forbidden
	// sequence; an influenced call, then the flagged results it carries
	// tokens of; the worst records of a commitment's window.
	RecordIDs   []string  `json:"recordIds"`
	Explanation string    `json:"explanation"`
	Time        time.Time `json:"time"` // of the record that broke the clause; of the evaluation for a commitment
	LedgerIndex int64     `json:"ledgerIndex"`
}

// ViolationFilter selects violations, in ledger order: each non-empty field
// must match exactly, From is inclusive and To exclusive (zero for no
// bound), and ListOptions pick the page.
type ViolationFilter struct {
	AgentID  string
	Clause   string
	Severity string // critical, major, minor or info
	Kind     string // one of the Kind constants
	From, To time.Time
	ListOptions
}

// ListViolations returns a page of the org's violations that f selects.
func (c *Client) ListViolations(ctx context.Context, f ViolationFilter) (Page[Violation], error) {
	q := f.ListOptions.query()
	for k, v := range map[string]string{"agent": f.AgentID, "clause": f.Clause, "severity": f.Severity, "kind": f.Kind} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format(time.RFC3339Nano))
	}
	var out Page[Violation]
	err := c.do(ctx, http.MethodGet, "/v1/violations", q, nil, &out)
	return out, err
}

// CommitmentResult is one commitment of a pact, for one agent it binds,
// judged over its window.
type CommitmentResult struct {
	PactID      string  `json:"pactId"`
	PactVersion int     `json:"pactVersion"`
	AgentID     string  `json:"agentId"`
	Clause      string  `json:"clause"`
	Metric      string  `json:"metric"` // such as latency_p95_ms or error_rate
	Op          string  `json:"op"`     // <, <=, > or >=
	Value       float64 `json:"value"`
	Window      string  `json:"window"` // such as "1d" or "90m0s"
	Suite       string  `json:"suite,omitempty"`
	Samples     int     `json:"samples"`
	// Observed is the metric over the window; nil when it has no samples.
	Observed    *float64 `json:"observed"`
	Breached    bool     `json:"breached"`
	Explanation string   `json:"explanation"`
	// Violation is the violation this evaluation recorded for a breach;
	// ReportedAs is the id of the one that already reported it within the
	// window, when the breach was not recorded again.
	Violation  *Violation `json:"violation,omitempty"`
	ReportedAs string     `json:"reportedAs,omitempty"`
}

// CommitmentEvaluation is the outcome of evaluating a pact's commitments.
type CommitmentEvaluation struct {
	EvaluatedAt time.Time          `json:"evaluatedAt"`
	Results     []CommitmentResult `json:"results"`
}

// EvaluateCommitments judges the commitments of the pact id now, for every
// agent bound to it, and records a violation for each breach not already
// reported within its window. It needs a key with the eval scope.
func (c *Client) EvaluateCommitments(ctx context.Context, pactID string) (CommitmentEvaluation, error) {
	var out CommitmentEvaluation
	err := c.do(ctx, http.MethodPost, pactPath(pactID)+"/commitments/evaluate", nil, struct{}{}, &out)
	return out, err
}
