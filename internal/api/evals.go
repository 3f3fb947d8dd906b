package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/eval"
	"github.com/probity-dev/probity/internal/store"
)

// Eval runs. POST /v1/evals stores a queued run (a ledger leaf) and answers
// 202; workers (RunEvals) claim runs through the store, one replica per
// run, run their cases against the agent's endpoint, and store each graded
// case with its ledger leaf in batches. A run whose worker stopped is
// claimed again once its lease runs out and resumes with the cases it had
// not stored.

// Bounds and timings of eval runs.
const (
	maxEvalRepeat       = 10
	maxEvalItems        = 100000
	evalLease           = time.Minute      // a worker that stops renewing for this long loses its run
	evalRenew           = 10 * time.Second // how often a worker renews while a case is slow
	evalFlush           = 250 * time.Millisecond
	evalFlushItems      = 200
	evalPoll            = 2 * time.Second // how often an idle worker looks for runs made by other replicas
	evalConcurrency     = 8               // cases in flight per run
	maxResultsPage      = 100
	maxStoredTranscript = 1 << 20 // bytes of one stored transcript
	evalResultsBytes    = 4 << 20
)

// evalRunView is a run as the API shows it.
type evalRunView struct {
	ID           string          `json:"id"`
	AgentID      string          `json:"agentId"`
	Suites       []string        `json:"suites"`
	Repeat       int             `json:"repeat"`
	Trigger      string          `json:"trigger"`
	Status       string          `json:"status"`
	Reason       string          `json:"reason,omitempty"`
	Progress     evalProgress    `json:"progress"`
	ModelVersion string          `json:"modelVersion,omitempty"`
	CreatedAt    time.Time       `json:"createdAt"`
	CreatedBy    string          `json:"createdBy,omitempty"`
	StartedAt    *time.Time      `json:"startedAt,omitempty"`
	FinishedAt   *time.Time      `json:"finishedAt,omitempty"`
	LedgerIndex  int64           `json:"ledgerIndex"`
	Summary      json.RawMessage `json:"summary,omitempty"`
}

type evalProgress struct {
	Done  int `json:"done"`
	Total int `json:"total"`
}

func viewOfRun(r store.EvalRun) evalRunView {
	v := evalRunView{ID: r.ID, AgentID: r.AgentID, Suites: r.Suites, Repeat: r.Repeat, Trigger: r.Trigger, Status: r.Status,
		Reason: r.Reason, Progress: evalProgress{r.Done, r.Total}, ModelVersion: r.ModelVersion, CreatedAt: r.CreatedAt,
		CreatedBy: r.CreatedBy, LedgerIndex: r.LedgerIndex, Summary: r.Summary}
	if !r.StartedAt.IsZero() {
		v.StartedAt = &r.StartedAt
	}
	if !r.FinishedAt.IsZero() {
		v.FinishedAt = &r.FinishedAt
	}
	return v
}

// runSummary is a run's results: overall, per suite and per dimension.
type runSummary struct {
	eval.Summary
	Suites map[string]eval.Summary `json:"suites"`
}

// evalSuites are the suites runs may name, by id.
type evalSuites map[string]*eval.Suite

func loadSuites() (evalSuites, error) {
	ss, err := eval.Builtin()
	if err != nil {
		return nil, fmt.Errorf("loading the built-in suites: %w", err)
	}
	out := evalSuites{}
	for _, s := range ss {
		out[s.ID] = s
	}
	return out, nil
}

// suiteCache keeps uploaded suites compiled, by digest.
type suiteCache struct {
	mu sync.Mutex
	m  map[string]*eval.Suite
}

// maxCachedSuites bounds the compiled uploaded suites kept.
const maxCachedSuites = 256

// lookup finds suites by id for one org within a transaction: built-in
// ones first, then the org's uploaded ones (compiled once per digest).
type lookup func(id string) (*eval.Suite, error)

func (s *Server) lookupIn(ctx context.Context, tx store.Tx, org string) lookup {
	return func(id string) (*eval.Suite, error) {
		if st, ok := s.suites[id]; ok {
			return st, nil
		}
		src, err := tx.GetSuite(ctx, org, id)
		if err != nil {
			return nil, err
		}
		return s.compileSuite(src)
	}
}

func (s *Server) compileSuite(src store.SuiteSource) (*eval.Suite, error) {
	s.suiteCache.mu.Lock()
	st, ok := s.suiteCache.m[src.Digest]
	s.suiteCache.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := parseUpload(src.ID, src.Kind, src.Source)
	if err != nil {
		return nil, fmt.Errorf("%w: stored suite %s no longer loads: %v", probity.ErrConflict, src.ID, err)
	}
	s.suiteCache.mu.Lock()
	defer s.suiteCache.mu.Unlock()
	if s.suiteCache.m == nil || len(s.suiteCache.m) >= maxCachedSuites {
		s.suiteCache.m = map[string]*eval.Suite{}
	}
	s.suiteCache.m[src.Digest] = st
	return st, nil
}

