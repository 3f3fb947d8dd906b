package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/incident"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/report"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
)

// The board report (internal/report, docs/report.md) is built from what the
// store holds: every agent's score computed as of the end of the period
// (the same inputs as GET /v1/agents/{id}/score), its eval cases, records,
// violations and model updates over the period, the audit log, and the
// ledger's checkpoint.

// Bounds of a report's period.
const (
	reportDefaultDays = 30
	// reportMaxDays keeps a period within the evidence a score reads
	// (scoreWindow), so that every figure covers the whole period.
	reportMaxDays = 90
)

// reportFormats are the formats GET /v1/reports/board renders, with their
// media types.
var reportFormats = map[string]string{
	"json": "application/json",
	"md":   "text/markdown; charset=utf-8",
	"html": "text/html; charset=utf-8",
}

// reportParams are the query parameters the report takes.
var reportParams = []string{"format", "days", "from", "to"}

// boardReport renders the board report of the caller's org for a period:
// the last 30 days by default, the last ?days=N, or ?from= and ?to=.
func (s *Server) boardReport(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(reportParams, name) {
			return probity.Invalid(name, "is not a parameter of the board report (it takes format, days, from and to)")
		}
		if len(q[name]) > 1 {
			return probity.Invalid(name, "is given more than once")
		}
	}
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if _, ok := reportFormats[format]; !ok {
		return probity.Invalid("format", "must be md, html or json")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	from, to, err := reportPeriod(q.Get("days"), q.Get("from"), q.Get("to"), now)
	if err != nil {
		return err
	}
	facts, err := s.reportFacts(r.Context(), c.org, from, to, now)
	if err != nil {
		return err
	}
	rep := report.Build(facts)
	var b bytes.Buffer
	switch format {
	case "json":
		err = report.JSON(&b, rep)
	case "md":
		err = report.Markdown(&b, rep)
	case "html":
		err = report.HTML(&b, rep)
		w.Header().Set("Content-Security-Policy", report.CSP)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", reportFormats[format])
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(b.Bytes())
	return nil
}

// reportPeriod reads the period: days (1 to 90) back from to, or from and
// to (RFC 3339); to defaults to now and may not be after it.
func reportPeriod(days, fromText, toText string, now time.Time) (from, to time.Time, err error) {
	to = now
	if toText != "" {
		if to, err = time.Parse(time.RFC3339Nano, toText); err != nil {
			return from, to, probity.Invalid("to", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		if to = to.UTC(); to.After(now) {
			return from, to, probity.Invalid("to", "must not be after the server's time, %s", now.Format(time.RFC3339))
		}
	}
	switch {
	case days != "" && fromText != "":
		return from, to, probity.Invalid("days", "give days or from, not both")
	case fromText != "":
		if from, err = time.Parse(time.RFC3339Nano, fromText); err != nil {
			return from, to, probity.Invalid("from", "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		from = from.UTC()
		if !from.Before(to) {
			return from, to, probity.Invalid("from", "must be before to")
		}
		if to.Sub(from) > reportMaxDays*24*time.Hour {
			return from, to, probity.Invalid("from", "the period is at most %d days", reportMaxDays)
		}
	default:
		n := reportDefaultDays
		if days != "" {
			if n, err = strconv.Atoi(days); err != nil || n < 1 || n > reportMaxDays {
				return from, to, probity.Invalid("days", "must be a whole number of days from 1 to %d", reportMaxDays)
			}
		}
		from = to.Add(-time.Duration(n) * 24 * time.Hour)
	}
	return from, to, nil
}

// reportFacts gathers the facts of org's report for [from, to). The
// checkpoint is signed first (which may write), then everything else is
// read in one snapshot.
func (s *Server) reportFacts(ctx context.Context, org string, from, to, now time.Time) (report.Facts, error) {
	f := report.Facts{Org: org, GeneratedAt: now, From: from, To: to, Thresholds: report.DefaultThresholds(s.scoreConfig)}
	f.Thresholds.Reliance = defaultMinScore
	note, cp, err := s.Checkpoint(ctx, org)
	if err != nil {
		return f, err
	}
	f.Ledger = report.LedgerFacts{Origin: cp.Origin, Size: cp.Size, RootHash: base64.StdEncoding.EncodeToString(cp.Hash[:]), Checkpoint: string(note)}
	err = s.store.View(ctx, func(tx store.Tx) error {
		byID := map[string]int{}
		for p := (store.Page{Limit: maxPage}); ; {
			agents, err := tx.ListAgents(ctx, org, p)
			if err != nil {
				return err
			}
			for _, a := range agents {
				if !a.CreatedAt.Before(to) {
					continue // registered after the period
				}
				af, err := s.agentFacts(ctx, tx, org, a, from, to)
				if err != nil {
					return err
				}
				byID[a.ID] = len(f.Agents)
				f.Agents = append(f.Agents, af)
			}
			if len(agents) < p.Limit {
				break
			}
			p.After = agents[len(agents)-1].ID
		}
		if err := periodViolations(ctx, tx, org, from, to, func(v store.Violation) {
			if i, ok := byID[v.AgentID]; ok {
				countViolation(&f.Agents[i].Violations, v)
			}
		}); err != nil {
			return err
		}
		if f.Oversight, err = s.oversightFacts(ctx, tx, org, from, to); err != nil {
			return err
		}
		f.Incidents, err = s.incidentFacts(ctx, tx, org, from, to)
		return err
	})
	return f, err
}

// agentFacts computes agent a's score as of to and gathers what it did
// in [from, to).
func (s *Server) agentFacts(ctx context.Context, tx store.Tx, org string, a probity.Agent, from, to time.Time) (report.AgentFacts, error) {
	af := report.AgentFacts{Agent: a}
	in, err := s.scoreInputs(ctx, tx, org, a, to)
	if err != nil {
		return af, err
	}
	af.Score = score.Compute(in, s.scoreConfig, to)

	// Graded cases of the period, from the score's own observations: one
	// per dimension a case names, so a case is counted once by its ref.
	af.Evals.OWASP = map[string]report.CaseCount{}
	type seen struct{ ref, id string }
	counted := map[seen]bool{}
	for _, o := range in.Evidence {
		if o.Source != score.SourceEval || o.Time.Before(from) || !o.Time.Before(to) {
			continue
		}
		if !counted[seen{o.Ref, ""}] {
			counted[seen{o.Ref, ""}] = true
			af.Evals.Cases++
			if !o.Passed {
				af.Evals.CasesFailed++
			}
		}
		if o.Kind == score.KindInjectionCase && !counted[seen{o.Ref, score.KindInjectionCase}] {
			counted[seen{o.Ref, score.KindInjectionCase}] = true
			af.Evals.InjectionCases++
			if !o.Passed {
				af.Evals.InjectionSucceeded++
			}
		}
		for _, id := range o.OWASP {
			if !counted[seen{o.Ref, id}] {
				counted[seen{o.Ref, id}] = true
				cc := af.Evals.OWASP[id]
				cc.Cases++
				if !o.Passed {
					cc.Failed++
				}
				af.Evals.OWASP[id] = cc
			}
		}
	}

	// Runs of the period, newest first, and the completed ones that may
	// assess a model update.
	var done []store.EvalRun
	for p := (store.EvalRunFilter{Page: store.Page{Limit: 100}, AgentID: a.ID}); ; {
		runs, err := tx.ListEvalRuns(ctx, org, p)
		if err != nil {
			return af, err
		}
		older := false
		for _, run := range runs {
			if run.CreatedAt.Before(from) {
				older = true
				break
			}
			if !run.CreatedAt.Before(to) {
				continue
			}
			af.Evals.Runs++
			switch run.Status {
			case store.EvalCompleted:
				af.Evals.Completed++
				if !run.FinishedAt.After(to) {
					done = append(done, run)
				}
			case store.EvalFailed:
				af.Evals.Failed++
			}
		}
		if older || len(runs) < p.Limit {
			break
		}
		p.After = runs[len(runs)-1].ID
	}

	// Records of the period's days (the store counts them by UTC day).
	days, err := tx.RecordDays(ctx, org, a.ID, from, to)
	if err != nil {
		return af, err
	}
	for _, d := range days {
		af.Records += int(d.Count)
	}

	hist, err := tx.ModelHistory(ctx, org, a.ID)
	if err != nil {
		return af, err
	}
	for i := 1; i < len(hist); i++ {
		ch := hist[i]
		if ch.Since.Before(from) || !ch.Since.Before(to) {
			continue
		}
		u := report.ModelUpdate{At: ch.Since, From: hist[i-1].Model, To: ch.Model}
		u.Assessed, u.AssessedAt = s.baselineAfter(done, ch.Model.Version, ch.Since)
		af.ModelUpdates = append(af.ModelUpdates, u)
	}
	af.OpenIncidents = af.Score.SecurityPosture.OpenIncidents
	return af, nil
}

// baselineAfter says whether completed runs on model version, made at or
// after since, cover every baseline suite, and when the last of them
// finished.
func (s *Server) baselineAfter(runs []store.EvalRun, version string, since time.Time) (bool, time.Time) {
	covered := map[string]bool{}
	var last time.Time
	for _, run := range runs {
		if run.ModelVersion != version || run.CreatedAt.Before(since) {
			continue
		}
		for _, id := range run.Suites {
			covered[id] = true
		}
		if run.FinishedAt.After(last) {
			last = run.FinishedAt
		}
	}
	for _, id := range s.scoreConfig.BaselineSuites {
		if !covered[id] {
			return false, time.Time{}
		}
	}
	return true, last
}

// periodViolations calls fn for every violation of the org in [from, to).
func periodViolations(ctx context.Context, tx store.Tx, org string, from, to time.Time, fn func(store.Violation)) error {
	for p := (store.ViolationFilter{Page: store.Page{Limit: 5000}, From: from, To: to}); ; {
		vs, err := tx.ListViolations(ctx, org, p)
		if err != nil {
			return err
		}
		for _, v := range vs {
			fn(v)
		}
		if len(vs) < p.Limit {
			return nil
		}
		p.After = strconv.FormatInt(vs[len(vs)-1].LedgerIndex, 10)
	}
}

func countViolation(vf *report.ViolationFacts, v store.Violation) {
	if vf.BySeverity == nil {
		vf.BySeverity, vf.OWASP = map[string]int{}, map[string]int{}
	}
	vf.Total++
	vf.BySeverity[v.Severity]++
	if v.Confirmed {
		vf.Confirmed++
	}
	for _, id := range violationOWASP(v) {
		vf.OWASP[id]++
	}
}

// violationOWASP is the OWASP ids the clause a violation broke monitors
// (score.OWASPForClause); an injection-influenced call is prompt injection.
func violationOWASP(v store.Violation) []string {
	switch v.Kind {
	case pact.KindScopeTool, pact.KindScopeWhen, pact.KindDataClass, pact.KindEgress:
		return score.OWASPForClause("scope", "")
	case pact.KindForbiddenSequence:
		return score.OWASPForClause("forbid", "")
	case pact.KindOutput:
		return score.OWASPForClause("output", violationDetail(v))
	case pact.KindCommitment:
		return score.OWASPForClause("commitment", violationDetail(v))
	case pact.KindInjectionInfluenced:
		return []string{"LLM01"}
	}
	return nil
}

// oversightFacts reads suspensions and reactivations of the period from
// the audit log, the pacts stored and the active attestation key.
func (s *Server) oversightFacts(ctx context.Context, tx store.Tx, org string, from, to time.Time) (report.OversightFacts, error) {
	var o report.OversightFacts
	for _, act := range []struct {
		action string
		into   *[]report.Action
		field  string
	}{{"agent.suspend", &o.Suspensions, "reason"}, {"agent.reactivate", &o.Reactivations, "rootCause"}} {
		*act.into = []report.Action{}
		for p := (store.AuditFilter{Page: store.Page{Limit: 1000}, Action: act.action}); ; {
			es, err := tx.ListAudit(ctx, org, p)
			if err != nil {
				return o, err
			}
			for _, e := range es {
				if e.Time.Before(from) || !e.Time.Before(to) {
					continue
				}
				var change map[string]any
				_ = json.Unmarshal(e.Change, &change) // an entry without a readable change still counts
				reason, _ := change[act.field].(string)
				id, _ := strings.CutPrefix(e.Target, "agent:")
				*act.into = append(*act.into, report.Action{Time: e.Time, Actor: e.Actor, AgentID: id, Reason: reason})
			}
			if len(es) < p.Limit {
				break
			}
			p.After = strconv.FormatInt(es[len(es)-1].Seq, 10)
		}
	}
	for p := (store.Page{Limit: 1000}); ; {
		ps, err := tx.ListPacts(ctx, org, p)
		if err != nil {
			return o, err
		}
		o.Pacts += len(ps)
		if len(ps) < p.Limit {
			break
		}
		p.After = ps[len(ps)-1].PactID
	}
	keys, err := tx.ListAttestationKeys(ctx, org)
	if err != nil && !errors.Is(err, probity.ErrNotFound) {
		return o, err
	}
	for _, k := range keys {
		if k.Status == "active" {
			o.AttestationKeyID, o.AttestationKeySince = k.KeyID, k.CreatedAt
		}
	}
	return o, nil
}

// maxReportIncidents bounds the incidents a report reads.
const maxReportIncidents = 10000

// incidentFacts returns the org's incident rules and every incident open at
// some time in [from, to): those updated since from (opened, acknowledged,
// given evidence or resolved) and those still active.
func (s *Server) incidentFacts(ctx context.Context, tx store.Tx, org string, from, to time.Time) (*report.IncidentFacts, error) {
	cfg, err := s.rulesOf(ctx, tx, org)
	if err != nil {
		return nil, err
	}
	f := &report.IncidentFacts{Rules: []report.Rule{}, Incidents: []report.Incident{}}
	for _, id := range incident.RuleIDs() {
		f.Rules = append(f.Rules, report.Rule{ID: id, Severity: cfg.Severity(id), Enabled: cfg.Enabled(id)})
	}
	seen := map[string]bool{}
	for _, filter := range []store.IncidentFilter{{Since: from}, {Status: store.IncidentActive}} {
		filter.Limit = 1000
		for len(seen) < maxReportIncidents {
			rows, err := tx.ListIncidents(ctx, org, filter)
			if err != nil {
				return nil, err
			}
			for _, row := range rows {
				if seen[row.ID] || !row.OpenedAt.Before(to) {
					continue
				}
				seen[row.ID] = true
				var in incident.Incident
				if err := json.Unmarshal(row.Body, &in); err != nil {
					return nil, fmt.Errorf("%w: incident %s: %v", store.ErrLedgerDamaged, row.ID, err)
				}
				ri := report.Incident{ID: row.ID, AgentID: row.AgentID, Rule: row.Rule, Severity: row.Severity, Status: row.Status,
					Title: in.Title, OpenedAt: row.OpenedAt, ResolvedAt: row.ResolvedAt, RootCause: in.RootCause}
				if in.AcknowledgedAt != nil {
					ri.AcknowledgedAt = *in.AcknowledgedAt
				}
				f.Incidents = append(f.Incidents, ri)
			}
			if len(rows) < filter.Limit {
				break
			}
			filter.After = strconv.FormatInt(rows[len(rows)-1].LedgerIndex, 10)
		}
	}
	return f, nil
}
