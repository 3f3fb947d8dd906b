package api

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/incident"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
)

// Runtime anomalies (docs/anomaly.md) are judged on hourly activity
// rollups. Ingest folds each committed batch into counters in memory (a
// map per agent and hour, so memory grows with agents, not with events);
// FlushActivity adds them to the store every second, one transaction for
// everything pending; DetectAnomalies judges the last complete hour of every
// agent against its own baseline, hourly.
//
// The rollups are statistics, not records: a crash loses what was folded
// and not yet flushed (at most about a second of counts), never a record.

// Bounds of the activity queue.
const (
	// maxActivityKeys bounds the agent-hours waiting for a flush; counts
	// of further agent-hours are dropped (and counted) until it flushes.
	maxActivityKeys = 100000
	// maxToolsPerHour bounds the distinct tool names of one agent-hour;
	// calls of further names count under otherTool.
	maxToolsPerHour = 200
	otherTool       = "*"
	// activityRetention is how long rollups are kept: the longest baseline
	// a rules document may ask for, and a day.
	activityRetention = 91 * 24 * time.Hour
)

type activityKey struct {
	org, agent string
	hour       int64 // Unix seconds of the hour's start
}

type activityDelta struct {
	records, toolCalls, errors, violations int64
	tools                                  map[string]int64
}

func (d *activityDelta) add(o *activityDelta) {
	d.records += o.records
	d.toolCalls += o.toolCalls
	d.errors += o.errors
	d.violations += o.violations
	for t, n := range o.tools {
		d.tool(t, n)
	}
}

func (d *activityDelta) tool(name string, n int64) {
	if d.tools == nil {
		d.tools = map[string]int64{}
	}
	if _, ok := d.tools[name]; !ok && (name == "" || len(d.tools) >= maxToolsPerHour) {
		name = otherTool
	}
	d.tools[name] += n
}

// activityQueue is the rollup counters waiting for a flush.
type activityQueue struct {
	mu       sync.Mutex
	pending  map[activityKey]*activityDelta
	events   int64 // records folded into pending
	inflight int64 // records of the flush under way
	dropped  int64 // records of agent-hours beyond maxActivityKeys
	flushMu  sync.Mutex
}

