package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/incident"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/score"
)

// Bounds of what the agent page reads.
const (
	agentRuns       = 10  // eval runs shown
	agentViolations = 20  // violations per page
	agentRecords    = 50  // records per page
	sessionRecords  = 200 // records of a session per page
	snippetRunes    = 240 // characters of a record shown in a list
)

// chartDays are the chart spans offered, in days.
var chartDays = []int{7, 30, 90}

// recordWindows are the record windows offered, back from the agent's
// latest record.
var recordWindows = []struct {
	Name string
	Span time.Duration
}{{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"all", 0}}

// agentQuery is what the agent page's query string selects.
type agentQuery struct {
	Days             int    // chart span
	Window           string // records window
	Type             string // records of one type, or all
	RCursor, VCursor string // page cursors of records and violations
}

func parseAgentQuery(q url.Values) (agentQuery, error) {
	a := agentQuery{Days: 30, Window: "1h", Type: q.Get("rtype"), RCursor: q.Get("rcursor"), VCursor: q.Get("vcursor")}
	if v := q.Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(chartDays, n) {
			return a, probity.Invalid("days", "must be 7, 30 or 90")
		}
		a.Days = n
	}
	if v := q.Get("rwin"); v != "" {
		ok := false
		for _, w := range recordWindows {
			ok = ok || w.Name == v
		}
		if !ok {
			return a, probity.Invalid("rwin", "must be 1h, 24h, 7d, 30d or all")
		}
		a.Window = v
	}
	if a.Type != "" && !slices.Contains(record.Types, a.Type) {
		return a, probity.Invalid("rtype", "must be one of %s", strings.Join(record.Types, ", "))
	}
	for _, p := range []struct{ name, v string }{{"rcursor", a.RCursor}, {"vcursor", a.VCursor}} {
		if err := probity.CheckText(p.name, p.v, 400); err != nil {
			return a, err
		}
	}
	return a, nil
}

