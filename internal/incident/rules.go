package incident

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/probity-dev/probity/internal/score"
)

// Snapshot is an agent's score at one time: a stored snapshot (with its
// ledger leaf) or the score computed now (LedgerIndex −1).
type Snapshot struct {
	Time      time.Time
	Composite int
	// Undecayed is the composite before decay (1000·Σ weight·dimension).
	Undecayed   float64
	Dimensions  score.Dimensions
	LedgerIndex int64
}

// Case is one graded eval case (errors are not evidence).
type Case struct {
	RunID        string
	Seq          int
	Suite        string
	CaseID       string
	Time         time.Time
	Passed       bool
	Dimensions   []string
	ModelVersion string
	LedgerIndex  int64
}

// Injection is a confirmed injection-influenced action in production: a
// violation of clause injection.influenced that also broke the pact.
type Injection struct {
	ViolationID string
	Time        time.Time
	LedgerIndex int64
	RecordIDs   []string // the influenced call, then the flagged results
	Explanation string
}

// ModelChange is a change of the agent's model version.
type ModelChange struct {
	From, To string
	At       time.Time
}

// Inputs is what the rules are evaluated on, for one agent.
type Inputs struct {
	AgentID      string
	ModelVersion string // the agent's current model version
	// ModelChanges are the agent's model-version changes, oldest first.
	ModelChanges []ModelChange
	// Current is the score now; DecayDays how many days its composite has
	// been decaying; Evidence the effective evidence of each dimension;
	// ByModelVersion the dimensions of every model version
	// (score.Explanation).
	Current        Snapshot
	DecayDays      float64
	LastEvalAt     time.Time
	Evidence       score.Dimensions
	ByModelVersion map[string]score.VersionScore
	// History is the stored score snapshots, in any order.
	History []Snapshot
	// Cases are graded eval cases, in any order.
	Cases      []Case
	Injections []Injection
	Anomalies  []Flag
	// Since holds, per rule, when the agent's last incident of that rule
	// was resolved: evidence from before it was dealt with.
	Since map[string]Mark
}

// Mark is a point in an agent's history: a time, and the ledger index of
// the leaf written then. Evidence with a leaf is after a mark when its leaf
// is (records may carry any time); evidence without one, when its time is.
type Mark struct {
	At          time.Time
	LedgerIndex int64
}

// before reports whether evidence at t with leaf index (−1 for none) came
// after m. The zero Mark is before everything.
func (m Mark) before(t time.Time, index int64) bool {
	if m.At.IsZero() {
		return true
	}
	if index >= 0 {
		return index > m.LedgerIndex
	}
	return t.After(m.At)
}

// maxFindingEvidence bounds the evidence one finding lists: its first
// item and the newest.
const maxFindingEvidence = 50

// Evaluate returns what every enabled rule of cfg finds in in at now, in
// the order of RuleIDs. A rule finds nothing without evidence newer than
// the last resolution of its previous incident.
func Evaluate(cfg Config, in Inputs, now time.Time) []Finding {
	r := &cfg.Rules
	var out []Finding
	add := func(rule *Rule, id string, f *Finding) {
		if f == nil || !rule.Enabled {
			return
		}
		f.Rule, f.Severity = id, rule.Severity
		if n := len(f.Evidence); n > maxFindingEvidence {
			// The first item anchors the finding (the model change, the
			// peak, the first action); the rest are the newest.
			f.Evidence = append(f.Evidence[:1:1], f.Evidence[n-maxFindingEvidence+1:]...)
		}
		if f.Evidence == nil {
			f.Evidence = []Evidence{}
		}
		out = append(out, *f)
	}
	since := func(id string) Mark { return in.Since[id] }
	add(&r.SafetyPassRate.Rule, RuleSafetyPassRate, safetyPassRate(r.SafetyPassRate, in.Cases, since(RuleSafetyPassRate), now))
	add(&r.ScopeAdherenceDrop.Rule, RuleScopeAdherenceDrop, scopeDrop(r.ScopeAdherenceDrop, in, since(RuleScopeAdherenceDrop), now))
	add(&r.ConfirmedInjection, RuleConfirmedInjection, confirmedInjection(in.Injections, since(RuleConfirmedInjection), now))
	add(&r.CompositeDrop.Rule, RuleCompositeDrop, compositeDrop(r.CompositeDrop, in, since(RuleCompositeDrop), now))
	add(&r.AccuracyBelow.Rule, RuleAccuracyBelow, accuracyBelow(r.AccuracyBelow, in, since(RuleAccuracyBelow), now))
	add(&r.ModelUpdate.Rule, RuleModelUpdate, modelUpdate(r.ModelUpdate, in, since(RuleModelUpdate), now))
	add(&r.Decay.Rule, RuleDecay, decayed(r.Decay, in, since(RuleDecay), now))
	add(&r.Anomalies.Rule, RuleAnomalies, anomalies(r.Anomalies, in.Anomalies, since(RuleAnomalies), now))
	add(&r.CheckRegression.Rule, RuleCheckRegression, regression(r.CheckRegression, in.Cases, since(RuleCheckRegression), now))
	return out
}

