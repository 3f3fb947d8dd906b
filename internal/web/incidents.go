package web

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/incident"
)

// Bounds of the incident pages.
const (
	incidentsPage = 50   // incidents per page
	maxQueue      = 5000 // active incidents read to sort the queue
)

// incidentStatuses are the queue's status filters; active (open or
// acknowledged) is the default.
var incidentStatuses = []string{"active", "open", "acknowledged", "resolved", "all"}

// incidentsQuery is what the incidents page's query string selects.
type incidentsQuery struct {
	Status, Severity, Agent, Rule string
	Page                          int    // of a sorted queue
	Cursor                        string // of the newest-first history
}

func parseIncidentsQuery(q url.Values) (incidentsQuery, error) {
	f := incidentsQuery{Status: cmp.Or(q.Get("status"), "active"), Severity: q.Get("severity"), Agent: q.Get("agent"),
		Rule: q.Get("rule"), Page: 1, Cursor: q.Get("cursor")}
	if !slices.Contains(incidentStatuses, f.Status) {
		return f, probity.Invalid("status", "must be one of %s", strings.Join(incidentStatuses, ", "))
	}
	if f.Severity != "" && !slices.Contains(incident.Severities(), f.Severity) {
		return f, probity.Invalid("severity", "must be one of %s", strings.Join(incident.Severities(), ", "))
	}
	if f.Agent != "" && !probity.ValidID(f.Agent) {
		return f, probity.Invalid("agent", probity.IDRule)
	}
	if f.Rule != "" && !slices.Contains(incident.RuleIDs(), f.Rule) {
		return f, probity.Invalid("rule", "must be one of %s", strings.Join(incident.RuleIDs(), ", "))
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return f, probity.Invalid("page", "must be a whole number from 1")
		}
		f.Page = n
	}
	if err := probity.CheckText("cursor", f.Cursor, 400); err != nil {
		return f, err
	}
	return f, nil
}

func (f incidentsQuery) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"severity": f.Severity, "agent": f.Agent, "rule": f.Rule, "cursor": f.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Status != "active" {
		q.Set("status", f.Status)
	}
	if f.Page > 1 {
		q.Set("page", strconv.Itoa(f.Page))
	}
	return q
}

func (f incidentsQuery) url() string {
	if q := f.values().Encode(); q != "" {
		return "/incidents?" + q
	}
	return "/incidents"
}

// sorted says whether the list is a queue sorted by severity and age (the
// active statuses) rather than history, newest first.
func (f incidentsQuery) sorted() bool { return f.Status != "resolved" && f.Status != "all" }

// incidentsPageData is the data of the incidents page.
type incidentsPageData struct {
	layout
	Query      incidentsQuery
	Incidents  []incident.Incident
	Statuses   []string
	Severities []string
	Rules      []string
	Sorted     bool
	Truncated  bool // the queue holds more than maxQueue
	Prev, Next string
	Counts     map[string]int // of the active queue, by severity
}