// url is the agent page with a changed, others kept.
func (a agentQuery) url(id string, change func(*agentQuery)) string {
	change(&a)
	q := url.Values{}
	if a.Days != 30 {
		q.Set("days", strconv.Itoa(a.Days))
	}
	if a.Window != "1h" {
		q.Set("rwin", a.Window)
	}
	if a.Type != "" {
		q.Set("rtype", a.Type)
	}
	if a.RCursor != "" {
		q.Set("rcursor", a.RCursor)
	}
	if a.VCursor != "" {
		q.Set("vcursor", a.VCursor)
	}
	u := "/agents/" + url.PathEscape(id)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// storedRecord is a record as GET /v1/agents/{id}/records answers it.
type storedRecord struct {
	record.Record
	LedgerIndex         int64 `json:"ledgerIndex"`
	InjectionFlagged    bool  `json:"injectionFlagged"`
	InjectionInfluenced bool  `json:"injectionInfluenced"`
}

// recordRow is a record as a page shows it.
type recordRow struct {
	storedRecord
	Snippet    string // a short line for lists
	ToolName   string
	Arguments  string // indented JSON
	Result     string // indented JSON
	Attributes string // indented JSON
	Anchor     string // the element id in a session view
}

func rowOf(r storedRecord) recordRow {
	row := recordRow{storedRecord: r, Anchor: "rec-" + strconv.FormatInt(r.LedgerIndex, 10)}
	text := r.Content
	if r.Tool != nil {
		row.ToolName = r.Tool.Name
		row.Arguments = indentJSON(r.Tool.Arguments)
		row.Result = indentJSON(r.Tool.Result)
		if text == "" {
			text = compactJSON(r.Tool.Arguments)
			if r.Type == record.ToolResult {
				text = compactJSON(r.Tool.Result)
			}
		}
	}
	if r.Data != nil && text == "" {
		text = strings.TrimSpace(r.Data.Class + " " + r.Data.Resource)
	}
	if len(r.Attributes) > 0 {
		b, _ := json.Marshal(r.Attributes)
		row.Attributes = indentJSON(b)
	}
	row.Snippet = snippet(text, snippetRunes)
	return row
}

// snippet shortens s to n characters on one line.
func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// indentJSON indents a JSON value for a <pre>; a string value is shown as
// its text, and anything that is not JSON as it is. Characters that JSON
// encoders escape for HTML (<, >, &) are shown as themselves: the page
// escapes them, and the reader sees what the agent sent.
func indentJSON(raw json.RawMessage) string { return showJSON(raw, "  ") }

// compactJSON is indentJSON on one line.
func compactJSON(raw json.RawMessage) string { return showJSON(raw, "") }

func showJSON(raw json.RawMessage, indent string) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return string(raw)
	}
	if s, ok := v.(string); ok {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return string(raw)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// dimensionRow is one dimension of the score with its evidence.
type dimensionRow struct {
	Name   string
	Value  float64
	Detail score.DimensionDetail
}

// clauseRow is one clause of a pact, in words.
type clauseRow struct {
	ID, Kind, Severity, Text, Description string
}

// pactView is the agent's pact version.
type pactView struct {
	ID      string
	Version int
	Digest  string
	Created time.Time
	Clauses []clauseRow
}

// runRow is one eval run with its pass rate.
type runRow struct {
	client.EvalRun
}

// agentPage is the data of the agent page.
type agentPage struct {
	layout
	Agent      probity.Agent
	Score      score.Score
	Explain    score.Explanation
	Dimensions []dimensionRow
	OWASP      [][2]string
	Composite  chart
	DimChart   chart
	Days       []struct {
		N       int
		URL     string
		Current bool
	}
	Models     []probity.ModelChange
	Incidents  []incident.Incident // active
	Pact       *pactView
	Violations []client.Violation
	VNext      string
	VFrom      time.Time
	Runs       []runRow
	Records    []recordRow
	RNext      string
	RFrom      time.Time
	Windows    []struct {
		Name    string
		URL     string
		Current bool
	}
	Types  []string
	Query  agentQuery
	Reset  string // the records list from its first page
	Action string // the form to show: suspend or reactivate
}

func (d *Dashboard) agent(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	aq, err := parseAgentQuery(r.URL.Query())
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := agentPage{Query: aq, Types: record.Types}
	path := map[string]string{"id": id}
	if err := d.api.Do(ctx, v.key, "GET /v1/agents/{id}", path, nil, nil, &p.Agent); err != nil {
		return err
	}
	p.layout = d.frame(v, "Agent "+p.Agent.ID, "fleet")
	p.Action = "suspend"
	if p.Agent.Status == probity.StatusSuspended {
		p.Action = "reactivate"
	}
	if p.Score, err = d.api.Score(ctx, v.key, id); err != nil {
		return err
	}
	if p.Score.Explain != nil {
		p.Explain = *p.Score.Explain
	}
	for _, name := range score.DimensionNames() {
		p.Dimensions = append(p.Dimensions, dimensionRow{Name: name, Value: p.Score.Dimensions.Get(name), Detail: p.Explain.Dimensions[name]})
	}
	for _, id := range score.OWASPIDs() {
		p.OWASP = append(p.OWASP, [2]string{id, p.Score.SecurityPosture.OWASP[id]})
	}
	var models struct{ Items []probity.ModelChange }
	if err := d.api.Do(ctx, v.key, "GET /v1/agents/{id}/models", path, nil, nil, &models); err != nil {
		return err
	}
	p.Models = models.Items
	var active client.Page[incident.Incident]
	q := url.Values{"agent": {id}, "status": {"active"}, "limit": {"50"}}
	if err := d.api.Do(ctx, v.key, "GET /v1/incidents", nil, q, nil, &active); err != nil {
		return err
	}
	p.Incidents = active.Items
	if err := d.charts(r, v, &p); err != nil {
		return err
	}
	if p.Score.Pact.ID != "" {
		if p.Pact, err = d.pactOf(r, v, p.Score.Pact.ID, p.Score.Pact.Version); err != nil {
			return err
		}
	}
	if err := d.violations(r, v, &p); err != nil {
		return err
	}
	if err := d.runs(r, v, &p); err != nil {
		return err
	}
	if err := d.records(r, v, &p); err != nil {
		return err
	}
	return d.render(w, r, http.StatusOK, "agent.html", p)
}

// charts draws the composite and the dimensions over the chosen days from
// the stored snapshots and the score just computed, with model changes
// marked.
func (d *Dashboard) charts(r *http.Request, v *viewer, p *agentPage) error {
	now := p.Score.ComputedAt
	if now.IsZero() {
		now = d.now().UTC()
	}
	from := now.Add(-time.Duration(p.Query.Days) * 24 * time.Hour)
	// The snapshot before the window gives the line its start.
	pts, err := d.api.ScoreSeries(r.Context(), v.key, p.Agent.ID, from.Add(-90*24*time.Hour), now)
	if err != nil {
		return err
	}
	if i := firstAtOrAfter(pts, from); i > 1 {
		pts = pts[i-1:]
	}
	var times []time.Time
	composite := []float64{}
	dims := make([][]float64, len(score.DimensionNames()))
	for _, pt := range pts {
		times = append(times, pt.Time)
		composite = append(composite, float64(pt.Composite))
		for i, name := range score.DimensionNames() {
			dims[i] = append(dims[i], pt.Dimensions.Get(name))
		}
	}
	times = append(times, now)
	composite = append(composite, float64(p.Score.CompositeScore))
	for i, name := range score.DimensionNames() {
		dims[i] = append(dims[i], p.Score.Dimensions.Get(name))
	}
	var markers []markerInput
	for i, m := range p.Models {
		if i == 0 {
			continue // the registration's model is not a change
		}
		markers = append(markers, markerInput{Time: m.Since, Label: "model " + m.Model.Version})
	}
	p.Composite = lineChart("Composite score", from, now, 0, 1000, []float64{0, 500, 700, 900, 1000},
		func(f float64) string { return strconv.Itoa(int(f)) },
		[]seriesInput{{Name: "composite", Class: "s-composite", Times: times, Values: composite}}, markers)
	var series []seriesInput
	for i, name := range score.DimensionNames() {
		series = append(series, seriesInput{Name: name, Class: "s-" + name, Times: times, Values: dims[i]})
	}
	p.DimChart = lineChart("Dimensions", from, now, 0, 1, []float64{0, 0.25, 0.5, 0.75, 1},
		func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }, series, markers)
	for _, n := range chartDays {
		p.Days = append(p.Days, struct {
			N       int
			URL     string
			Current bool
		}{n, p.Query.url(p.Agent.ID, func(a *agentQuery) { a.Days = n }), n == p.Query.Days})
	}
	return nil
}

