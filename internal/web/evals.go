package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
)

// Bounds of the eval pages.
const (
	evalRunsPage    = 50
	evalResultsPage = 25
)

// evalsPage is the data of the runs list.
type evalsPage struct {
	layout
	Active []client.EvalRun // queued or running, of this page
	Runs   []client.EvalRun
	Agent  string
	Next   string
}

func running(status string) bool { return status == client.EvalQueued || status == client.EvalRunning }

// evals lists runs newest first, those in progress on top with their
// progress (the page's script refreshes it; a reload does the same).
func (d *Dashboard) evals(w http.ResponseWriter, r *http.Request, v *viewer) error {
	p := evalsPage{layout: d.frame(v, "Evals", "evals"), Agent: r.URL.Query().Get("agent")}
	q := url.Values{"limit": {strconv.Itoa(evalRunsPage)}}
	if p.Agent != "" {
		if !probity.ValidID(p.Agent) {
			return probity.Invalid("agent", probity.IDRule)
		}
		q.Set("agent", p.Agent)
	}
	c := r.URL.Query().Get("cursor")
	if c != "" {
		q.Set("cursor", c)
	}
	var page client.Page[client.EvalRun]
	if err := d.api.Do(r.Context(), v.key, "GET /v1/evals", nil, q, nil, &page); err != nil {
		return err
	}
	for _, run := range page.Items {
		if running(run.Status) {
			p.Active = append(p.Active, run)
		}
	}
	p.Runs = page.Items
	if page.NextCursor != "" {
		nq := url.Values{"cursor": {page.NextCursor}}
		if p.Agent != "" {
			nq.Set("agent", p.Agent)
		}
		p.Next = "/evals?" + nq.Encode()
	}
	return d.render(w, r, http.StatusOK, "evals.html", p)
}

// resultRow is one graded case with its transcript.
type resultRow struct {
	client.EvalResult
	Transcript transcript
	Open       bool // shown unfolded: one of the first failed cases of the page
}

// transcript is what a case's transcript holds (eval.Transcript's JSON).
type transcript struct {
	Messages []struct {
		Role      string `json:"role"`
		Content   string `json:"content"`
		ToolCalls []struct {
			ID        string          `json:"id"`
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"toolCalls"`
		ToolCallID string `json:"toolCallId"`
	} `json:"messages"`
	ToolResults []struct {
		CallID  string `json:"callId"`
		Name    string `json:"name"`
		Content string `json:"content"`
	} `json:"toolResults"`
	Output       string  `json:"output"`
	LatencyMs    float64 `json:"latencyMs"`
	ModelVersion string  `json:"modelVersion"`
	Unreadable   string  `json:"-"` // the raw transcript when it does not decode
}

// evalRunPage is the data of one run's page.
type evalRunPage struct {
	layout
	Run     client.EvalRun
	Running bool
	Suites  []suiteRow
	Dims    []dimRate
	Results []resultRow
	Next    string
	Status  string // the results filter
}

type suiteRow struct {
	ID      string
	Summary client.EvalSummary
}

type dimRate struct {
	Name string
	client.EvalDimension
}

// evalRun shows a run's progress, its pass rates with intervals per suite
// and dimension, and its graded cases with transcripts, a page at a time.
func (d *Dashboard) evalRun(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	p := evalRunPage{}
	if err := d.api.Do(r.Context(), v.key, "GET /v1/evals/{id}", map[string]string{"id": id}, nil, nil, &p.Run); err != nil {
		return err
	}
	p.layout = d.frame(v, "Eval run "+p.Run.ID, "evals")
	p.Running = running(p.Run.Status)
	if s := p.Run.Summary; s != nil {
		for suite, sum := range s.Suites {
			p.Suites = append(p.Suites, suiteRow{suite, sum})
		}
		slices.SortFunc(p.Suites, func(a, b suiteRow) int { return compareStrings(a.ID, b.ID) })
		for name, dr := range s.Dimensions {
			p.Dims = append(p.Dims, dimRate{name, dr})
		}
		slices.SortFunc(p.Dims, func(a, b dimRate) int { return compareStrings(a.Name, b.Name) })
	}
	q := url.Values{"limit": {strconv.Itoa(evalResultsPage)}}
	if c := r.URL.Query().Get("cursor"); c != "" {
		q.Set("cursor", c)
	}
	var page client.Page[client.EvalResult]
	if err := d.api.Do(r.Context(), v.key, "GET /v1/evals/{id}/results", map[string]string{"id": id}, q, nil, &page); err != nil {
		return err
	}
	opened := 0
	for _, res := range page.Items {
		row := resultRow{EvalResult: res, Open: res.Status != client.CasePassed && opened < 3}
		if row.Open {
			opened++
		}
		if len(res.Transcript) > 0 && json.Unmarshal(res.Transcript, &row.Transcript) != nil {
			row.Transcript.Unreadable = string(res.Transcript)
		}
		p.Results = append(p.Results, row)
	}
	if page.NextCursor != "" {
		p.Next = "/evals/" + url.PathEscape(p.Run.ID) + "?" + url.Values{"cursor": {page.NextCursor}}.Encode()
	}
	return d.render(w, r, http.StatusOK, "eval.html", p)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// evalProgress answers a run's status and progress as JSON, for the
// script that keeps the evals pages live.
func (d *Dashboard) evalProgress(w http.ResponseWriter, r *http.Request, v *viewer) error {
	var run client.EvalRun
	if err := d.api.Do(r.Context(), v.key, "GET /v1/evals/{id}", map[string]string{"id": r.PathValue("id")}, nil, nil, &run); err != nil {
		return err
	}
	b, err := json.Marshal(map[string]any{"id": run.ID, "status": run.Status, "done": run.Progress.Done, "total": run.Progress.Total})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
	return nil
}