func index(i int64) *int64 { return &i }

func caseEvidence(c Case, note string) Evidence {
	e := Evidence{Kind: EvidenceEvalResult, ID: c.RunID + "/" + strconv.Itoa(c.Seq), Time: c.Time.UTC(), Note: note}
	if c.LedgerIndex >= 0 {
		e.LedgerIndex = index(c.LedgerIndex)
	}
	return e
}

func snapshotEvidence(s Snapshot, note string) (Evidence, bool) {
	if s.LedgerIndex < 0 {
		return Evidence{}, false
	}
	return Evidence{Kind: EvidenceScore, ID: strconv.FormatInt(s.LedgerIndex, 10), LedgerIndex: index(s.LedgerIndex),
		Time: s.Time.UTC(), Note: note}, true
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// usable reports whether evidence at t with leaf index counts: after the
// last resolution and not in the future.
func usable(t time.Time, index int64, since Mark, now time.Time) bool {
	return since.before(t, index) && !t.After(now)
}

// safetyPassRate finds, among the windows of Window (24 hours by default)
// that end where an eval run's safety evidence ends and hold at least
// MinCases safety cases of any runs, the one with the lowest pass rate.
// Windows end with runs, not inside them: the order a run grades its cases
// in does not decide an incident.
func safetyPassRate(r SafetyPassRate, cases []Case, since Mark, now time.Time) *Finding {
	var cs []Case
	for _, c := range cases {
		if slices.Contains(c.Dimensions, score.Safety) && usable(c.Time, c.LedgerIndex, since, now) {
			cs = append(cs, c)
		}
	}
	slices.SortStableFunc(cs, func(a, b Case) int { return a.Time.Compare(b.Time) })
	lastOfRun := map[string]int{}
	for i, c := range cs {
		lastOfRun[c.RunID] = i
	}
	w := r.Window.Std()
	bestLo, bestHi, bestRate := -1, -1, 2.0
	lo, passed := 0, 0
	for hi := range cs {
		if cs[hi].Passed {
			passed++
		}
		for !cs[lo].Time.After(cs[hi].Time.Add(-w)) {
			if cs[lo].Passed {
				passed--
			}
			lo++
		}
		n := hi - lo + 1
		if lastOfRun[cs[hi].RunID] != hi || n < r.MinCases {
			continue
		}
		if rate := float64(passed) / float64(n); rate < r.Below && rate <= bestRate {
			bestLo, bestHi, bestRate = lo, hi, rate
		}
	}
	if bestHi < 0 {
		return nil
	}
	win := cs[bestLo : bestHi+1]
	var ev []Evidence
	failed := 0
	for _, c := range win {
		if !c.Passed {
			failed++
			ev = append(ev, caseEvidence(c, "failed safety case "+c.Suite+"/"+c.CaseID))
		}
	}
	return &Finding{
		Title: fmt.Sprintf("safety pass rate %.0f%% is below %.0f%% over %s (%d of %d cases passed)",
			100*bestRate, 100*r.Below, r.Window, len(win)-failed, len(win)),
		Observed: map[string]any{"passRate": round(bestRate, 4), "cases": len(win), "passed": len(win) - failed,
			"failed": failed, "windowStart": win[0].Time.UTC(), "windowEnd": win[len(win)-1].Time.UTC()},
		Threshold: fmt.Sprintf("pass rate < %v over %d or more safety cases", r.Below, r.MinCases),
		Window:    r.Window.String(),
		Evidence:  ev,
	}
}

// series returns the score points within window before now and after
// since, the current one last, oldest first.
func series(in Inputs, window time.Duration, since Mark, now time.Time) []Snapshot {
	from := now.Add(-window)
	var out []Snapshot
	for _, s := range in.History {
		if !s.Time.Before(from) && usable(s.Time, s.LedgerIndex, since, now) {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Snapshot) int { return a.Time.Compare(b.Time) })
	if !in.Current.Time.IsZero() && usable(in.Current.Time, -1, since, now) &&
		(len(out) == 0 || !in.Current.Time.Before(out[len(out)-1].Time)) {
		out = append(out, in.Current)
	}
	return out
}

// drawdown returns the largest fall from a point to a later one, and the
// two points.
func drawdown(pts []Snapshot, value func(Snapshot) float64) (fall float64, peak, trough int) {
	peak, trough = -1, -1
	best := 0
	for i := range pts {
		if value(pts[i]) > value(pts[best]) {
			best = i
		}
		if d := value(pts[best]) - value(pts[i]); d > fall {
			fall, peak, trough = d, best, i
		}
	}
	return fall, peak, trough
}

// dropFinding turns a drawdown of at least points into a finding.
func dropFinding(pts []Snapshot, value func(Snapshot) float64, scale, points float64, what, unit string, window Duration) *Finding {
	fall, p, t := drawdown(pts, value)
	// A hair of tolerance: values are stored rounded.
	if p < 0 || fall*scale < points-1e-6 {
		return nil
	}
	var ev []Evidence
	if e, ok := snapshotEvidence(pts[p], "peak"); ok {
		ev = append(ev, e)
	}
	if e, ok := snapshotEvidence(pts[t], "after the drop"); ok {
		ev = append(ev, e)
	}
	if t == len(pts)-1 && pts[t].LedgerIndex < 0 {
		// The fall ends now: the newest stored snapshot is evidence too.
		for i := len(pts) - 2; i > p; i-- {
			if e, ok := snapshotEvidence(pts[i], "latest stored"); ok {
				ev = append(ev, e)
				break
			}
		}
	}
	from, to := value(pts[p]), value(pts[t])
	return &Finding{
		Title: fmt.Sprintf("%s dropped %s %s in %s (from %s to %s)", what, trimNum(fall*scale), unit, window,
			trimNum(from), trimNum(to)),
		Observed: map[string]any{"from": round(from, 4), "to": round(to, 4), "drop": round(fall*scale, 2),
			"peakAt": pts[p].Time.UTC(), "lowAt": pts[t].Time.UTC()},
		Threshold: fmt.Sprintf("a drop of %s %s or more", trimNum(points), unit),
		Window:    window.String(),
		Evidence:  ev,
	}
}

func trimNum(v float64) string { return strconv.FormatFloat(round(v, 2), 'f', -1, 64) }

func scopeDrop(r Drop, in Inputs, since Mark, now time.Time) *Finding {
	pts := series(in, r.Window.Std(), since, now)
	return dropFinding(pts, func(s Snapshot) float64 { return s.Dimensions.ScopeAdherence }, 100, r.Points,
		"scopeAdherence", "points", r.Window)
}

func compositeDrop(r CompositeDrop, in Inputs, since Mark, now time.Time) *Finding {
	pts := series(in, r.Window.Std(), since, now)
	value := func(s Snapshot) float64 { return s.Undecayed }
	what := "composite before decay"
	if r.IncludeDecay {
		value, what = func(s Snapshot) float64 { return float64(s.Composite) }, "composite"
	}
	f := dropFinding(pts, value, 1, r.Points, what, "points", r.Window)
	if f != nil {
		f.Observed["includeDecay"] = r.IncludeDecay
	}
	return f
}

func confirmedInjection(injs []Injection, since Mark, now time.Time) *Finding {
	var use []Injection
	for _, j := range injs {
		// A record's time is the agent's clock: what orders an influenced
		// action after a resolution is its leaf.
		if since.before(j.Time, j.LedgerIndex) {
			use = append(use, j)
		}
	}
	if len(use) == 0 {
		return nil
	}
	slices.SortStableFunc(use, func(a, b Injection) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.LedgerIndex, b.LedgerIndex))
	})
	var ev []Evidence
	for _, j := range use {
		ev = append(ev, Evidence{Kind: EvidenceViolation, ID: j.ViolationID, LedgerIndex: index(j.LedgerIndex), Time: j.Time.UTC(),
			Note: "confirmed injection-influenced action"})
		for i, id := range j.RecordIDs {
			note := "the tool result it carried tokens from"
			if i == 0 {
				note = "the influenced tool call"
			}
			ev = append(ev, Evidence{Kind: EvidenceRecord, ID: id, Time: j.Time.UTC(), Note: note})
		}
	}
	last := use[len(use)-1]
	first := ""
	if len(last.RecordIDs) > 0 {
		first = last.RecordIDs[0]
	}
	return &Finding{
		Title:     fmt.Sprintf("confirmed injection-influenced action in production (%d, latest %s)", len(use), last.ViolationID),
		Observed:  map[string]any{"actions": len(use), "latestViolation": last.ViolationID, "latestCall": first, "latestAt": last.Time.UTC()},
		Threshold: "any tool call influenced by injected content that also broke the pact",
		Evidence:  ev,
	}
}

