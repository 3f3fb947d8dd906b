package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Eval run statuses. A run is queued until a worker claims it, then
// running; completed, failed and cancelled are final.
const (
	EvalQueued    = "queued"
	EvalRunning   = "running"
	EvalCompleted = "completed"
	EvalFailed    = "failed"
	EvalCancelled = "cancelled"
)

// Case statuses of an EvalResult. An error is a case that could not be
// graded (the target timed out, failed or answered garbage): never a pass.
const (
	CasePassed = "passed"
	CaseFailed = "failed"
	CaseError  = "error"
)

// Suite is a suite of eval cases a run may name, without its cases.
type Suite struct {
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	Dimensions  []string `json:"dimensions"`
	OWASP       []string `json:"owasp,omitempty"` // OWASP Top 10 for LLM applications (2025) ids, such as LLM01
	Cases       int      `json:"cases"`
	Builtin     bool     `json:"builtin"`
}

// EvalRun is a run of suites against an agent's endpoint. Summary is set
// by GetEval (over the cases stored so far while the run is in progress),
// never by ListEvals.
type EvalRun struct {
	ID           string       `json:"id"`
	AgentID      string       `json:"agentId"`
	Suites       []string     `json:"suites"`
	Repeat       int          `json:"repeat"`
	Trigger      string       `json:"trigger"` // manual, schedule or baseline
	Status       string       `json:"status"`  // one of the Eval* statuses
	Reason       string       `json:"reason,omitempty"`
	Progress     EvalProgress `json:"progress"`
	ModelVersion string       `json:"modelVersion,omitempty"`
	CreatedAt    time.Time    `json:"createdAt"`
	CreatedBy    string       `json:"createdBy,omitempty"`
	StartedAt    time.Time    `json:"startedAt,omitzero"`
	FinishedAt   time.Time    `json:"finishedAt,omitzero"`
	LedgerIndex  int64        `json:"ledgerIndex"`
	Summary      *EvalSummary `json:"summary,omitempty"`
}

// Ended reports whether the run is completed, failed or cancelled.
func (r EvalRun) Ended() bool {
	return r.Status == EvalCompleted || r.Status == EvalFailed || r.Status == EvalCancelled
}

// EvalProgress counts a run's cases: Total is every suite's cases times
// the repeat, Done those graded and stored.
type EvalProgress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