// observe folds a committed batch into the counters. Most batches are one
// agent in one hour: they are folded apart first, so the lock is held for
// a few map updates, not for the whole batch.
func (q *activityQueue) observe(org string, recs []*record.Record, vs []violationView) {
	local := map[activityKey]*activityDelta{}
	get := func(agent string, t time.Time) *activityDelta {
		k := activityKey{org, agent, t.UTC().Truncate(time.Hour).Unix()}
		d := local[k]
		if d == nil {
			d = &activityDelta{}
			local[k] = d
		}
		return d
	}
	for _, r := range recs {
		d := get(r.AgentID, r.Time)
		d.records++
		if r.Type == record.ToolCall {
			d.toolCalls++
			name := ""
			if r.Tool != nil {
				name = r.Tool.Name
			}
			d.tool(name, 1)
		}
		if r.Type == record.Error || r.Outcome == "failure" || r.Outcome == "timeout" {
			d.errors++
		}
	}
	for _, v := range vs {
		get(v.AgentID, v.Time).violations++
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending == nil {
		q.pending = map[activityKey]*activityDelta{}
	}
	for k, d := range local {
		cur := q.pending[k]
		if cur == nil {
			if len(q.pending) >= maxActivityKeys {
				q.dropped += d.records
				continue
			}
			q.pending[k] = d
			q.events += d.records
			continue
		}
		cur.add(d)
		q.events += d.records
	}
}

// ActivityBacklog returns the records ingested and not yet in the stored
// rollups (folded or being flushed), and the records dropped so far
// because too many agent-hours waited at once.
func (s *Server) ActivityBacklog() (backlog, dropped int64) {
	q := &s.inc.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.events + q.inflight, q.dropped
}

// FlushActivity adds the folded counters to the stored rollups in one
// transaction. If the store fails they are folded back, to go with the
// next flush.
func (s *Server) FlushActivity(ctx context.Context) error {
	q := &s.inc.queue
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	batch, n := q.pending, q.events
	q.pending, q.events, q.inflight = nil, 0, n
	q.mu.Unlock()
	if len(batch) == 0 {
		q.mu.Lock()
		q.inflight = 0
		q.mu.Unlock()
		return nil
	}
	byOrg := map[string][]store.Activity{}
	for k, d := range batch {
		hour := time.Unix(k.hour, 0).UTC()
		as := append(byOrg[k.org], store.Activity{AgentID: k.agent, Hour: hour, Records: d.records, ToolCalls: d.toolCalls,
			Errors: d.errors, Violations: d.violations})
		for t, c := range d.tools {
			as = append(as, store.Activity{AgentID: k.agent, Hour: hour, Tool: t, ToolCalls: c})
		}
		byOrg[k.org] = as
	}
	orgs := make([]string, 0, len(byOrg))
	for org, as := range byOrg {
		orgs = append(orgs, org)
		// One order for every replica's upserts, so that two flushes never
		// wait on each other's rows in opposite orders.
		slices.SortFunc(as, func(a, b store.Activity) int {
			return cmp.Or(strings.Compare(a.AgentID, b.AgentID), a.Hour.Compare(b.Hour), strings.Compare(a.Tool, b.Tool))
		})
	}
	slices.Sort(orgs)
	err := s.store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		for _, org := range orgs {
			if err := tx.AddActivity(ctx, org, byOrg[org]); err != nil {
				return err
			}
		}
		return nil
	})
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inflight = 0
	if err != nil {
		if q.pending == nil {
			q.pending = map[activityKey]*activityDelta{}
		}
		for k, d := range batch {
			if cur := q.pending[k]; cur != nil {
				cur.add(d)
			} else if len(q.pending) < maxActivityKeys {
				q.pending[k] = d
			} else {
				q.dropped += d.records
				continue
			}
			q.events += d.records
		}
		return fmt.Errorf("flushing activity rollups: %w", err)
	}
	return nil
}

// DetectAnomalies judges the last complete hour of every agent of every org
// against its own baseline, stores the flags it raises and marks the
// agents with new flags due for incident evaluation. It runs hourly; a
// flag found again is stored once.
func (s *Server) DetectAnomalies(ctx context.Context) error {
	if err := s.FlushActivity(ctx); err != nil {
		s.log.WarnContext(ctx, "anomaly detection reads rollups without the last second", "err", err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	hour := now.Truncate(time.Hour).Add(-time.Hour)
	orgs, err := s.orgs(ctx)
	if err != nil {
		return err
	}
	var first error
	for _, o := range orgs {
		if err := s.detectOrg(ctx, o.ID, hour, now); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			first = cmp.Or(first, fmt.Errorf("anomalies of %s: %w", o.ID, err))
		}
	}
	if err := s.store.Update(ctx, func(tx store.Tx) error { return tx.PruneActivity(ctx, now.Add(-activityRetention)) }); err != nil {
		first = cmp.Or(first, err)
	}
	return first
}

func (s *Server) detectOrg(ctx context.Context, org string, hour, now time.Time) error {
	var cfg incident.Config
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		cfg, err = s.rulesOf(ctx, tx, org)
		return err
	})
	if err != nil || !cfg.Anomaly.Enabled {
		return err
	}
	var first error
	for p := (store.Page{Limit: 100}); ; {
		var agents []probity.Agent
		err := s.store.View(ctx, func(tx store.Tx) error {
			var err error
			agents, err = tx.ListAgents(ctx, org, p)
			return err
		})
		if err != nil {
			return err
		}
		for _, a := range agents {
			if err := s.detectAgent(ctx, org, a.ID, cfg.Anomaly, hour, now); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				first = cmp.Or(first, fmt.Errorf("agent %s: %w", a.ID, err))
			}
		}
		if len(agents) < p.Limit {
			return first
		}
		p.After = agents[len(agents)-1].ID
	}
}