func accuracyBelow(r Below, in Inputs, since Mark, now time.Time) *Finding {
	acc, n := in.Current.Dimensions.Accuracy, in.Evidence.Accuracy
	if in.Current.Time.IsZero() || acc >= r.Below || n < r.MinEvidence {
		return nil
	}
	// After a resolution, only new accuracy evidence reopens it.
	var fresh []Case
	for _, c := range in.Cases {
		if slices.Contains(c.Dimensions, score.Accuracy) && usable(c.Time, c.LedgerIndex, since, now) {
			fresh = append(fresh, c)
		}
	}
	if !since.At.IsZero() && len(fresh) == 0 {
		return nil
	}
	slices.SortStableFunc(fresh, func(a, b Case) int { return a.Time.Compare(b.Time) })
	var ev []Evidence
	for _, c := range fresh {
		if !c.Passed {
			ev = append(ev, caseEvidence(c, "failed accuracy case "+c.Suite+"/"+c.CaseID))
		}
	}
	if e, ok := latestSnapshot(in); ok {
		ev = append(ev, e)
	}
	return &Finding{
		Title:     fmt.Sprintf("accuracy %.2f is below its critical threshold %.2f", acc, r.Below),
		Observed:  map[string]any{"accuracy": round(acc, 4), "effectiveEvidence": round(n, 2)},
		Threshold: fmt.Sprintf("accuracy < %v with %v or more effective observations", r.Below, r.MinEvidence),
		Evidence:  ev,
	}
}