// parseUpload compiles an uploaded suite document, or an accuracy dataset
// as a suite of that id.
func parseUpload(id, kind string, src []byte) (*eval.Suite, error) {
	if kind == "dataset" {
		cases, err := eval.ParseDataset(id+".jsonl", src)
		if err != nil {
			return nil, err
		}
		return &eval.Suite{APIVersion: eval.APIVersion, Kind: eval.Kind, ID: id, Dimensions: []string{eval.Accuracy}, Cases: cases}, nil
	}
	return eval.ParseSuite(id, src)
}

// suiteView lists a suite without its cases.
type suiteView struct {
	ID          string   `json:"id"`
	Description string   `json:"description,omitempty"`
	Dimensions  []string `json:"dimensions"`
	OWASP       []string `json:"owasp,omitempty"`
	Cases       int      `json:"cases"`
	Builtin     bool     `json:"builtin"`
}

func (s *Server) listSuites(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	var out []suiteView
	for id, st := range s.suites {
		if id > p.After {
			out = append(out, suiteView{st.ID, st.Description, st.Dimensions, st.OWASP, len(st.Cases), true})
		}
	}
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		srcs, err := tx.ListSuites(r.Context(), c.org, store.Page{After: p.After, Limit: p.Limit + 1})
		if err != nil {
			return err
		}
		for _, src := range srcs {
			st, err := s.compileSuite(src)
			if err != nil {
				out = append(out, suiteView{ID: src.ID, Description: err.Error(), Dimensions: []string{}})
				continue
			}
			out = append(out, suiteView{st.ID, st.Description, st.Dimensions, st.OWASP, len(st.Cases), false})
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(out, func(a, b suiteView) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, paged(out[:min(len(out), p.Limit+1)], p, func(v suiteView) string { return v.ID }))
	return nil
}

// suiteError rejects a suite or dataset that does not load, listing every
// problem with its position (422).
type suiteError struct{ le *eval.LoadError }

func (e *suiteError) Error() string {
	msg := fmt.Sprintf("the suite does not load: %d problems; nothing was stored", len(e.le.Problems))
	if len(e.le.Problems) > maxDetails {
		msg += fmt.Sprintf(" (the first %d are listed)", maxDetails)
	}
	return msg
}

func (e *suiteError) Unwrap() error { return errUnprocessable }

func (e *suiteError) details() []pactProblem {
	out := make([]pactProblem, 0, min(len(e.le.Problems), maxDetails))
	for _, p := range e.le.Problems[:min(len(e.le.Problems), maxDetails)] {
		out = append(out, pactProblem{p.Line, p.Column, p.Field, p.Message})
	}
	return out
}

// maxSuiteBytes bounds an uploaded suite or dataset.
const maxSuiteBytes = 8 << 20

// createSuite stores an uploaded suite (YAML or JSON, as docs/evals.md
// describes) or an accuracy dataset (JSONL, with ?id=), immutable: the
// same content again answers 200, other content under a used id is a 409.
func (s *Server) createSuite(w http.ResponseWriter, r *http.Request, c *call) error {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(strings.ToLower(ct))
	kind := "suite"
	switch ct {
	case "application/yaml", "application/x-yaml", "text/yaml", "application/json":
	case "application/jsonl", "application/x-ndjson", "application/x-jsonlines":
		kind = "dataset"
	default:
		return clientError(errUnsupported, "Content-Type must be application/yaml or application/json (a suite) or application/jsonl (an accuracy dataset), got %q", ct)
	}
	src, err := readBody(r.Body)
	if err != nil {
		return err
	}
	id := r.URL.Query().Get("id")
	if kind == "dataset" && !probity.ValidID(id) {
		return probity.Invalid("id", "a dataset needs ?id= naming its suite: %s", probity.IDRule)
	}
	st, err := parseUpload(id, kind, src)
	var le *eval.LoadError
	if errors.As(err, &le) {
		return &suiteError{le}
	} else if err != nil {
		return err
	}
	if kind == "suite" {
		if id != "" && id != st.ID {
			return probity.Invalid("id", "the query names %q but the suite's id is %q", id, st.ID)
		}
		id = st.ID
	}
	if _, builtin := s.suites[id]; builtin {
		return clientError(probity.ErrConflict, "%q is a built-in suite; choose another id", id)
	}
	sum := sha256.Sum256(src)
	su := store.SuiteSource{ID: id, Kind: kind, Digest: "sha256:" + hex.EncodeToString(sum[:]), Source: src,
		CreatedAt: s.now().UTC().Truncate(time.Microsecond), CreatedBy: c.actor()}
	created := true
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		prev, err := tx.GetSuite(r.Context(), c.org, id)
		switch {
		case err == nil && prev.Digest == su.Digest:
			su, created = prev, false
			return nil
		case err == nil:
			return clientError(probity.ErrConflict, "suite %q exists with other content (%s); uploaded suites are immutable: use a new id", id, prev.Digest)
		case !errors.Is(err, probity.ErrNotFound):
			return err
		}
		if err := tx.LockLedger(r.Context(), c.org); err != nil {
			return err
		}
		leaf, err := json.Marshal(struct {
			Kind  string `json:"kind"`
			Suite any    `json:"suite"`
		}{"suite", struct {
			ID     string `json:"id"`
			Kind   string `json:"kind"`
			Digest string `json:"digest"`
			Cases  int    `json:"cases"`
		}{id, kind, su.Digest, len(st.Cases)}})
		if err != nil {
			return err
		}
		if su.LedgerIndex, err = store.AppendLedger(r.Context(), tx, c.org, [][]byte{leaf}); err != nil {
			return err
		}
		if err := tx.InsertSuite(r.Context(), c.org, su); err != nil {
			return err
		}
		return s.audit(r, tx, c, su.CreatedAt, "suite.create", "suite:"+id, map[string]any{"kind": kind, "digest": su.Digest, "cases": len(st.Cases)})
	})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, struct {
		suiteView
		Kind        string `json:"kind"`
		Digest      string `json:"digest"`
		LedgerIndex int64  `json:"ledgerIndex"`
	}{suiteView{st.ID, st.Description, st.Dimensions, st.OWASP, len(st.Cases), false}, kind, su.Digest, su.LedgerIndex})
	return nil
}

