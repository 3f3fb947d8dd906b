package pact

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/interpreter"

	"github.com/probity-dev/probity/internal/record"
)

// Violation kinds.
const (
	KindScopeTool         = "scope_tool"
	KindScopeWhen         = "scope_when"
	KindDataClass         = "data_class"
	KindEgress            = "egress"
	KindForbiddenSequence = "forbidden_sequence"
	KindOutput            = "output"
	KindEvaluationError   = "evaluation_error"
	KindCommitment        = "commitment"
	// KindInjectionInfluenced is a tool call carrying a token traced from a
	// tool result the injection detector flagged; the server finds these,
	// across records, not Check.
	KindInjectionInfluenced = "injection_influenced"
)

// Violation is a record (or, for a forbidden sequence, the records of every
// step) that breaks a clause.
type Violation struct {
	Clause      string   `json:"clause"`
	Kind        string   `json:"kind"`
	Severity    string   `json:"severity"`
	RecordIDs   []string `json:"recordIds"`
	Explanation string   `json:"explanation"`
	// Confirmed marks an injection-influenced call that also broke the pact.
	Confirmed bool `json:"confirmed,omitempty"`
}

// Detector reports which of kinds it finds in text. internal/detect provides
// the real one; Check calls it only for model outputs and only with kinds an
// outputs clause names.
type Detector func(text string, kinds []string) []string

// MaxSessionTools bounds the distinct tool names a Session tracks for
// session.tools and session.counts; calls of further tools still count in
// session.count.
const MaxSessionTools = 256

// Session is what Check needs to remember about one agent session: the
// number of tool calls so far, the distinct tools seen and their counts, and,
// for each forbidden sequence, the ids of the records that matched its
// leading steps (the earliest match of each step, in order). Its size is
// bounded by MaxSessionTools names plus, per forbid clause, at most
// len(sequence)-1 record ids, however long the session runs.
//
// A Session is not safe for concurrent use. It belongs to the pact that
// made it. Replaying a session's records through Observe, in order, rebuilds
// exactly the state Check left.
type Session struct {
	pact     *Pact
	count    int
	tools    []string
	counts   map[string]int
	progress [][]string // per forbid clause: ids of the records matching steps 0..len-1

	view map[string]any // the CEL session variable, kept current by advance
}

// celView returns the session variable conditions see. It is built once and
// updated in place, so reading it costs no allocation per record.
func (s *Session) celView() map[string]any {
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	if s.view == nil {
		s.view = map[string]any{"count": s.count, "tools": s.tools, "counts": s.counts}
	}
	return s.view
}

// NewSession returns the empty state of a session checked against p.
func (p *Pact) NewSession() *Session {
	return &Session{pact: p, counts: map[string]int{}, progress: make([][]string, len(p.Forbid))}
}

// Clone returns an independent copy of s, for a caller that may need to
// roll back (a failed ingest transaction).
func (s *Session) Clone() *Session {
	c := &Session{pact: s.pact, count: s.count, tools: slices.Clone(s.tools), counts: maps.Clone(s.counts)}
	c.progress = make([][]string, len(s.progress))
	for i, ids := range s.progress {
		c.progress[i] = slices.Clone(ids)
	}
	return c
}

// Equal reports whether s and o hold the same state.
func (s *Session) Equal(o *Session) bool {
	if s.pact != o.pact || s.count != o.count || !slices.Equal(s.tools, o.tools) || !maps.Equal(s.counts, o.counts) || len(s.progress) != len(o.progress) {
		return false
	}
	for i := range s.progress {
		if !slices.Equal(s.progress[i], o.progress[i]) {
			return false
		}
	}
	return true
}

// Clause is one clause of a pact, for callers that list every clause (a
// verify endpoint reporting passed and failed clauses).
type Clause struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"` // scope, forbid, output or commitment
	Severity string `json:"severity"`
}

