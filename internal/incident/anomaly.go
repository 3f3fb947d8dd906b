package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/probity-dev/probity/internal/score"
)

// Runtime metrics, judged per hour from an agent's activity rollups. The
// six dimensions of the score are metrics too (their daily values), under
// their own names.
const (
	MetricToolCalls     = "toolCallsPerHour"
	MetricDistinctTools = "distinctTools"
	MetricErrorRate     = "errorRate"
	MetricViolationRate = "violationRate"
	MetricNewTools      = "newTools"
	MetricToolMix       = "toolMixDivergence"
)

// Metrics lists every metric anomalies are flagged on.
func Metrics() []string {
	return append([]string{MetricToolCalls, MetricDistinctTools, MetricErrorRate, MetricViolationRate, MetricNewTools, MetricToolMix},
		score.DimensionNames()...)
}

// Hour is an agent's activity in one hour: how many records, tool calls,
// failed records (error records, or outcomes failure and timeout) and
// violations it had, and its tool calls by tool name.
type Hour struct {
	Start      time.Time
	Records    int
	ToolCalls  int
	Errors     int
	Violations int
	Tools      map[string]int
}

// Flag is one anomaly: a metric's value over a period against the agent's
// own baseline. Z is the robust z-score (value − median) / scale, where
// scale is 1.4826·MAD, floored; it is 0 for newTools, which has no spread.
type Flag struct {
	ID       string    `json:"id"`
	AgentID  string    `json:"agentId"`
	Metric   string    `json:"metric"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Value    float64   `json:"value"`
	Median   float64   `json:"median"`
	Scale    float64   `json:"scale"`
	Z        float64   `json:"z"`
	History  int       `json:"history"`          // baseline points judged against
	Detail   string    `json:"detail,omitempty"` // the new tools' names, for newTools
	Detected time.Time `json:"detectedAt"`
}

// Explanation says in one line what was flagged.
func (f Flag) Explanation() string {
	if f.Metric == MetricNewTools {
		return fmt.Sprintf("%s: %v tool(s) never seen in the baseline: %s", f.Metric, f.Value, f.Detail)
	}
	return fmt.Sprintf("%s %s against a median of %s over %d baseline points (robust z %+.1f)",
		f.Metric, trimNum(f.Value), trimNum(f.Median), f.History, f.Z)
}

// FlagID is the id of the flag of agent's metric for the period starting
// at start: the same anomaly found twice is one flag.
func FlagID(agentID, metric string, start time.Time) string {
	h := sha256.Sum256([]byte(agentID + "\x00" + metric + "\x00" + strconv.FormatInt(start.UTC().Unix(), 10)))
	return "an_" + hex.EncodeToString(h[:10])
}

// madScale makes the MAD a consistent estimator of the standard deviation
// of normally distributed data.
const madScale = 1.4826

// Median returns the median of xs (0 for none). It does not change xs.
//
// Median, MAD and the Jensen–Shannon divergence are a few lines each; they
// are written here rather than taken from a statistics library that would
// be this module's only use of it.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MAD returns the median absolute deviation of xs from med.
func MAD(xs []float64, med float64) float64 {
	d := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = math.Abs(x - med)
	}
	return Median(d)
}

// RobustZ returns (x − median) / scale against history, where scale is
// 1.4826·MAD or floor, whichever is larger (floor must be positive).
func RobustZ(x float64, history []float64, floor float64) (z, med, scale float64) {
	med = Median(history)
	scale = max(madScale*MAD(history, med), floor)
	return (x - med) / scale, med, scale
}

// JensenShannon returns the Jensen–Shannon divergence, in bits (so in
// [0,1]), between two distributions given as counts or weights by name.
// It is 0 when either is empty.
func JensenShannon(p, q map[string]float64) float64 {
	var sp, sq float64
	for _, v := range p {
		sp += v
	}
	for _, v := range q {
		sq += v
	}
	if sp <= 0 || sq <= 0 {
		return 0
	}
	kl := func(a map[string]float64, sa float64, other map[string]float64, so float64) float64 {
		var d float64
		for k, v := range a {
			if v <= 0 {
				continue
			}
			pa := v / sa
			m := (pa + other[k]/so) / 2
			d += pa * math.Log2(pa/m)
		}
		return d
	}
	js := (kl(p, sp, q, sq) + kl(q, sq, p, sp)) / 2
	return min(1, max(0, js))
}

func toFloats(m map[string]int) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = float64(v)
	}
	return out
}

// DetectRuntime judges the hour starting at at against the agent's own
// baseline, the Baseline before it, from its activity rollups (hours in
// any order; those outside the baseline and the hour are ignored). Counts
// and rates are flagged when they rise, never when they fall: silence is
// what the monitored badge and the gate watch. Each metric needs its
// minimum history, so a new agent is flagged on nothing.
func DetectRuntime(cfg Anomaly, agentID string, hours []Hour, at, now time.Time) []Flag {
	if !cfg.Enabled {
		return nil
	}
	at = at.UTC().Truncate(time.Hour)
	from := at.Add(-cfg.Baseline.Std())
	var cur Hour
	byStart := map[time.Time]Hour{}
	var base []Hour
	firstActive := time.Time{}
	for _, h := range hours {
		h.Start = h.Start.UTC()
		switch {
		case h.Start.Equal(at):
			cur = h
		case !h.Start.Before(from) && h.Start.Before(at):
			base = append(base, h)
			byStart[h.Start] = h
			if h.Records > 0 && (firstActive.IsZero() || h.Start.Before(firstActive)) {
				firstActive = h.Start
			}
		}
	}
	// A new agent pages no one: every runtime metric waits for
	// MinHistoryDays of history.
	if firstActive.IsZero() || cur.Records == 0 || at.Sub(firstActive) < time.Duration(cfg.MinHistoryDays)*day {
		return nil
	}
	var out []Flag
	flag := func(metric string, value, med, scale, z float64, n int, detail string) {
		out = append(out, Flag{ID: FlagID(agentID, metric, at), AgentID: agentID, Metric: metric, Start: at, End: at.Add(time.Hour),
			Value: round(value, 6), Median: round(med, 6), Scale: round(scale, 6), Z: round(z, 4), History: n, Detail: detail, Detected: now.UTC()})
	}

	// The same hour of the previous days: traffic follows the clock.
	var calls, distinct []float64
	for d := 1; d <= int(cfg.Baseline.Std()/day); d++ {
		t := at.Add(-time.Duration(d) * day)
		if t.Before(firstActive.Truncate(time.Hour)) {
			break
		}
		h := byStart[t]
		calls = append(calls, float64(h.ToolCalls))
		distinct = append(distinct, float64(len(h.Tools)))
	}
	if len(calls) >= cfg.MinHistoryDays {
		poisson := func(med float64) float64 { return math.Sqrt(max(med, 1)) }
		if z, med, sc := RobustZ(float64(cur.ToolCalls), calls, poisson(Median(calls))); z > cfg.Threshold {
			flag(MetricToolCalls, float64(cur.ToolCalls), med, sc, z, len(calls), "")
		}
		if z, med, sc := RobustZ(float64(len(cur.Tools)), distinct, poisson(Median(distinct))); z > cfg.Threshold {
			flag(MetricDistinctTools, float64(len(cur.Tools)), med, sc, z, len(distinct), "")
		}
	}

	// Rates and the tool mix over every busy hour of the baseline.
	if cur.Records >= cfg.MinRecords {
		var errs, viols []float64
		for _, h := range base {
			if h.Records >= cfg.MinRecords {
				errs = append(errs, float64(h.Errors)/float64(h.Records))
				viols = append(viols, float64(h.Violations)/float64(h.Records))
			}
		}
		if len(errs) >= cfg.MinHistoryHours {
			v := float64(cur.Errors) / float64(cur.Records)
			if z, med, sc := RobustZ(v, errs, cfg.RateFloor); z > cfg.Threshold {
				flag(MetricErrorRate, v, med, sc, z, len(errs), "")
			}
			v = float64(cur.Violations) / float64(cur.Records)
			if z, med, sc := RobustZ(v, viols, cfg.RateFloor); z > cfg.Threshold {
				flag(MetricViolationRate, v, med, sc, z, len(viols), "")
			}
		}
	}

	known := map[string]float64{}
	activeDays := map[time.Time]bool{}
	for _, h := range base {
		for t, n := range h.Tools {
			known[t] += float64(n)
		}
		if h.ToolCalls > 0 {
			activeDays[h.Start.Truncate(day)] = true
		}
	}
	// A tool is new when no call in the baseline used it; that means
	// something only once the agent has called tools on enough days.
	if len(activeDays) >= cfg.MinHistoryDays {
		var fresh []string
		for t := range cur.Tools {
			if known[t] == 0 {
				fresh = append(fresh, t)
			}
		}
		if len(fresh) > 0 {
			slices.Sort(fresh)
			shown := fresh[:min(len(fresh), 10)]
			flag(MetricNewTools, float64(len(fresh)), 0, 0, 0, len(activeDays), strings.Join(shown, ", "))
		}
	}
	if cur.ToolCalls >= cfg.MinToolCalls {
		// Each busy hour's divergence from the rest of the baseline (leave
		// one out), then this hour's from the whole baseline.
		var divs []float64
		for _, h := range base {
			if h.ToolCalls < cfg.MinToolCalls {
				continue
			}
			rest := make(map[string]float64, len(known))
			for t, n := range known {
				rest[t] = n - float64(h.Tools[t])
			}
			divs = append(divs, JensenShannon(toFloats(h.Tools), rest))
		}
		if len(divs) >= cfg.MinHistoryHours {
			v := JensenShannon(toFloats(cur.Tools), known)
			if z, med, sc := RobustZ(v, divs, cfg.DivergenceFloor); z > cfg.Threshold {
				flag(MetricToolMix, v, med, sc, z, len(divs), "")
			}
		}
	}
	return out
}

// DetectDimensions judges the current value of each score dimension
// against its daily values over the Baseline before today (the last score
// of each day, carried over days without a change). A dimension is flagged
// when it falls: by more than Threshold robust z-scores and by at least
// MinDimensionDrop. The flag's period is today.
func DetectDimensions(cfg Anomaly, agentID string, history []Snapshot, current Snapshot, now time.Time) []Flag {
	if !cfg.Enabled || current.Time.IsZero() {
		return nil
	}
	today := now.UTC().Truncate(day)
	snaps := slices.Clone(history)
	slices.SortStableFunc(snaps, func(a, b Snapshot) int { return a.Time.Compare(b.Time) })
	var daily []score.Dimensions
	for d := int(cfg.Baseline.Std() / day); d >= 1; d-- {
		end := today.Add(-time.Duration(d-1) * day) // the end of day today−d
		var last *Snapshot
		for i := range snaps {
			if snaps[i].Time.Before(end) {
				last = &snaps[i]
			}
		}
		if last != nil {
			daily = append(daily, last.Dimensions)
		}
	}
	if len(daily) < cfg.MinHistoryDays {
		return nil
	}
	var out []Flag
	for _, name := range score.DimensionNames() {
		hist := make([]float64, len(daily))
		for i := range daily {
			hist[i] = daily[i].Get(name)
		}
		v := current.Dimensions.Get(name)
		z, med, sc := RobustZ(v, hist, cfg.DimensionFloor)
		if z < -cfg.Threshold && med-v >= cfg.MinDimensionDrop-1e-9 {
			out = append(out, Flag{ID: FlagID(agentID, name, today), AgentID: agentID, Metric: name, Start: today, End: today.Add(day),
				Value: round(v, 6), Median: round(med, 6), Scale: round(sc, 6), Z: round(z, 4), History: len(hist), Detected: now.UTC()})
		}
	}
	return out
}