type createEvalRequest struct {
	AgentID string   `json:"agentId"`
	Suites  []string `json:"suites"`
	Repeat  int      `json:"repeat"`
}

// createEval queues a run of suites against an agent and answers 202.
func (s *Server) createEval(w http.ResponseWriter, r *http.Request, c *call) error {
	var req createEvalRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	run, err := s.QueueEval(r.Context(), c.org, req.AgentID, req.Suites, req.Repeat, "manual", c.actor())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/evals/"+run.ID)
	writeJSON(w, http.StatusAccepted, viewOfRun(run))
	return nil
}

// QueueEval validates and stores a queued run (trigger manual, schedule or
// baseline), with its ledger leaf, and wakes a worker.
func (s *Server) QueueEval(ctx context.Context, org, agentID string, suites []string, repeat int, trigger, by string) (store.EvalRun, error) {
	var run store.EvalRun
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		if run, err = s.newRun(s.lookupIn(ctx, tx, org), agentID, suites, repeat, trigger, by); err != nil {
			return err
		}
		a, err := tx.GetAgent(ctx, org, agentID)
		if err != nil {
			if errors.Is(err, probity.ErrNotFound) {
				return probity.Invalid("agentId", "unknown agent %q", agentID)
			}
			return err
		}
		return s.queueTx(ctx, tx, org, a, &run)
	})
	if err != nil {
		return store.EvalRun{}, err
	}
	s.wakeWorkers()
	return run, nil
}