// latestSnapshot is the newest stored snapshot, as evidence.
func latestSnapshot(in Inputs) (Evidence, bool) {
	var best *Snapshot
	for i := range in.History {
		if s := &in.History[i]; s.LedgerIndex >= 0 && (best == nil || s.Time.After(best.Time)) {
			best = s
		}
	}
	if best == nil {
		return Evidence{}, false
	}
	return snapshotEvidence(*best, "the latest stored score")
}

// modelUpdate compares the current model version with the one before it.
func modelUpdate(r ModelShift, in Inputs, since Mark, now time.Time) *Finding {
	var ch *ModelChange
	for i := len(in.ModelChanges) - 1; i >= 0; i-- {
		if c := in.ModelChanges[i]; c.To == in.ModelVersion && c.From != "" && c.From != c.To {
			ch = &in.ModelChanges[i]
			break
		}
	}
	if ch == nil || !usable(ch.At, -1, since, now) {
		return nil
	}
	from, okFrom := in.ByModelVersion[ch.From]
	to, okTo := in.ByModelVersion[ch.To]
	if !okFrom || !okTo {
		return nil
	}
	type moved struct {
		name           string
		from, to, diff float64
	}
	var ms []moved
	for name, d := range score.ModelDelta(from, to) {
		if math.Abs(d) > r.Points && from.Evidence.Get(name) >= r.MinEvidence && to.Evidence.Get(name) >= r.MinEvidence {
			ms = append(ms, moved{name, from.Dimensions.Get(name), to.Dimensions.Get(name), d})
		}
	}
	if len(ms) == 0 {
		return nil
	}
	// The largest move first, then by name.
	slices.SortFunc(ms, func(a, b moved) int {
		return cmp.Or(cmp.Compare(math.Abs(b.diff), math.Abs(a.diff)), strings.Compare(a.name, b.name))
	})
	dims := map[string]any{}
	var names []string
	for _, m := range ms {
		dims[m.name] = map[string]any{"from": round(m.from, 4), "to": round(m.to, 4), "points": round(m.diff, 2)}
		names = append(names, m.name)
	}
	ev := []Evidence{{Kind: EvidenceModelChange, ID: ch.From + "→" + ch.To, Time: ch.At.UTC(),
		Note: "model version " + ch.From + " → " + ch.To}}
	for _, c := range in.Cases {
		if c.ModelVersion == ch.To && !c.Passed && slices.ContainsFunc(c.Dimensions, func(d string) bool { return slices.Contains(names, d) }) {
			ev = append(ev, caseEvidence(c, "failed on "+ch.To+": "+c.Suite+"/"+c.CaseID))
		}
	}
	slices.SortStableFunc(ev[1:], func(a, b Evidence) int { return a.Time.Compare(b.Time) })
	if e, ok := latestSnapshot(in); ok {
		ev = append(ev, e)
	}
	top := ms[0]
	return &Finding{
		Title: fmt.Sprintf("model update %s → %s moved %s by %+.0f points (%.2f → %.2f)", ch.From, ch.To, top.name, top.diff, top.from, top.to),
		Observed: map[string]any{"fromVersion": ch.From, "toVersion": ch.To, "changedAt": ch.At.UTC(),
			"dimension": top.name, "dimensions": dims},
		Threshold: fmt.Sprintf("a dimension moves by more than %s points, with %v or more effective observations on each version", trimNum(r.Points), r.MinEvidence),
		Evidence:  ev,
	}
}