// incidents is the queue: active incidents by severity (critical first)
// and age (oldest first); resolved ones, or all, as history, newest first.
func (d *Dashboard) incidents(w http.ResponseWriter, r *http.Request, v *viewer) error {
	f, err := parseIncidentsQuery(r.URL.Query())
	if err != nil {
		return err
	}
	p := incidentsPageData{layout: d.frame(v, "Incidents", "incidents"), Query: f, Statuses: incidentStatuses,
		Severities: incident.Severities(), Rules: incident.RuleIDs(), Sorted: f.sorted(), Counts: map[string]int{}}
	q := url.Values{"limit": {"1000"}}
	if f.Status != "all" {
		q.Set("status", f.Status)
	}
	for k, val := range map[string]string{"severity": f.Severity, "agent": f.Agent, "rule": f.Rule} {
		if val != "" {
			q.Set(k, val)
		}
	}
	if !p.Sorted {
		q.Set("limit", strconv.Itoa(incidentsPage))
		if f.Cursor != "" {
			q.Set("cursor", f.Cursor)
		}
		var page client.Page[incident.Incident]
		if err := d.api.Do(r.Context(), v.key, "GET /v1/incidents", nil, q, nil, &page); err != nil {
			return err
		}
		p.Incidents = page.Items
		if page.NextCursor != "" {
			next := f
			next.Cursor = page.NextCursor
			p.Next = next.url()
		}
		return d.render(w, r, http.StatusOK, "incidents.html", p)
	}
	var all []incident.Incident
	for {
		var page client.Page[incident.Incident]
		if err := d.api.Do(r.Context(), v.key, "GET /v1/incidents", nil, q, nil, &page); err != nil {
			return err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			break
		}
		if len(all) >= maxQueue {
			p.Truncated = true
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	rank := func(sev string) int { return slices.Index(incident.Severities(), sev) }
	slices.SortStableFunc(all, func(a, b incident.Incident) int {
		return cmp.Or(cmp.Compare(rank(a.Severity), rank(b.Severity)), a.OpenedAt.Compare(b.OpenedAt), cmp.Compare(a.ID, b.ID))
	})
	for _, in := range all {
		p.Counts[in.Severity]++
	}
	pages := max(1, (len(all)+incidentsPage-1)/incidentsPage)
	f.Page = min(f.Page, pages)
	p.Query = f
	start := (f.Page - 1) * incidentsPage
	p.Incidents = all[start:min(start+incidentsPage, len(all))]
	if f.Page > 1 {
		prev := f
		prev.Page--
		p.Prev = prev.url()
	}
	if f.Page < pages {
		next := f
		next.Page++
		p.Next = next.url()
	}
	return d.render(w, r, http.StatusOK, "incidents.html", p)
}

// evidenceRow is one piece of an incident's evidence with where to see it.
type evidenceRow struct {
	incident.Evidence
	Link string // a dashboard page that shows it, if any
}

// incidentPage is the data of one incident's page.
type incidentPage struct {
	layout
	Incident      incident.Incident
	Observed      [][2]string
	Evidence      []evidenceRow
	Agent         probity.Agent
	AgentReadable bool
}

// incidentPage explains an incident: the rule, what it observed against
// which threshold over which window, its evidence with links, its history
// with ledger leaves; admins acknowledge and resolve it here.
func (d *Dashboard) incident(w http.ResponseWriter, r *http.Request, v *viewer) error {
	var p incidentPage
	if err := d.api.Do(r.Context(), v.key, "GET /v1/incidents/{id}", map[string]string{"id": r.PathValue("id")}, nil, nil, &p.Incident); err != nil {
		return err
	}
	in := p.Incident
	p.layout = d.frame(v, "Incident "+in.ID, "incidents")
	for k, val := range in.Observed {
		b, _ := json.Marshal(val)
		p.Observed = append(p.Observed, [2]string{k, compactJSON(b)})
	}
	slices.SortFunc(p.Observed, func(a, b [2]string) int { return cmp.Compare(a[0], b[0]) })
	for _, e := range in.Evidence {
		row := evidenceRow{Evidence: e}
		switch e.Kind {
		case incident.EvidenceRecord:
			row.Link = "/records/" + url.PathEscape(e.ID)
		case incident.EvidenceEvalResult:
			run, _, _ := strings.Cut(e.ID, "/")
			row.Link = "/evals/" + url.PathEscape(run)
		case incident.EvidenceModelChange:
			row.Link = "/agents/" + url.PathEscape(in.AgentID)
		}
		if row.Link == "" && e.LedgerIndex != nil {
			row.Link = "/ledger?index=" + strconv.FormatInt(*e.LedgerIndex, 10)
		}
		p.Evidence = append(p.Evidence, row)
	}
	// The agent's status, so that a resolved incident of a suspended agent
	// points to its reactivation.
	if err := d.api.Do(r.Context(), v.key, "GET /v1/agents/{id}", map[string]string{"id": in.AgentID}, nil, nil, &p.Agent); err == nil {
		p.AgentReadable = true
	}
	return d.render(w, r, http.StatusOK, "incident.html", p)
}

// acknowledge and resolve are POST /v1/incidents/{id}/acknowledge and
// /resolve with the form's note and root cause.
func (d *Dashboard) acknowledge(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return d.changeIncident(w, r, v, "POST /v1/incidents/{id}/acknowledge", map[string]string{"note": r.PostForm.Get("note")}, "Acknowledged")
}

func (d *Dashboard) resolve(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return d.changeIncident(w, r, v, "POST /v1/incidents/{id}/resolve",
		map[string]string{"rootCause": r.PostForm.Get("rootCause"), "note": r.PostForm.Get("note")}, "Resolved")
}

func (d *Dashboard) changeIncident(w http.ResponseWriter, r *http.Request, v *viewer, route string, body map[string]string, done string) error {
	var in incident.Incident
	if err := d.api.Do(r.Context(), v.key, route, map[string]string{"id": r.PathValue("id")}, nil, body, &in); err != nil {
		return err
	}
	v.session.setFlash(done + " " + in.ID + ".")
	http.Redirect(w, r, "/incidents/"+url.PathEscape(in.ID), http.StatusSeeOther)
	return nil
}