// newRun validates what a run names and counts its cases.
func (s *Server) newRun(find lookup, agentID string, suites []string, repeat int, trigger, by string) (store.EvalRun, error) {
	if !probity.ValidID(agentID) {
		return store.EvalRun{}, probity.Invalid("agentId", probity.IDRule)
	}
	if len(suites) == 0 {
		return store.EvalRun{}, probity.Invalid("suites", "is required: name at least one suite (GET /v1/suites lists them)")
	}
	if repeat == 0 {
		repeat = 1
	}
	if repeat < 1 || repeat > maxEvalRepeat {
		return store.EvalRun{}, probity.Invalid("repeat", "must be between 1 and %d", maxEvalRepeat)
	}
	total := 0
	for i, id := range suites {
		if slices.Contains(suites[:i], id) {
			return store.EvalRun{}, probity.Invalid(fmt.Sprintf("suites[%d]", i), "suite %q is named twice", id)
		}
		st, err := find(id)
		if errors.Is(err, probity.ErrNotFound) {
			return store.EvalRun{}, probity.Invalid(fmt.Sprintf("suites[%d]", i), "unknown suite %q (GET /v1/suites lists them)", id)
		} else if err != nil {
			return store.EvalRun{}, err
		}
		total += len(st.Cases) * repeat
	}
	if total > maxEvalItems {
		return store.EvalRun{}, probity.Invalid("suites", "a run is at most %d cases (suites × repeat), this one is %d", maxEvalItems, total)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	return store.EvalRun{ID: newRunID(now), AgentID: agentID, Suites: slices.Clone(suites), Repeat: repeat, Trigger: trigger,
		Status: store.EvalQueued, Total: total, CreatedAt: now, CreatedBy: by}, nil
}

// queueTx stores run for agent a in tx, with its ledger leaf; the agent
// must have an endpoint evals can reach.
func (s *Server) queueTx(ctx context.Context, tx store.Tx, org string, a probity.Agent, run *store.EvalRun) error {
	if _, err := endpointOf(a); err != nil {
		return err
	}
	run.ModelVersion = a.Model.Version
	if err := tx.LockLedger(ctx, org); err != nil {
		return err
	}
	leaf, err := evalRunLeaf(*run)
	if err != nil {
		return err
	}
	idx, err := store.AppendLedger(ctx, tx, org, [][]byte{leaf})
	if err != nil {
		return err
	}
	run.LedgerIndex = idx
	return tx.InsertEvalRun(ctx, org, *run)
}

// baselineSuites is what a model update queues against the new version:
// every built-in suite, so each dimension gets a baseline, and the org's
// accuracy datasets.
func (s *Server) baselineSuites(ctx context.Context, tx store.Tx, org string) ([]string, error) {
	ids := make([]string, 0, len(s.suites))
	for id := range s.suites {
		ids = append(ids, id)
	}
	for p := (store.Page{Limit: 1000}); ; {
		srcs, err := tx.ListSuites(ctx, org, p)
		if err != nil {
			return nil, err
		}
		for _, src := range srcs {
			if src.Kind == "dataset" {
				ids = append(ids, src.ID)
			}
		}
		if len(srcs) < p.Limit {
			break
		}
		p.After = srcs[len(srcs)-1].ID
	}
	slices.Sort(ids)
	return ids, nil
}

// newRunID is "ev_", the time in milliseconds (hex, fixed width) and 48
// random bits: ids sort by creation time.
func newRunID(now time.Time) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("ev_%012x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}

// agentKeyPrefix is what the environment variables holding agents' API
// keys must start with. An org admin sets apiKeyEnv; were any name
// accepted, an admin could have the server send, say, its database DSN or a
// judge's key to a URL of their choosing.
const agentKeyPrefix = "PROBITY_AGENT_KEY_"

// endpoint is what a worker needs to reach an agent.
type endpoint struct {
	kind, url, model, keyEnv, body, output string
}

// endpointOf checks that the agent can be evaluated.
func endpointOf(a probity.Agent) (endpoint, error) {
	e := a.Endpoint
	if e == nil || e.URL == "" {
		return endpoint{}, probity.Invalid("agentId", "agent %q has no endpoint to evaluate: set endpoint {kind, url, model, apiKeyEnv} (PATCH /v1/agents/%s)", a.ID, a.ID)
	}
	ep := endpoint{e.Kind, e.URL, e.Model, e.APIKeyEnv, e.Body, e.Output}
	if ep.keyEnv != "" && !strings.HasPrefix(ep.keyEnv, agentKeyPrefix) {
		return endpoint{}, probity.Invalid("agentId", "agent %q: endpoint.apiKeyEnv %q must start with %s: the server lends evals only the variables its operator named so (export %sNAME=… before probity serve)",
			a.ID, ep.keyEnv, agentKeyPrefix, agentKeyPrefix)
	}
	if ep.kind == "" {
		ep.kind = "openai"
	}
	switch ep.kind {
	case "openai":
		if e.Model == "" {
			return endpoint{}, probity.Invalid("agentId", "agent %q: endpoint.model is required for kind openai", a.ID)
		}
	case "http":
		if _, err := ep.target("", nil); err != nil {
			return endpoint{}, probity.Invalid("agentId", "agent %q: its http endpoint cannot be used: %v", a.ID, err)
		}
	default:
		return endpoint{}, probity.Invalid("agentId", "agent %q has an endpoint of kind %q; evals run against kinds openai and http", a.ID, ep.kind)
	}
	return ep, nil
}

// target builds the eval target of the endpoint, with the API key (sent as
// a bearer token) when there is one.
func (ep endpoint) target(key string, hc *http.Client) (eval.Target, error) {
	if ep.kind == "http" {
		cfg := eval.HTTPConfig{URL: ep.url, Body: ep.body, Output: ep.output, Client: hc}
		if key != "" {
			cfg.Headers = map[string]string{"Authorization": "Bearer " + key}
		}
		return eval.NewHTTP(cfg)
	}
	return eval.NewOpenAI(eval.OpenAIConfig{URL: ep.url, Model: ep.model, APIKey: key, Client: hc})
}

// evalRunLeaf is the ledger entry of a new run.
func evalRunLeaf(r store.EvalRun) ([]byte, error) {
	return json.Marshal(struct {
		Kind string `json:"kind"`
		Run  any    `json:"run"`
	}{"eval_run", struct {
		ID           string    `json:"id"`
		AgentID      string    `json:"agentId"`
		Suites       []string  `json:"suites"`
		Repeat       int       `json:"repeat"`
		Trigger      string    `json:"trigger"`
		ModelVersion string    `json:"modelVersion"`
		Total        int       `json:"total"`
		CreatedAt    time.Time `json:"createdAt"`
		CreatedBy    string    `json:"createdBy,omitempty"`
	}{r.ID, r.AgentID, r.Suites, r.Repeat, r.Trigger, r.ModelVersion, r.Total, r.CreatedAt, r.CreatedBy}})
}

// evalResultLeaf is the ledger entry of one graded case: the verdict of
// each check, and the sha256 of the stored grade and transcript, so the
// stored result can be checked against the ledger.
func evalResultLeaf(agent string, r store.EvalResult, g *eval.CaseResult) ([]byte, error) {
	type check struct {
		Check  string `json:"check"`
		Passed bool   `json:"passed"`
		Error  bool   `json:"error,omitempty"`
	}
	checks := make([]check, len(g.Checks))
	for i, c := range g.Checks {
		checks[i] = check{c.Check, c.Passed, c.Error}
	}
	return json.Marshal(struct {
		Kind   string `json:"kind"`
		Result any    `json:"result"`
	}{"eval_result", struct {
		RunID        string    `json:"runId"`
		Seq          int       `json:"seq"`
		AgentID      string    `json:"agentId"`
		Suite        string    `json:"suite"`
		CaseID       string    `json:"caseId"`
		Repeat       int       `json:"repeat"`
		Status       string    `json:"status"`
		Checks       []check   `json:"checks"`
		Attack       *bool     `json:"attack,omitempty"`
		Utility      *bool     `json:"utility,omitempty"`
		ModelVersion string    `json:"modelVersion,omitempty"`
		LatencyMs    float64   `json:"latencyMs"`
		Time         time.Time `json:"time"`
		Digest       string    `json:"digest"`
	}{r.RunID, r.Seq, agent, r.Suite, r.CaseID, r.Repeat, r.Status, checks, g.Attack, g.Utility, r.ModelVersion, r.LatencyMs, r.CreatedAt, resultDigest(r)}})
}

// resultDigest is sha256 over the stored grade, a newline, and the stored
// transcript.
func resultDigest(r store.EvalResult) string {
	h := sha256.New()
	h.Write(r.Grade)
	h.Write([]byte("\n"))
	h.Write(r.Transcript)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func (s *Server) listEvals(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	f := store.EvalRunFilter{Page: peek(p)}
	if a := r.URL.Query().Get("agent"); a != "" {
		if !probity.ValidID(a) {
			return probity.Invalid("agent", probity.IDRule)
		}
		f.AgentID = a
	}
	var runs []store.EvalRun
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		runs, err = tx.ListEvalRuns(r.Context(), c.org, f)
		return err
	})
	if err != nil {
		return err
	}
	views := make([]evalRunView, len(runs))
	for i, run := range runs {
		views[i] = viewOfRun(run)
		views[i].Summary = nil // GET /v1/evals/{id} has it
	}
	writeJSON(w, http.StatusOK, paged(views, p, func(v evalRunView) string { return v.ID }))
	return nil
}

// getEval answers a run with its progress and, per suite and dimension,
// its pass rates with Wilson intervals (so far, while it runs).
func (s *Server) getEval(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var run store.EvalRun
	var grades []store.EvalResult
	var summary json.RawMessage
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if run, err = tx.GetEvalRun(r.Context(), c.org, id); err != nil {
			return err
		}
		if run.Summary != nil {
			return nil
		}
		if grades, err = allGrades(r.Context(), tx, c.org, id); err != nil || len(grades) == 0 {
			return err
		}
		summary, err = s.summarize(grades, s.lookupIn(r.Context(), tx, c.org))
		return err
	})
	if err != nil {
		return err
	}
	v := viewOfRun(run)
	if run.Summary == nil {
		v.Summary = summary
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// allGrades reads every result of a run, without transcripts.
func allGrades(ctx context.Context, tx store.Tx, org, runID string) ([]store.EvalResult, error) {
	var out []store.EvalResult
	for after := -1; ; {
		rs, err := tx.ListEvalResults(ctx, org, runID, after, 5000, false)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		if len(rs) < 5000 {
			return out, nil
		}
		after = rs[len(rs)-1].Seq
	}
}

// summarize aggregates stored results overall and per suite.
func (s *Server) summarize(rs []store.EvalResult, find lookup) (json.RawMessage, error) {
	all := make([]eval.CaseResult, 0, len(rs))
	bySuite := map[string][]eval.CaseResult{}
	cases := map[string]*eval.Case{}
	for _, r := range rs {
		var g eval.CaseResult
		if err := json.Unmarshal(r.Grade, &g); err != nil {
			return nil, fmt.Errorf("%w: the grade of result %d of run %s: %v", store.ErrLedgerDamaged, r.Seq, r.RunID, err)
		}
		all = append(all, g)
		if _, seen := bySuite[r.Suite]; !seen {
			if st, err := find(r.Suite); err == nil {
				for i := range st.Cases {
					cases[st.Cases[i].ID] = &st.Cases[i]
				}
			}
		}
		bySuite[r.Suite] = append(bySuite[r.Suite], g)
	}
	sum := runSummary{Summary: eval.Summarize(all, cases), Suites: map[string]eval.Summary{}}
	for suite, gs := range bySuite {
		sum.Suites[suite] = eval.Summarize(gs, cases)
	}
	return json.Marshal(sum)
}

// evalResultView is one graded case with its transcript.
type evalResultView struct {
	Seq          int             `json:"seq"`
	Suite        string          `json:"suite"`
	CaseID       string          `json:"caseId"`
	Repeat       int             `json:"repeat"`
	Status       string          `json:"status"`
	Grade        json.RawMessage `json:"grade"`
	Transcript   json.RawMessage `json:"transcript"`
	LatencyMs    float64         `json:"latencyMs"`
	ModelVersion string          `json:"modelVersion,omitempty"`
	Time         time.Time       `json:"time"`
	LedgerIndex  int64           `json:"ledgerIndex"`
}

func (s *Server) getEvalResults(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	after := -1
	if p.After != "" {
		if after, err = strconv.Atoi(p.After); err != nil || after < 0 {
			return probity.Invalid("cursor", "not a cursor this list returned")
		}
	}
	limit := min(p.Limit, maxResultsPage)
	var rs []store.EvalResult
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if _, err := tx.GetEvalRun(r.Context(), c.org, id); err != nil {
			return err
		}
		rs, err = tx.ListEvalResults(r.Context(), c.org, id, after, limit+1, true)
		return err
	})
	if err != nil {
		return err
	}
	views := make([]evalResultView, 0, len(rs))
	size := 0
	for i, res := range rs {
		if i == limit || (size > evalResultsBytes && i > 0) {
			break
		}
		size += len(res.Transcript) + len(res.Grade)
		views = append(views, evalResultView{res.Seq, res.Suite, res.CaseID, res.Repeat, res.Status, res.Grade, res.Transcript,
			res.LatencyMs, res.ModelVersion, res.CreatedAt, res.LedgerIndex})
	}
	out := struct {
		Items      []evalResultView `json:"items"`
		NextCursor string           `json:"nextCursor,omitempty"`
	}{Items: views}
	if len(views) < len(rs) {
		out.NextCursor = cursor(strconv.Itoa(views[len(views)-1].Seq))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// cancelEval stops a queued or running run; its stored results stay.
func (s *Server) cancelEval(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var run store.EvalRun
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if run, err = tx.LockEvalRun(r.Context(), c.org, id); err != nil {
			return err
		}
		if run.Status != store.EvalQueued && run.Status != store.EvalRunning {
			return clientError(probity.ErrConflict, "run %s is already %s", id, run.Status)
		}
		run.Status, run.Reason, run.FinishedAt = store.EvalCancelled, "cancelled by "+c.actor(), s.now().UTC().Truncate(time.Microsecond)
		return tx.UpdateEvalRun(r.Context(), c.org, run)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOfRun(run))
	return nil
}