// Clauses lists the pact's clauses in document order: the generated scope
// clauses for the lists the scope has, each tool entry with a condition,
// then forbid, outputs and commitments.
func (p *Pact) Clauses() []Clause {
	var out []Clause
	if s := p.Scope; s != nil {
		if s.Tools != nil {
			out = append(out, Clause{ClauseScopeTools, "scope", s.Severity})
			for _, t := range s.Tools {
				if t.cond != nil {
					out = append(out, Clause{t.clause, "scope", t.severity})
				}
			}
		}
		if s.DataClasses != nil {
			out = append(out, Clause{ClauseDataClasses, "scope", s.Severity})
		}
		if s.EgressDomains != nil {
			out = append(out, Clause{ClauseEgressDomains, "scope", s.Severity})
		}
	}
	for _, f := range p.Forbid {
		out = append(out, Clause{f.ID, "forbid", f.Severity})
	}
	for _, o := range p.Outputs {
		out = append(out, Clause{o.ID, "output", o.Severity})
	}
	for _, c := range p.Commitments {
		out = append(out, Clause{c.ID, "commitment", c.Severity})
	}
	return out
}

// Size estimates the bytes s holds, for a cache bounded in memory.
func (s *Session) Size() int {
	n := 128 + 64*len(s.counts)
	for _, t := range s.tools {
		n += len(t) + 16
	}
	for _, ids := range s.progress {
		n += 24
		for _, id := range ids {
			n += len(id) + 16
		}
	}
	return n
}

// Count returns the number of tool calls the session has made.
func (s *Session) Count() int { return s.count }

// Observe advances s past rec without reporting anything. It is what Check
// does to the session, so a server rebuilds state after a restart by
// observing a session's stored records in order.
func (s *Session) Observe(rec *record.Record) {
	if rec.Type != record.ToolCall || rec.Tool == nil {
		return
	}
	if s.pact != nil {
		v := newVars(rec, s)
		v.reporting = false
		s.pact.sequences(rec, s, v, nil)
	}
	s.advance(rec.Tool.Name)
}

// rebind attaches s to p. A session started under another version of the
// pact (or a zero Session) keeps its counts and restarts its sequences.
func (s *Session) rebind(p *Pact) {
	s.pact, s.progress = p, make([][]string, len(p.Forbid))
}

func (s *Session) advance(tool string) {
	if s.counts == nil {
		s.counts = map[string]int{}
	}
	s.count++
	if _, ok := s.counts[tool]; ok || len(s.tools) < MaxSessionTools {
		if !ok {
			s.tools = append(s.tools, tool)
		}
		s.counts[tool]++
	}
	if s.view != nil {
		s.view["count"], s.view["tools"], s.view["counts"] = s.count, s.tools, s.counts
	}
}

// Check evaluates rec against p and returns the clauses it breaks. sess is
// the state of rec's session before rec, or nil for a record outside any
// session (then forbidden sequences are not checked and the session
// variables are empty); Check advances it past rec. detect checks model
// outputs; when nil, outputs clauses are not checked. Check never panics on
// bad input and every CEL evaluation is cost-limited: an error or overrun is
// an evaluation_error violation.
func (p *Pact) Check(rec *record.Record, sess *Session, detect Detector) []Violation {
	if sess != nil && sess.pact != p {
		sess.rebind(p)
	}
	var out []Violation
	switch rec.Type {
	case record.ToolCall:
		if rec.Tool == nil {
			return nil
		}
		v := newVars(rec, sess)
		out = p.checkTool(rec, v, out)
		out = p.checkEgress(rec, v, out)
		if sess != nil {
			out = p.sequences(rec, sess, v, out)
			sess.advance(rec.Tool.Name)
		}
	case record.DataAccess:
		out = p.checkData(rec, out)
	case record.ModelOutput:
		if detect != nil {
			for _, o := range p.Outputs {
				found := detect(rec.Content, o.Detect)
				for i, k := range found {
					if !slices.Contains(o.Detect, k) || slices.Contains(found[:i], k) {
						continue // not asked for, or reported already
					}
					out = append(out, Violation{Clause: o.ID, Kind: KindOutput, Severity: o.Severity, RecordIDs: []string{rec.ID},
						Explanation: fmt.Sprintf("model output contains %s content, which clause %s forbids", k, o.ID)})
				}
			}
		}
	}
	return out
}

