package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/store"
)

// Bounds of one commitment evaluation.
const (
	maxCommitmentSamples  = 1_000_000 // the newest records of a window judged
	maxCommitmentEvidence = 20        // record ids a breach names
)

// commitmentResult is one commitment of one agent, judged at a time.
type commitmentResult struct {
	PactID      string   `json:"pactId"`
	PactVersion int      `json:"pactVersion"`
	AgentID     string   `json:"agentId"`
	Clause      string   `json:"clause"`
	Metric      string   `json:"metric"`
	Op          string   `json:"op"`
	Value       float64  `json:"value"`
	Window      string   `json:"window"`
	Suite       string   `json:"suite,omitempty"`
	Samples     int      `json:"samples"`
	Observed    *float64 `json:"observed"` // null when the window has no samples
	Breached    bool     `json:"breached"`
	Explanation string   `json:"explanation"`
	// Violation is the violation this evaluation recorded; ReportedAs the
	// one that already reported the breach within the window, when a breach
	// was not recorded again.
	Violation  *violationView `json:"violation,omitempty"`
	ReportedAs string         `json:"reportedAs,omitempty"`

	evidence []string
	severity string
	window   time.Duration
}

type commitmentAnswer struct {
	EvaluatedAt time.Time          `json:"evaluatedAt"`
	Results     []commitmentResult `json:"results"`
}

// evaluateCommitments judges the pact's commitments now, for every agent it
// binds, and records each breach not already reported within its window.
func (s *Server) evaluateCommitments(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	var v store.PactVersion
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		v, err = tx.LatestPactVersion(r.Context(), c.org, id)
		return err
	})
	if err != nil {
		return err
	}
	res, err := s.evaluatePact(r.Context(), c.org, v, now)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, commitmentAnswer{now, res})
	return nil
}

// EvaluateCommitments judges every commitment of every pact of every org,
// as evaluateCommitments does for one pact. The server runs it on a
// schedule; it returns the first error after trying every pact.
func (s *Server) EvaluateCommitments(ctx context.Context) error {
	now := s.now().UTC().Truncate(time.Microsecond)
	orgs, err := s.orgs(ctx)
	if err != nil {
		return err
	}
	var first error
	for _, o := range orgs {
		p := store.Page{Limit: 100}
		for {
			var pvs []store.PactVersion
			err := s.store.View(ctx, func(tx store.Tx) error {
				var err error
				pvs, err = tx.ListPacts(ctx, o.ID, p)
				return err
			})
			if err != nil {
				first = cmp.Or(first, err)
				break
			}
			for _, v := range pvs {
				if _, err := s.evaluatePact(ctx, o.ID, v, now); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					first = cmp.Or(first, fmt.Errorf("org %s pact %s: %w", o.ID, v.PactID, err))
				}
			}
			if len(pvs) < p.Limit {
				break
			}
			p.After = pvs[len(pvs)-1].PactID
		}
	}
	return first
}