// wakeWorkers tells an idle worker of this replica that a run is queued.
func (s *Server) wakeWorkers() {
	select {
	case s.evalWake <- struct{}{}:
	default:
	}
}

// RunEvals runs n workers that claim and run eval runs until ctx ends; it
// returns when they have stopped. A run a worker was running when ctx
// ended keeps its stored results and is resumed by the next claim.
func (s *Server) RunEvals(ctx context.Context, n int) {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	owner := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	done := make(chan struct{}, n)
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			s.evalWorker(ctx, fmt.Sprintf("%s/%d", owner, i))
		}()
	}
	for range n {
		<-done
	}
}

func (s *Server) evalWorker(ctx context.Context, owner string) {
	for ctx.Err() == nil {
		var org string
		var run store.EvalRun
		var ok bool
		err := s.store.Update(ctx, func(tx store.Tx) error {
			var err error
			org, run, ok, err = tx.ClaimEvalRun(ctx, owner, s.now().UTC().Truncate(time.Microsecond), evalLease)
			return err
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("claiming an eval run", "err", err)
		}
		if ok {
			s.execute(ctx, org, run, owner)
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.evalWake:
		case <-time.After(evalPoll):
		}
	}
}

// afterEvalRun is told when a worker finishes with a run, afterEvalFlush
// when it has stored a batch of results; tests replace them.
var (
	afterEvalRun   = func(org, id, status string) {}
	afterEvalFlush = func(id string, done int) {}
)

// execute runs a claimed run to its end, or until ctx ends or it is
// cancelled.
func (s *Server) execute(ctx context.Context, org string, run store.EvalRun, owner string) {
	status := store.EvalRunning
	defer func() { afterEvalRun(org, run.ID, status) }()
	// fail ends the run with a reason, if this worker still owns it.
	fail := func(reason string) {
		status = store.EvalFailed
		wctx := context.WithoutCancel(ctx)
		err := s.store.Update(wctx, func(tx store.Tx) error {
			cur, err := tx.LockEvalRun(wctx, org, run.ID)
			if err != nil || cur.Owner != owner || cur.Status != store.EvalRunning {
				return err
			}
			cur.Status, cur.Reason, cur.FinishedAt, cur.Owner = store.EvalFailed, reason, s.now().UTC().Truncate(time.Microsecond), ""
			if err := tx.UpdateEvalRun(wctx, org, cur); err != nil {
				return err
			}
			return s.emit(wctx, tx, org, evalEvent(cur))
		})
		if err != nil {
			s.log.Warn("marking an eval run failed", "run", run.ID, "err", err)
		}
	}
	// A panic while running or grading fails the run rather than the
	// server: it would otherwise crash again on every claim.
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("eval run panicked", "run", run.ID, "panic", p)
			fail(fmt.Sprintf("internal error: %v", p))
		}
	}()
	var suites []*eval.Suite
	err := s.store.View(ctx, func(tx store.Tx) error {
		find := s.lookupIn(ctx, tx, org)
		for _, id := range run.Suites {
			st, err := find(id)
			if err != nil {
				return fmt.Errorf("suite %q: %w", id, err)
			}
			suites = append(suites, st)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			fail(err.Error())
		}
		return
	}
	items := eval.Items(suites, run.Repeat)
	if len(items) != run.Total {
		fail(fmt.Sprintf("the suites now have %d cases where the run was made with %d; start a new run", len(items), run.Total))
		return
	}
	var agent probity.Agent
	var stored []store.EvalResult
	err = s.store.View(ctx, func(tx store.Tx) error {
		var err error
		if agent, err = tx.GetAgent(ctx, org, run.AgentID); err != nil {
			return err
		}
		stored, err = allGrades(ctx, tx, org, run.ID)
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			fail(fmt.Sprintf("reading the run: %v", err))
		}
		return
	}
	ep, err := endpointOf(agent)
	if err != nil {
		fail(err.Error())
		return
	}
	key := ""
	if ep.keyEnv != "" {
		if key = os.Getenv(ep.keyEnv); key == "" {
			fail(fmt.Sprintf("the environment variable %s that the agent's endpoint names for its API key is not set on the server", ep.keyEnv))
			return
		}
	}
	target, err := ep.target(key, s.evalClient)
	if err != nil {
		fail(err.Error())
		return
	}
	target = limited{target, s.slots(ep)}
	have := map[int]bool{}
	for _, r := range stored {
		have[r.Seq] = true
	}
	var todo []eval.Item
	var seqs []int
	for i, it := range items {
		if !have[i] {
			todo, seqs = append(todo, it), append(seqs, i)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan store.EvalResult, 2*evalFlushItems)
	flushed := make(chan error, 1)
	go func() { flushed <- s.flushResults(rctx, org, run, owner, results, cancel) }()
	_, runErr := eval.Run(rctx, target, todo, eval.RunOptions{Concurrency: evalConcurrency, Detector: s.checker.d, Jury: s.jury,
		Done: func(i int, r eval.Result) {
			grade, _ := json.Marshal(r.Grade)
			tr, _ := json.Marshal(struct {
				*eval.Transcript
				Error string `json:"error,omitempty"`
			}{r.Transcript, r.Error})
			if len(tr) > maxStoredTranscript {
				// An endpoint can answer megabytes: keep the start of the
				// output and say how much there was.
				out := ""
				if r.Transcript != nil {
					out = strings.ToValidUTF8(r.Transcript.Output[:min(len(r.Transcript.Output), maxStoredTranscript/4)], "")
				}
				tr, _ = json.Marshal(map[string]any{"truncated": true, "bytes": len(tr), "output": out, "error": r.Error})
			}
			mv := ""
			lat := 0.0
			if r.Transcript != nil {
				mv, lat = r.Transcript.ModelVersion, r.Transcript.LatencyMs
			}
			g := r.Grade
			res := store.EvalResult{RunID: run.ID, Seq: seqs[i], Suite: r.Suite, CaseID: r.CaseID, Repeat: r.Repeat, Status: g.Status,
				Grade: grade, Transcript: tr, LatencyMs: lat, ModelVersion: mv, CreatedAt: r.StartedAt.UTC().Truncate(time.Microsecond)}
			select {
			case results <- res:
			case <-rctx.Done():
			}
		}})
	close(results)
	ferr := <-flushed
	switch {
	case errors.Is(ferr, errRunCancelled), errors.Is(ferr, probity.ErrConflict):
		// Cancelled, or taken over by another worker (whose results
		// already hold some of these cases): stop without touching it.
		status = store.EvalCancelled
		return
	case ctx.Err() != nil:
		// The server is stopping: give the run back at once, so the next
		// start resumes it without waiting for the lease.
		s.release(org, run.ID, owner)
		return
	case ferr != nil:
		fail(fmt.Sprintf("storing results: %v", ferr))
		return
	case runErr != nil:
		fail(runErr.Error())
		return
	}
	s.markDirty(org, run.AgentID)
	if err := s.finish(ctx, org, run.ID, owner); err != nil {
		// Failing for good rather than being claimed again every minute.
		fail(fmt.Sprintf("completing the run: %v", err))
		return
	}
	status = store.EvalCompleted
}

var errRunCancelled = errors.New("run cancelled")

// slots returns the semaphore of an endpoint: at most evalConcurrency
// cases are in flight against one endpoint, however many runs (of this
// server) target it.
func (s *Server) slots(ep endpoint) chan struct{} {
	s.slotsMu.Lock()
	defer s.slotsMu.Unlock()
	if s.targetSlots == nil {
		s.targetSlots = map[endpoint]chan struct{}{}
	}
	c, ok := s.targetSlots[ep]
	if !ok {
		c = make(chan struct{}, evalConcurrency)
		s.targetSlots[ep] = c
	}
	return c
}

// limited runs a target's cases through its endpoint's semaphore.
type limited struct {
	eval.Target
	slots chan struct{}
}

func (l limited) Run(ctx context.Context, c *eval.Case) (*eval.Transcript, error) {
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", eval.ErrTarget, ctx.Err())
	}
	defer func() { <-l.slots }()
	return l.Target.Run(ctx, c)
}