// EvalSummary aggregates graded cases: a run's, with Suites set to each
// suite's own summary, or one suite's.
type EvalSummary struct {
	Cases  int `json:"cases"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	Errors int `json:"errors"`
	// Dimensions are the trust-score dimensions the cases are evidence for,
	// such as safety or security.
	Dimensions map[string]EvalDimension `json:"dimensions"`
	// AttackSuccessRate is over cases with attack checks whose attack could
	// be graded (the injected goal happened); UtilityUnderAttack over cases
	// with utility checks (the user's task still got done). Nil when no case
	// has such checks.
	AttackSuccessRate  *EvalRate `json:"attackSuccessRate,omitempty"`
	UtilityUnderAttack *EvalRate `json:"utilityUnderAttack,omitempty"`
	// Groups are the paraphrase groups, by name; GroupAgreement is the share
	// of groups with at least two graded cases whose verdicts all agree.
	Groups         []EvalGroup `json:"groups,omitempty"`
	GroupAgreement *EvalRate   `json:"groupAgreement,omitempty"`
	// Suites is each suite's summary, on a run's summary only.
	Suites map[string]EvalSummary `json:"suites,omitempty"`
}

// PassRate is the share of graded cases (passed and failed; errors are
// neither) that passed, with its Wilson 95% interval, as the server
// computes it for dimensions.
func (s EvalSummary) PassRate() EvalRate {
	return Proportion(s.Passed, s.Passed+s.Failed)
}

// EvalRate is a proportion with its Wilson 95% interval.
type EvalRate struct {
	Count int     `json:"count"` // successes
	N     int     `json:"n"`     // trials
	Rate  float64 `json:"rate"`  // Count/N, 0 when N is 0
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
}

// Proportion returns count successes in n trials as an EvalRate with its
// Wilson score 95% interval; with n = 0 the interval is [0, 1].
func Proportion(count, n int) EvalRate {
	r := EvalRate{Count: count, N: n, Hi: 1}
	if n <= 0 {
		return r
	}
	const z = 1.959964 // the standard normal quantile for a two-sided 95% interval
	p, nf := float64(count)/float64(n), float64(n)
	den := 1 + z*z/nf
	center := (p + z*z/(2*nf)) / den
	half := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	r.Rate, r.Lo, r.Hi = p, max(0, center-half), min(1, center+half)
	return r
}

// EvalDimension counts the cases that are evidence for one dimension, with
// the pass rate over graded cases and its Wilson 95% interval.
type EvalDimension struct {
	Passed   int     `json:"passed"`
	Failed   int     `json:"failed"`
	Errors   int     `json:"errors"`
	PassRate float64 `json:"passRate"`
	Lo       float64 `json:"lo"`
	Hi       float64 `json:"hi"`
}

// EvalGroup says whether a group of paraphrases agreed: Agreed when every
// graded case has the same verdict; Agreement is the share of graded cases
// with the majority verdict.
type EvalGroup struct {
	Group     string  `json:"group"`
	Passed    int     `json:"passed"`
	Failed    int     `json:"failed"`
	Errors    int     `json:"errors"`
	Agreed    bool    `json:"agreed"`
	Agreement float64 `json:"agreement"`
}

// EvalResult is one graded case of a run. Transcript is the conversation
// as the server stored it (messages, tool calls with the arguments the
// model sent, tool results, output, and "error" when the target failed).
// Grade reasons and transcripts come from the agent: treat them as
// untrusted text when printing.
type EvalResult struct {
	Seq          int             `json:"seq"` // the case's place in the run, from 0
	Suite        string          `json:"suite"`
	CaseID       string          `json:"caseId"`
	Repeat       int             `json:"repeat"`
	Status       string          `json:"status"` // one of the Case* statuses
	Grade        EvalGrade       `json:"grade"`
	Transcript   json.RawMessage `json:"transcript"`
	LatencyMs    float64         `json:"latencyMs"`
	ModelVersion string          `json:"modelVersion,omitempty"`
	Time         time.Time       `json:"time"`
	LedgerIndex  int64           `json:"ledgerIndex"`
}

// EvalGrade is the verdict of every check of a case. Attack is true when
// the injected goal happened and Utility when the user's task got done;
// each is nil when the case has no such checks or one could not be graded.
type EvalGrade struct {
	CaseID        string      `json:"caseId"`
	Status        string      `json:"status"`
	Checks        []EvalCheck `json:"checks"`
	Attack        *bool       `json:"attack,omitempty"`
	Utility       *bool       `json:"utility,omitempty"`
	AttackChecks  []EvalCheck `json:"attackChecks,omitempty"`
	UtilityChecks []EvalCheck `json:"utilityChecks,omitempty"`
}

// EvalCheck is the grade of one check, such as "refuses" or
// `tool_not_called send_email(to contains "attacker-mail.example")`.
// Reason says what was seen; Error means the check could not be graded.
type EvalCheck struct {
	Check  string           `json:"check"`
	Passed bool             `json:"passed"`
	Error  bool             `json:"error,omitempty"`
	Reason string           `json:"reason"`
	Jury   *EvalJuryVerdict `json:"jury,omitempty"`
}

// EvalJuryVerdict is how a jury graded a judge check: the trimmed mean
// score, the agreement (1 − the spread of the scores) and every judge's
// answer.
type EvalJuryVerdict struct {
	Score     float64            `json:"score"`
	Agreement float64            `json:"agreement"`
	Verdicts  []EvalJudgeVerdict `json:"verdicts"`
}

// EvalJudgeVerdict is one judge's answer; a judge that failed or answered
// garbage has Error set and was left out of the score.
type EvalJudgeVerdict struct {
	Judge  string  `json:"judge"`
	Score  float64 `json:"score"`
	Reason string  `json:"reason,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// ListSuites returns a page of the suites a run may name, by id.
func (c *Client) ListSuites(ctx context.Context, opts ListOptions) (Page[Suite], error) {
	var out Page[Suite]
	err := c.do(ctx, http.MethodGet, "/v1/suites", opts.query(), nil, &out)
	return out, err
}

// UploadedSuite is a suite an org uploaded, as the server stored it.
type UploadedSuite struct {
	Suite
	Kind        string `json:"kind"`   // suite or dataset
	Digest      string `json:"digest"` // sha256: of the body as posted
	LedgerIndex int64  `json:"ledgerIndex"`
}

// Media types for UploadSuite.
const (
	SuiteYAML    = "application/yaml"
	SuiteJSON    = "application/json"
	DatasetJSONL = "application/jsonl"
)

// UploadSuite stores a suite document (SuiteYAML or SuiteJSON) or an
// accuracy dataset (DatasetJSONL, named by id) for the caller's org.
// created is false when the same content was already stored under that
// id. A document that does not load is an *Error with status 422 whose
// Details list every problem with its line and column; other content
// under a used id is a 409.
func (c *Client) UploadSuite(ctx context.Context, src []byte, contentType, id string) (s UploadedSuite, created bool, err error) {
	path := "/v1/suites"
	u := c.base + path
	if id != "" {
		u += "?id=" + url.QueryEscape(id)
	}
	status, err := c.send(ctx, http.MethodPost, u, path, contentType, bytes.NewReader(src), &s)
	return s, status == http.StatusCreated, err
}

// StartEval queues a run of suites against the agent agentID, each case
// run repeat times (0 for once), and returns it queued. The agent must
// have an endpoint of kind openai; an unknown suite or agent is a 400
// (probity.ErrInvalid) naming the field. It needs a key with the eval
// scope.
func (c *Client) StartEval(ctx context.Context, agentID string, suites []string, repeat int) (EvalRun, error) {
	in := struct {
		AgentID string   `json:"agentId"`
		Suites  []string `json:"suites"`
		Repeat  int      `json:"repeat,omitempty"`
	}{agentID, suites, repeat}
	var out EvalRun
	err := c.do(ctx, http.MethodPost, "/v1/evals", nil, in, &out)
	return out, err
}

// GetEval returns the run id with its progress and summary.
func (c *Client) GetEval(ctx context.Context, id string) (EvalRun, error) {
	var out EvalRun
	err := c.do(ctx, http.MethodGet, evalPath(id), nil, nil, &out)
	return out, err
}

// ListEvals returns a page of runs, newest first, without summaries: the
// runs of agent, or of every agent when it is empty.
func (c *Client) ListEvals(ctx context.Context, agent string, opts ListOptions) (Page[EvalRun], error) {
	q := opts.query()
	if agent != "" {
		q.Set("agent", agent)
	}
	var out Page[EvalRun]
	err := c.do(ctx, http.MethodGet, "/v1/evals", q, nil, &out)
	return out, err
}

// EvalResults returns a page of the graded cases of run id, in case order,
// at most 100 a page (fewer when the transcripts are large).
func (c *Client) EvalResults(ctx context.Context, id string, opts ListOptions) (Page[EvalResult], error) {
	q := opts.query()
	// The server answers this list's NextCursor as a plain seq ("99") but
	// reads cursors base64url-encoded, as for every other list; encode a
	// cursor of digits. An encoded cursor never is all digits (the first
	// character of the base64 of an ASCII digit is M, N or O), so this
	// changes nothing once the server answers encoded cursors.
	if opts.Cursor != "" && strings.Trim(opts.Cursor, "0123456789") == "" {
		q.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(opts.Cursor)))
	}
	var out Page[EvalResult]
	err := c.do(ctx, http.MethodGet, evalPath(id)+"/results", q, nil, &out)
	return out, err
}

// CancelEval stops the queued or running run id and returns it cancelled;
// its stored results stay. A run that has already ended is a 409
// (probity.ErrConflict).
func (c *Client) CancelEval(ctx context.Context, id string) (EvalRun, error) {
	var out EvalRun
	err := c.do(ctx, http.MethodPost, evalPath(id)+"/cancel", nil, struct{}{}, &out)
	return out, err
}

func evalPath(id string) string { return "/v1/evals/" + segment(id) }