// evaluatePact judges version v's commitments at now: samples are read in
// a read transaction, and only breaches are written, in a short one.
func (s *Server) evaluatePact(ctx context.Context, org string, v store.PactVersion, now time.Time) ([]commitmentResult, error) {
	p, err := s.checker.compiled(v)
	if errors.Is(err, errPactBroken) {
		return nil, fmt.Errorf("%w: %v; post a new version of the pact", probity.ErrConflict, err)
	} else if err != nil {
		return nil, err
	}
	out := []commitmentResult{}
	if len(p.Commitments) == 0 {
		return out, nil
	}
	err = s.store.View(ctx, func(tx store.Tx) error {
		for _, agent := range p.Agents {
			bound, err := tx.PactOfAgent(ctx, org, agent)
			if errors.Is(err, probity.ErrNotFound) || (err == nil && bound != v.PactID) {
				continue
			} else if err != nil {
				return err
			}
			samples := map[time.Duration][]store.RecordSample{} // by window: each read once
			for _, cm := range p.Commitments {
				win := time.Duration(cm.Window)
				var in []store.RecordSample
				if isRecordMetric(cm.Metric) {
					var ok bool
					if in, ok = samples[win]; !ok {
						if in, err = tx.RecordSamples(ctx, org, agent, now.Add(-win), now, maxCommitmentSamples); err != nil {
							return err
						}
						samples[win] = in
					}
				}
				out = append(out, judge(v, agent, cm, in, now))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(out, func(r commitmentResult) bool { return r.Breached }) {
		return out, nil
	}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.LockLedger(ctx, org); err != nil {
			return err
		}
		start, err := tx.LedgerSize(ctx, org)
		if err != nil {
			return err
		}
		var vs []store.Violation
		var entries [][]byte
		for i := range out {
			r := &out[i]
			r.Violation, r.ReportedAs = nil, ""
			if !r.Breached {
				continue
			}
			// One violation per breach and window: a breach that lasts is
			// reported again once its window has passed.
			prior, err := tx.ListViolations(ctx, org, store.ViolationFilter{Page: store.Page{Limit: 100},
				AgentID: r.AgentID, Clause: r.Clause, Kind: pact.KindCommitment, From: now.Add(-r.window)})
			if err != nil {
				return err
			}
			if j := slices.IndexFunc(prior, func(x store.Violation) bool { return x.PactID == r.PactID }); j >= 0 {
				r.ReportedAs = prior[j].ID
				continue
			}
			idx := start + int64(len(entries))
			sv := store.Violation{ID: "v_" + strconv.FormatInt(idx, 10), AgentID: r.AgentID, PactID: r.PactID, PactVersion: r.PactVersion,
				Clause: r.Clause, Kind: pact.KindCommitment, Severity: r.severity, RecordIDs: r.evidence, Explanation: r.Explanation,
				Time: now, LedgerIndex: idx}
			leaf, err := ViolationLeaf(sv)
			if err != nil {
				return err
			}
			vs, entries = append(vs, sv), append(entries, leaf)
			view := viewOfViolation(sv)
			r.Violation = &view
		}
		if len(vs) == 0 {
			return nil
		}
		first, err := store.AppendLedger(ctx, tx, org, entries)
		if err != nil {
			return err
		}
		if first != start {
			return fmt.Errorf("%w: the ledger grew from %d to %d under its lock", store.ErrLedgerDamaged, start, first)
		}
		if err := tx.InsertViolations(ctx, org, vs); err != nil {
			return err
		}
		return s.emit(ctx, tx, org, violationEvents(vs)...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func isRecordMetric(m string) bool { return m == "latency_p95_ms" || m == "error_rate" }

// judge evaluates one commitment over an agent's samples (newest first).
func judge(v store.PactVersion, agent string, cm pact.Commitment, samples []store.RecordSample, now time.Time) commitmentResult {
	ps := make([]pact.Sample, len(samples))
	for i, s := range samples {
		ps[i] = pact.Sample{Time: s.Time, LatencyMs: s.LatencyMs, Error: s.Failed}
	}
	breached, observed, why := pact.EvaluateCommitment(cm, ps, now)
	r := commitmentResult{PactID: v.PactID, PactVersion: v.Version, AgentID: agent, Clause: cm.ID, Metric: cm.Metric, Op: cm.Op,
		Value: cm.Value, Window: cm.Window.String(), Suite: cm.Suite, Breached: breached, Explanation: why,
		severity: cm.Severity, window: time.Duration(cm.Window)}
	if !math.IsNaN(observed) {
		r.Observed = &observed
	}
	switch cm.Metric {
	case "latency_p95_ms":
		var slow []store.RecordSample
		for _, s := range samples {
			if s.LatencyMs != nil {
				r.Samples++
				if breached && !holds(*s.LatencyMs, cm.Op, cm.Value) {
					slow = append(slow, s)
				}
			}
		}
		slices.SortStableFunc(slow, func(a, b store.RecordSample) int { return cmp.Compare(*b.LatencyMs, *a.LatencyMs) })
		for _, s := range slow[:min(len(slow), maxCommitmentEvidence)] {
			r.evidence = append(r.evidence, s.ID)
		}
	case "error_rate":
		r.Samples = len(samples)
		for _, s := range samples {
			if breached && s.Failed && len(r.evidence) < maxCommitmentEvidence {
				r.evidence = append(r.evidence, s.ID)
			}
		}
	default:
		// accuracy and safety_pass_rate are judged on graded eval cases,
		// which only eval runs produce.
		r.Explanation += "; eval results are what this metric is judged on"
	}
	if len(samples) == maxCommitmentSamples {
		r.Explanation += fmt.Sprintf(" (the newest %d records of the window)", maxCommitmentSamples)
	}
	if r.evidence == nil {
		r.evidence = []string{}
	}
	return r
}

// holds reports whether one sample on its own would keep the commitment.
func holds(x float64, op string, v float64) bool {
	switch op {
	case "<":
		return x < v
	case "<=":
		return x <= v
	case ">":
		return x > v
	case ">=":
		return x >= v
	}
	return true
}
