package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/store"
)

// Limits of one verify request.
const (
	maxVerifyBytes     = 1 << 20
	maxVerifyToolCalls = 1000
)

// verifyRequest is one interaction to check: the user's input, the tool
// calls the agent made (each with its result, when it has one) and its
// output, in that order.
type verifyRequest struct {
	AgentID   string           `json:"agentId"`
	Input     string           `json:"input"`
	Output    string           `json:"output"`
	ToolCalls []verifyToolCall `json:"toolCalls"`
	LatencyMs *float64         `json:"latencyMs"`
}

type verifyToolCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Result    json.RawMessage `json:"result"`
}

// verifyResult is one clause's verdict.
type verifyResult struct {
	Clause   string `json:"clause"`
	Passed   bool   `json:"passed"`
	Severity string `json:"severity"`
	Kind     string `json:"kind,omitempty"` // the violation's kind, when it failed
	Detail   string `json:"detail"`
}

type verifyAnswer struct {
	Compliant bool           `json:"compliant"`
	PactID    string         `json:"pactId"`
	Version   int            `json:"version"`
	Digest    string         `json:"digest"`
	Results   []verifyResult `json:"results"`
}

// verifyPact checks one interaction against the latest version of a pact,
// as ingest would check it in a fresh session, and stores nothing.
func (s *Server) verifyPact(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req verifyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if !probity.ValidID(req.AgentID) {
		return probity.Invalid("agentId", "%s", probity.IDRule)
	}
	if len(req.ToolCalls) > maxVerifyToolCalls {
		return probity.Invalid("toolCalls", "at most %d tool calls", maxVerifyToolCalls)
	}
	recs, err := verifyRecords(&req, s.now())
	if err != nil {
		return err
	}
	var v store.PactVersion
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if v, err = tx.LatestPactVersion(r.Context(), c.org, id); err != nil {
			return err
		}
		// The binding is checked before compiling: a caller cannot make the
		// server compile a pact that does not concern the agent.
		bound, err := tx.PactOfAgent(r.Context(), c.org, req.AgentID)
		if errors.Is(err, probity.ErrNotFound) || (err == nil && bound != id) {
			return probity.Invalid("agentId", "agent %q is not bound by pact %s", req.AgentID, id)
		}
		return err
	})
	if err != nil {
		return err
	}
	p, err := s.checker.compiled(v)
	if err != nil {
		return err
	}
	if !slices.Contains(p.Agents, req.AgentID) {
		return probity.Invalid("agentId", "agent %q is not bound by pact %s (its agents are %v)", req.AgentID, id, p.Agents)
	}
	sess := p.NewSession()
	var found []pact.Violation
	for _, rec := range recs {
		found = append(found, p.Check(rec, sess, s.checker.detect)...)
	}
	writeJSON(w, http.StatusOK, verdict(p, v, found))
	return nil
}

// verifyRecords builds the interaction's records, in order — user_input,
// then a tool_call (and a tool_result, when it has one) per tool call, then
// model_output carrying latencyMs — and validates them as ingest would,
// naming the request's fields in errors.
func verifyRecords(req *verifyRequest, now time.Time) ([]*record.Record, error) {
	var recs []*record.Record
	var fields []string // the request field each record comes from
	add := func(field string, rec *record.Record) {
		rec.ID, rec.AgentID, rec.SessionID, rec.Time = field, req.AgentID, "verify", now
		recs, fields = append(recs, rec), append(fields, field)
	}
	if req.Input != "" {
		add("input", &record.Record{Type: record.UserInput, Content: req.Input})
	}
	for i, tc := range req.ToolCalls {
		f := fmt.Sprintf("toolCalls[%d]", i)
		add(f, &record.Record{Type: record.ToolCall, Tool: &record.Tool{Name: tc.Name, Arguments: tc.Arguments}})
		if len(tc.Result) > 0 && string(tc.Result) != "null" {
			add(f+".result", &record.Record{Type: record.ToolResult, Tool: &record.Tool{Name: tc.Name, Result: tc.Result}})
		}
	}
	if req.Output != "" || req.LatencyMs != nil {
		add("output", &record.Record{Type: record.ModelOutput, Content: req.Output, LatencyMs: req.LatencyMs})
	}
	for i, rec := range recs {
		for _, fe := range rec.Validate(now) {
			return nil, probity.Invalid(requestField(fields[i], fe.Field), "%s", fe.Message)
		}
	}
	return recs, nil
}

// requestField maps a record field of the record built from field back to
// the request's field.
func requestField(field, recField string) string {
	switch {
	case recField == "content":
		return field
	case recField == "latencyMs":
		return "latencyMs"
	case strings.HasPrefix(recField, "tool."):
		return strings.TrimSuffix(field, ".result") + "." + strings.TrimPrefix(recField, "tool.")
	case recField == "agentId":
		return "agentId"
	}
	return field
}

// verdict turns the violations found into one result per clause of p, in
// the pact's order; several violations of one clause are joined.
func verdict(p *pact.Pact, v store.PactVersion, found []pact.Violation) verifyAnswer {
	ans := verifyAnswer{Compliant: len(found) == 0, PactID: v.PactID, Version: v.Version, Digest: v.Digest, Results: []verifyResult{}}
	index := map[string]int{}
	for _, cl := range p.Clauses() {
		detail := "passed"
		if cl.Kind == "commitment" {
			detail = "not checked per interaction: a commitment is judged over its time window (see GET /v1/violations)"
		}
		index[cl.ID] = len(ans.Results)
		ans.Results = append(ans.Results, verifyResult{Clause: cl.ID, Passed: true, Severity: cl.Severity, Detail: detail})
	}
	for _, f := range found {
		i, ok := index[f.Clause]
		if !ok { // a clause Clauses does not list: report it all the same
			i = len(ans.Results)
			index[f.Clause] = i
			ans.Results = append(ans.Results, verifyResult{Clause: f.Clause, Passed: true, Severity: f.Severity})
		}
		res := &ans.Results[i]
		if res.Passed {
			res.Passed, res.Kind, res.Severity, res.Detail = false, f.Kind, f.Severity, f.Explanation
		} else {
			res.Detail += "; " + f.Explanation
		}
	}
	return ans
}