// detectAgent judges one agent's hour and its score dimensions today.
func (s *Server) detectAgent(ctx context.Context, org, agentID string, cfg incident.Anomaly, hour, now time.Time) error {
	var flags []incident.Flag
	err := s.store.View(ctx, func(tx store.Tx) error {
		acts, err := tx.ListActivity(ctx, org, agentID, hour.Add(-cfg.Baseline.Std()), hour.Add(time.Hour))
		if err != nil {
			return err
		}
		flags = incident.DetectRuntime(cfg, agentID, hoursOf(acts), hour, now)
		snaps, err := tx.ListScores(ctx, org, agentID, now.Add(-cfg.Baseline.Std()-24*time.Hour), now.Add(time.Microsecond), maxIncidentSnapshots)
		if err != nil || len(snaps) == 0 {
			return err
		}
		var hist []incident.Snapshot
		for _, sn := range snaps {
			var sc struct {
				Dimensions score.Dimensions `json:"dimensions"`
			}
			if json.Unmarshal(sn.Score, &sc) != nil {
				continue
			}
			hist = append(hist, incident.Snapshot{Time: sn.ComputedAt, Composite: sn.Composite, Dimensions: sc.Dimensions, LedgerIndex: sn.LedgerIndex})
		}
		if len(hist) > 0 {
			flags = append(flags, incident.DetectDimensions(cfg, agentID, hist, hist[len(hist)-1], now)...)
		}
		return nil
	})
	if err != nil || len(flags) == 0 {
		return err
	}
	as := make([]store.Anomaly, len(flags))
	for i, f := range flags {
		body, err := json.Marshal(f)
		if err != nil {
			return err
		}
		as[i] = store.Anomaly{ID: f.ID, AgentID: agentID, Metric: f.Metric, Start: f.Start, End: f.End, Detected: f.Detected, Body: body}
	}
	fresh := 0
	err = s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		fresh, err = tx.InsertAnomalies(ctx, org, as)
		return err
	})
	if err == nil && fresh > 0 {
		s.markIncidentsDue(org, agentID)
	}
	return err
}

// hoursOf turns rollup rows into hours of activity.
func hoursOf(acts []store.Activity) []incident.Hour {
	var out []incident.Hour
	idx := map[time.Time]int{}
	for _, a := range acts {
		i, ok := idx[a.Hour]
		if !ok {
			i = len(out)
			idx[a.Hour] = i
			out = append(out, incident.Hour{Start: a.Hour, Tools: map[string]int{}})
		}
		h := &out[i]
		if a.Tool == "" {
			h.Records, h.ToolCalls, h.Errors, h.Violations = int(a.Records), int(a.ToolCalls), int(a.Errors), int(a.Violations)
		} else {
			h.Tools[a.Tool] += int(a.ToolCalls)
		}
	}
	return out
}

// listAnomalies pages the agent's anomaly flags, newest first, with start
// in [from, to).
func (s *Server) listAnomalies(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	f := store.AnomalyFilter{Page: peek(p), AgentID: id}
	for _, q := range []struct {
		name string
		t    *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := r.URL.Query().Get(q.name); v != "" {
			if *q.t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return probity.Invalid(q.name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
		}
	}
	if p.After != "" {
		if _, _, err := store.ParseAnomalyCursor(p.After); err != nil {
			return err
		}
	}
	var rows []store.Anomaly
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		if _, err := tx.GetAgent(r.Context(), c.org, id); err != nil {
			return err
		}
		rows, err = tx.ListAnomalies(r.Context(), c.org, f)
		return err
	})
	if err != nil {
		return err
	}
	type flagView struct {
		incident.Flag
		Explanation string `json:"explanation"`
		cursor      string
	}
	items := make([]flagView, 0, len(rows))
	for _, row := range rows {
		var fl incident.Flag
		if err := json.Unmarshal(row.Body, &fl); err != nil {
			return fmt.Errorf("%w: anomaly %s does not decode: %v", store.ErrLedgerDamaged, row.ID, err)
		}
		items = append(items, flagView{fl, fl.Explanation(), store.AnomalyCursor(row)})
	}
	writeJSON(w, http.StatusOK, paged(items, p, func(v flagView) string { return v.cursor }))
	return nil
}