func decayed(r Decay, in Inputs, since Mark, now time.Time) *Finding {
	if in.Current.Time.IsZero() || in.DecayDays*float64(day) < float64(r.After.Std()) {
		return nil
	}
	started := now.Add(-time.Duration(in.DecayDays * float64(day)))
	if !started.After(since.At) {
		return nil // the incident of this decay was resolved
	}
	var ev []Evidence
	if e, ok := latestSnapshot(in); ok {
		ev = append(ev, e)
	}
	last := "never"
	if !in.LastEvalAt.IsZero() {
		last = in.LastEvalAt.UTC().Format(time.RFC3339)
	}
	obs := map[string]any{"decayDays": round(in.DecayDays, 2), "composite": in.Current.Composite,
		"undecayed": round(in.Current.Undecayed, 2), "decayingSince": started.UTC()}
	if !in.LastEvalAt.IsZero() {
		obs["lastEvalAt"] = in.LastEvalAt.UTC()
	}
	return &Finding{
		Title:     fmt.Sprintf("composite decaying for %.0f days without fresh evals (last eval: %s)", math.Floor(in.DecayDays), last),
		Observed:  obs,
		Threshold: fmt.Sprintf("decaying for %s or more", r.After),
		Window:    r.After.String(),
		Evidence:  ev,
	}
}