func (p *Pact) checkTool(rec *record.Record, v *vars, out []Violation) []Violation {
	s := p.Scope
	if s == nil || s.Tools == nil {
		return out
	}
	name := rec.Tool.Name
	idx, ok := p.toolIndex[name]
	if !ok {
		return append(out, Violation{Clause: ClauseScopeTools, Kind: KindScopeTool, Severity: s.Severity, RecordIDs: []string{rec.ID},
			Explanation: fmt.Sprintf("tool %q is not in the pact's scope", name)})
	}
	for _, i := range idx {
		t := &s.Tools[i]
		if t.cond == nil {
			continue
		}
		ok, err := eval(t.cond, v)
		switch {
		case err != nil:
			out = append(out, evalError(t.clause, t.severity, rec.ID, t.When, err))
		case !ok:
			out = append(out, Violation{Clause: t.clause, Kind: KindScopeWhen, Severity: t.severity, RecordIDs: []string{rec.ID},
				Explanation: fmt.Sprintf("call of %q does not satisfy %s", name, t.When)})
		}
	}
	return out
}

func evalError(clause, severity, id, expr string, err error) Violation {
	return Violation{Clause: clause, Kind: KindEvaluationError, Severity: severity, RecordIDs: []string{id},
		Explanation: fmt.Sprintf("evaluating %s: %v", expr, err)}
}

func (p *Pact) checkData(rec *record.Record, out []Violation) []Violation {
	s := p.Scope
	if s == nil || s.DataClasses == nil || rec.Data == nil || rec.Data.Class == "" {
		return out
	}
	if slices.Contains(s.DataClasses, rec.Data.Class) {
		return out
	}
	return append(out, Violation{Clause: ClauseDataClasses, Kind: KindDataClass, Severity: s.Severity, RecordIDs: []string{rec.ID},
		Explanation: fmt.Sprintf("data class %q is outside the allowed classes %v", rec.Data.Class, s.DataClasses)})
}

func (p *Pact) checkEgress(rec *record.Record, v *vars, out []Violation) []Violation {
	s := p.Scope
	if s == nil || s.EgressDomains == nil {
		return out
	}
	for _, h := range v.destinations() {
		if !s.allowedHost(h.host) {
			out = append(out, Violation{Clause: ClauseEgressDomains, Kind: KindEgress, Severity: s.Severity, RecordIDs: []string{rec.ID},
				Explanation: fmt.Sprintf("call of %q reaches %s (%s at %s), outside the allowed domains", rec.Tool.Name, h.host, h.from, h.path)})
		}
	}
	return out
}

// sequences advances every forbidden sequence past rec (a tool call) and,
// when out is being collected, reports the ones rec completes. A completed
// sequence stays armed: each later call matching its last step breaks it
// again.
func (p *Pact) sequences(rec *record.Record, sess *Session, v *vars, out []Violation) []Violation {
	report := v.reporting
	for i := range p.Forbid {
		f := &p.Forbid[i]
		got := sess.progress[i]
		last := len(f.Sequence) - 1
		next := &f.Sequence[len(got)]
		if next.Tool != rec.Tool.Name {
			continue
		}
		match := true
		if next.cond != nil {
			ok, err := eval(next.cond, v)
			if err != nil {
				if report {
					out = append(out, evalError(f.ID, f.Severity, rec.ID, next.When, err))
				}
				continue
			}
			match = ok
		}
		if !match {
			continue
		}
		if len(got) < last {
			sess.progress[i] = append(got, rec.ID)
			continue
		}
		if report {
			ids := append(slices.Clone(got), rec.ID)
			steps := make([]string, len(f.Sequence))
			for j, s := range f.Sequence {
				steps[j] = s.Tool
			}
			what := f.Description
			if what == "" {
				what = "forbidden sequence " + strings.Join(steps, " → ")
			}
			out = append(out, Violation{Clause: f.ID, Kind: KindForbiddenSequence, Severity: f.Severity, RecordIDs: ids,
				Explanation: fmt.Sprintf("%s: records %s", what, strings.Join(ids, ", "))})
		}
	}
	return out
}