// flushResults stores results in batches, each with its ledger leaves,
// renewing the lease; it cancels the run when it finds it cancelled or
// taken over.
func (s *Server) flushResults(ctx context.Context, org string, run store.EvalRun, owner string, in <-chan store.EvalResult, cancel func()) error {
	tick := time.NewTicker(evalFlush)
	defer tick.Stop()
	lastRenew := time.Now()
	var batch []store.EvalResult
	// Store calls use a context that outlives the run's: the batch that
	// ends a stopping run is stored, not thrown away.
	wctx := context.WithoutCancel(ctx)
	flush := func(force bool) error {
		if len(batch) == 0 && !force {
			return nil
		}
		err := s.store.Update(wctx, func(tx store.Tx) error {
			cur, err := tx.LockEvalRun(wctx, org, run.ID)
			if err != nil {
				return err
			}
			if cur.Status == store.EvalCancelled {
				return errRunCancelled
			}
			if cur.Owner != owner {
				return fmt.Errorf("%w: run %s was taken over by %s", errRunCancelled, run.ID, cur.Owner)
			}
			if len(batch) > 0 {
				if err := tx.LockLedger(wctx, org); err != nil {
					return err
				}
				leaves := make([][]byte, len(batch))
				for i := range batch {
					var g eval.CaseResult
					if err := json.Unmarshal(batch[i].Grade, &g); err != nil {
						return err
					}
					if leaves[i], err = evalResultLeaf(run.AgentID, batch[i], &g); err != nil {
						return err
					}
				}
				first, err := store.AppendLedger(wctx, tx, org, leaves)
				if err != nil {
					return err
				}
				for i := range batch {
					batch[i].LedgerIndex = first + int64(i)
				}
				if err := tx.InsertEvalResults(wctx, org, batch); err != nil {
					return err
				}
				cur.Done += len(batch)
			}
			cur.LeaseUntil = s.now().UTC().Truncate(time.Microsecond).Add(evalLease)
			return tx.UpdateEvalRun(wctx, org, cur)
		})
		if err != nil {
			cancel()
			return err
		}
		if len(batch) > 0 {
			afterEvalFlush(run.ID, len(batch))
		}
		batch, lastRenew = batch[:0], time.Now()
		return nil
	}
	for {
		select {
		case r, ok := <-in:
			if !ok {
				return flush(false)
			}
			batch = append(batch, r)
			if len(batch) >= evalFlushItems {
				if err := flush(false); err != nil {
					drain(in)
					return err
				}
			}
		case <-tick.C:
			if err := flush(time.Since(lastRenew) > evalRenew); err != nil {
				drain(in)
				return err
			}
		}
	}
}