// anomalies finds flags on at least MinMetrics metrics whose periods
// overlap: the largest such group.
func anomalies(r MultiAnomaly, flags []Flag, since Mark, now time.Time) *Finding {
	var fs []Flag
	for _, f := range flags {
		if f.End.After(since.At) && !f.Start.After(now) {
			fs = append(fs, f)
		}
	}
	var best []Flag
	bestN := 0
	for _, f := range fs {
		var group []Flag
		metrics := map[string]bool{}
		for _, g := range fs {
			if g.Start.Before(f.End) && f.Start.Before(g.End) {
				group = append(group, g)
				metrics[g.Metric] = true
			}
		}
		if len(metrics) > bestN || (len(metrics) == bestN && len(group) > len(best)) {
			best, bestN = group, len(metrics)
		}
	}
	if bestN < r.MinMetrics {
		return nil
	}
	slices.SortStableFunc(best, func(a, b Flag) int { return cmp.Or(a.Start.Compare(b.Start), strings.Compare(a.Metric, b.Metric)) })
	var ev []Evidence
	var names []string
	metrics := map[string]any{}
	for _, f := range best {
		ev = append(ev, Evidence{Kind: EvidenceAnomaly, ID: f.ID, Time: f.End.UTC(), Note: f.Explanation()})
		if !slices.Contains(names, f.Metric) {
			names = append(names, f.Metric)
		}
		metrics[f.Metric] = map[string]any{"value": round(f.Value, 4), "median": round(f.Median, 4), "z": round(f.Z, 2)}
	}
	return &Finding{
		Title:     fmt.Sprintf("anomalies on %d metrics at once: %s", len(names), strings.Join(names, ", ")),
		Observed:  map[string]any{"metrics": metrics},
		Threshold: fmt.Sprintf("anomalies flagged on %d or more metrics in overlapping periods", r.MinMetrics),
		Evidence:  ev,
	}
}

// regression finds eval cases whose newest result failed after at least
// MinPasses passes in a row.
func regression(r Regression, cases []Case, since Mark, now time.Time) *Finding {
	from := now.Add(-r.Lookback.Std())
	by := map[string][]Case{}
	var keys []string
	for _, c := range cases {
		if c.Time.Before(from) || c.Time.After(now) {
			continue
		}
		k := c.Suite + "/" + c.CaseID
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], c)
	}
	slices.Sort(keys)
	var ev []Evidence
	var regressed []string
	for _, k := range keys {
		cs := by[k]
		slices.SortStableFunc(cs, func(a, b Case) int { return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.LedgerIndex, b.LedgerIndex)) })
		last := cs[len(cs)-1]
		if last.Passed || !since.before(last.Time, last.LedgerIndex) || len(cs) < r.MinPasses+1 {
			continue
		}
		prev := cs[len(cs)-1-r.MinPasses : len(cs)-1]
		if slices.ContainsFunc(prev, func(c Case) bool { return !c.Passed }) {
			continue
		}
		regressed = append(regressed, k)
		ev = append(ev, caseEvidence(prev[len(prev)-1], "last pass of "+k), caseEvidence(last, "now fails: "+k))
	}
	if len(regressed) == 0 {
		return nil
	}
	shown := regressed[:min(len(regressed), 5)]
	more := ""
	if len(regressed) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(regressed)-len(shown))
	}
	return &Finding{
		Title:     fmt.Sprintf("%d eval case(s) that passed consistently now fail: %s%s", len(regressed), strings.Join(shown, ", "), more),
		Observed:  map[string]any{"cases": regressed, "count": len(regressed)},
		Threshold: fmt.Sprintf("a case fails after %d or more passes in a row", r.MinPasses),
		Window:    r.Lookback.String(),
		Evidence:  ev,
	}
}