// vars is the CEL activation for one record. Each variable is built on
// first use, so a pact whose conditions read only args never builds event.
type vars struct {
	rec       *record.Record
	sess      *Session
	reporting bool

	parsed      bool
	argsRaw     any
	argsErr     error // args exceed the input bounds
	eventErr    error
	boundsArg   bool // argsErr computed
	boundsEvent bool
	args        map[string]any
	event       map[string]any
	agent       map[string]any
	session     map[string]any
}

func newVars(rec *record.Record, sess *Session) *vars {
	return &vars{rec: rec, sess: sess, reporting: true}
}

var _ interpreter.Activation = (*vars)(nil)

// Parent implements interpreter.Activation.
func (v *vars) Parent() interpreter.Activation { return nil }

// ResolveName implements interpreter.Activation.
func (v *vars) ResolveName(name string) (any, bool) {
	switch name {
	case "args":
		v.parse()
		return v.args, true
	case "event":
		if v.event == nil {
			v.event = eventMap(v.rec)
		}
		return v.event, true
	case "agent":
		if v.agent == nil {
			v.agent = map[string]any{"id": v.rec.AgentID}
		}
		return v.agent, true
	case "session":
		if v.sess == nil {
			return map[string]any{"count": 0, "tools": []string{}, "counts": map[string]int{}}, true
		}
		return v.sess.celView(), true
	}
	return nil, false
}

// bounds reports whether the variables a condition uses fit the input
// bounds its cost estimate assumed.
func (v *vars) bounds(uses int) error {
	if uses&usesArgs != 0 {
		v.parse()
		if !v.boundsArg {
			v.boundsArg = true
			v.argsErr = checkBounds(v.argsRaw, "args")
		}
		if v.argsErr != nil {
			return v.argsErr
		}
	}
	if uses&usesEvent != 0 {
		if v.event == nil {
			v.event = eventMap(v.rec)
		}
		if !v.boundsEvent {
			v.boundsEvent = true
			v.eventErr = checkBounds(v.event, "event")
		}
		return v.eventErr
	}
	return nil
}

// parse decodes the tool arguments once. args is the arguments object, or
// empty when they are not one (a string, or invalid JSON).
func (v *vars) parse() {
	if v.parsed {
		return
	}
	v.parsed = true
	if t := v.rec.Tool; t != nil && len(t.Arguments) > 0 {
		var err error
		if v.argsRaw, err = parseJSON(t.Arguments); err != nil {
			v.argsRaw = nil
		}
	}
	if m, ok := v.argsRaw.(map[string]any); ok {
		v.args = m
	} else {
		v.args = map[string]any{}
	}
}

func eventMap(r *record.Record) map[string]any {
	m := map[string]any{"id": r.ID, "type": r.Type, "content": r.Content, "sessionId": r.SessionID, "outcome": r.Outcome}
	if r.Tool != nil {
		m["tool"] = r.Tool.Name
	}
	if r.Data != nil {
		m["dataClass"], m["resource"] = r.Data.Class, r.Data.Resource
	}
	if r.LatencyMs != nil {
		m["latencyMs"] = *r.LatencyMs
	}
	if r.Model != nil {
		m["modelVersion"] = r.Model.Version
	}
	if len(r.Attributes) > 0 {
		attrs := make(map[string]any, len(r.Attributes))
		for k, raw := range r.Attributes {
			var x any
			if json.Unmarshal(raw, &x) == nil {
				attrs[k] = x
			}
		}
		m["attributes"] = attrs
	}
	return m
}