func firstAtOrAfter(pts []api.ScorePoint, t time.Time) int {
	for i, p := range pts {
		if !p.Time.Before(t) {
			return i
		}
	}
	return len(pts)
}

// pactOf reads a pact version and lists its clauses.
func (d *Dashboard) pactOf(r *http.Request, v *viewer, id string, version int) (*pactView, error) {
	var pv client.PactVersion
	err := d.api.Do(r.Context(), v.key, "GET /v1/pacts/{id}/versions/{n}", map[string]string{"id": id, "n": strconv.Itoa(version)}, nil, nil, &pv)
	if err != nil {
		return nil, err
	}
	var pc pact.Pact
	if err := json.Unmarshal(pv.Canonical, &pc); err != nil {
		return nil, fmt.Errorf("decoding pact %s version %d: %w", id, version, err)
	}
	out := &pactView{ID: pv.ID, Version: pv.Version, Digest: pv.Digest, Created: pv.CreatedAt}
	if sc := pc.Scope; sc != nil {
		for _, t := range sc.Tools {
			id := t.ID
			if id == "" {
				id = "scope.tools." + t.Name
			}
			text := "may call " + t.Name
			if t.When != "" {
				text += " when " + t.When
			}
			out.Clauses = append(out.Clauses, clauseRow{ID: id, Kind: "tool", Severity: cmpOr(t.Severity, sc.Severity), Text: text})
		}
		if sc.Tools != nil {
			out.Clauses = append(out.Clauses, clauseRow{ID: "scope.tools", Kind: "scope", Severity: sc.Severity, Text: "calls no tool the scope does not name"})
		}
		if sc.DataClasses != nil {
			out.Clauses = append(out.Clauses, clauseRow{ID: "scope.dataClasses", Kind: "scope", Severity: sc.Severity,
				Text: "touches only data classes: " + listOrNone(sc.DataClasses)})
		}
		if sc.EgressDomains != nil {
			out.Clauses = append(out.Clauses, clauseRow{ID: "scope.egressDomains", Kind: "scope", Severity: sc.Severity,
				Text: "reaches only domains: " + listOrNone(sc.EgressDomains)})
		}
	}
	for _, f := range pc.Forbid {
		var steps []string
		for _, s := range f.Sequence {
			st := s.Tool
			if s.When != "" {
				st += " (when " + s.When + ")"
			}
			steps = append(steps, st)
		}
		out.Clauses = append(out.Clauses, clauseRow{ID: f.ID, Kind: "forbid", Severity: f.Severity,
			Text: "never in one session: " + strings.Join(steps, " → "), Description: f.Description})
	}
	for _, o := range pc.Outputs {
		out.Clauses = append(out.Clauses, clauseRow{ID: o.ID, Kind: "output", Severity: o.Severity,
			Text: "model outputs carry no " + strings.Join(o.Detect, ", ")})
	}
	for _, c := range pc.Commitments {
		text := fmt.Sprintf("%s %s %g over every %s", c.Metric, c.Op, c.Value, c.Window)
		if c.Suite != "" {
			text += " (suite " + c.Suite + ")"
		}
		out.Clauses = append(out.Clauses, clauseRow{ID: c.ID, Kind: "commitment", Severity: c.Severity, Text: text})
	}
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// violations reads a page of the agent's violations of the last 30 days.
func (d *Dashboard) violations(r *http.Request, v *viewer, p *agentPage) error {
	p.VFrom = p.Score.ComputedAt.Add(-30 * 24 * time.Hour)
	if p.Score.ComputedAt.IsZero() {
		p.VFrom = d.now().UTC().Add(-30 * 24 * time.Hour)
	}
	q := url.Values{"agent": {p.Agent.ID}, "from": {p.VFrom.Format(time.RFC3339Nano)}, "limit": {strconv.Itoa(agentViolations)}}
	if p.Query.VCursor != "" {
		q.Set("cursor", p.Query.VCursor)
	}
	var page client.Page[client.Violation]
	if err := d.api.Do(r.Context(), v.key, "GET /v1/violations", nil, q, nil, &page); err != nil {
		return err
	}
	p.Violations = page.Items
	if page.NextCursor != "" {
		p.VNext = p.Query.url(p.Agent.ID, func(a *agentQuery) { a.VCursor = page.NextCursor })
	}
	return nil
}

// runs reads the agent's newest runs, each with its summary.
func (d *Dashboard) runs(r *http.Request, v *viewer, p *agentPage) error {
	var page client.Page[client.EvalRun]
	q := url.Values{"agent": {p.Agent.ID}, "limit": {strconv.Itoa(agentRuns)}}
	if err := d.api.Do(r.Context(), v.key, "GET /v1/evals", nil, q, nil, &page); err != nil {
		return err
	}
	for _, run := range page.Items {
		var full client.EvalRun
		if err := d.api.Do(r.Context(), v.key, "GET /v1/evals/{id}", map[string]string{"id": run.ID}, nil, nil, &full); err != nil {
			return err
		}
		p.Runs = append(p.Runs, runRow{full})
	}
	return nil
}

// records reads a page of the agent's records in the chosen window, which
// ends at its latest record.
func (d *Dashboard) records(r *http.Request, v *viewer, p *agentPage) error {
	last := p.Score.Evidence.LastRecordAt
	if last.IsZero() {
		last = d.now().UTC()
	}
	q := url.Values{"limit": {strconv.Itoa(agentRecords)}}
	for _, w := range recordWindows {
		if w.Name == p.Query.Window && w.Span > 0 {
			p.RFrom = last.Add(-w.Span)
			q.Set("from", p.RFrom.Format(time.RFC3339Nano))
		}
		p.Windows = append(p.Windows, struct {
			Name    string
			URL     string
			Current bool
		}{w.Name, p.Query.url(p.Agent.ID, func(a *agentQuery) { a.Window, a.RCursor = w.Name, "" }), w.Name == p.Query.Window})
	}
	if p.Query.Type != "" {
		q.Set("type", p.Query.Type)
	}
	if p.Query.RCursor != "" {
		q.Set("cursor", p.Query.RCursor)
	}
	var page client.Page[storedRecord]
	if err := d.api.Do(r.Context(), v.key, "GET /v1/agents/{id}/records", map[string]string{"id": p.Agent.ID}, q, nil, &page); err != nil {
		return err
	}
	for _, rec := range page.Items {
		p.Records = append(p.Records, rowOf(rec))
	}
	if page.NextCursor != "" {
		p.RNext = p.Query.url(p.Agent.ID, func(a *agentQuery) { a.RCursor = page.NextCursor })
	}
	p.Reset = p.Query.url(p.Agent.ID, func(a *agentQuery) { a.RCursor = "" })
	return nil
}

// sessionPage is the data of a session's page: its records in order.
type sessionPage struct {
	layout
	AgentID   string
	SessionID string
	Records   []recordRow
	Next      string
	Flagged   int
	Influence int
}

// session shows one session's records in order, tool calls with their
// arguments and results, injection-flagged results and influenced calls
// marked.
func (d *Dashboard) session(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	sid := r.URL.Query().Get("id")
	if sid == "" {
		return probity.Invalid("id", "is required: name the session")
	}
	q := url.Values{"session": {sid}, "limit": {strconv.Itoa(sessionRecords)}}
	if c := r.URL.Query().Get("cursor"); c != "" {
		q.Set("cursor", c)
	}
	var page client.Page[storedRecord]
	if err := d.api.Do(r.Context(), v.key, "GET /v1/agents/{id}/records", map[string]string{"id": id}, q, nil, &page); err != nil {
		return err
	}
	p := sessionPage{layout: d.frame(v, "Session "+sid, "fleet"), AgentID: id, SessionID: sid}
	for _, rec := range page.Items {
		row := rowOf(rec)
		if row.InjectionFlagged {
			p.Flagged++
		}
		if row.InjectionInfluenced {
			p.Influence++
		}
		p.Records = append(p.Records, row)
	}
	if page.NextCursor != "" {
		p.Next = "/agents/" + url.PathEscape(id) + "/session?" + url.Values{"id": {sid}, "cursor": {page.NextCursor}}.Encode()
	}
	return d.render(w, r, http.StatusOK, "session.html", p)
}

// recordByID finds a record (evidence of a violation or an incident) and
// goes to it in its session.
func (d *Dashboard) recordByID(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ref, err := d.api.RecordRef(r.Context(), v.key, r.PathValue("id"))
	if err != nil {
		return err
	}
	target := "/agents/" + url.PathEscape(ref.AgentID)
	if ref.SessionID != "" {
		target += "/session?" + url.Values{"id": {ref.SessionID}}.Encode()
	} else {
		target += "?" + url.Values{"rwin": {"all"}}.Encode()
	}
	http.Redirect(w, r, target+"#rec-"+strconv.FormatInt(ref.LedgerIndex, 10), http.StatusSeeOther)
	return nil
}

// suspend and reactivate are POST /v1/agents/{id}/suspend and /reactivate
// with the form's reason or root cause.
func (d *Dashboard) suspend(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return d.setStatus(w, r, v, "POST /v1/agents/{id}/suspend", map[string]string{"reason": r.PostForm.Get("reason")}, "Suspended")
}

func (d *Dashboard) reactivate(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return d.setStatus(w, r, v, "POST /v1/agents/{id}/reactivate", map[string]string{"rootCause": r.PostForm.Get("rootCause")}, "Reactivated")
}

func (d *Dashboard) setStatus(w http.ResponseWriter, r *http.Request, v *viewer, route string, body map[string]string, done string) error {
	id := r.PathValue("id")
	var a probity.Agent
	if err := d.api.Do(r.Context(), v.key, route, map[string]string{"id": id}, nil, body, &a); err != nil {
		return err
	}
	v.session.setFlash(done + " " + a.ID + ".")
	http.Redirect(w, r, "/agents/"+url.PathEscape(a.ID), http.StatusSeeOther)
	return nil
}

// attestation downloads the agent's signed trust attestation (a DSSE
// envelope) as a file.
func (d *Dashboard) attestation(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	if !probity.ValidID(id) {
		return probity.Invalid("id", probity.IDRule)
	}
	var env []byte
	if err := d.api.Do(r.Context(), v.key, "GET /v1/agents/{id}/attestation", map[string]string{"id": id}, nil, nil, &env); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="attestation-`+id+`.json"`)
	w.Write(env)
	return nil
}