func drain(in <-chan store.EvalResult) {
	for range in {
	}
}

// finish marks a run completed with its summary.
func (s *Server) finish(ctx context.Context, org, id, owner string) error {
	wctx := context.WithoutCancel(ctx)
	err := s.store.Update(wctx, func(tx store.Tx) error {
		cur, err := tx.LockEvalRun(wctx, org, id)
		if err != nil || cur.Owner != owner || cur.Status != store.EvalRunning {
			return err
		}
		rs, err := allGrades(wctx, tx, org, id)
		if err != nil {
			return err
		}
		if cur.Summary, err = s.summarize(rs, s.lookupIn(wctx, tx, org)); err != nil {
			return err
		}
		cur.Status, cur.FinishedAt, cur.Owner, cur.Done = store.EvalCompleted, s.now().UTC().Truncate(time.Microsecond), "", len(rs)
		if err := tx.UpdateEvalRun(wctx, org, cur); err != nil {
			return err
		}
		return s.emit(wctx, tx, org, evalEvent(cur))
	})
	if err != nil {
		s.log.Warn("completing an eval run", "run", id, "err", err)
	}
	return err
}

// release gives a run back for the next claim.
func (s *Server) release(org, id, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.LockEvalRun(ctx, org, id)
		if err != nil || cur.Owner != owner || cur.Status != store.EvalRunning {
			return err
		}
		cur.Owner, cur.LeaseUntil = "", time.UnixMicro(0).UTC()
		return tx.UpdateEvalRun(ctx, org, cur)
	})
	if err != nil {
		s.log.Warn("releasing an eval run", "run", id, "err", err)
	}
}
