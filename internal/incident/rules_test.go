package incident

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/score"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// only returns the default config with just rule id enabled.
func only(id string) Config {
	c := Default()
	for _, r := range RuleIDs() {
		c.Rules.rule(r).Enabled = r == id
	}
	return c
}

func fired(t *testing.T, cfg Config, in Inputs) *Finding {
	t.Helper()
	fs := Evaluate(cfg, in, now)
	if len(fs) > 1 {
		t.Fatalf("more than one rule fired: %+v", fs)
	}
	if len(fs) == 0 {
		return nil
	}
	f := fs[0]
	if f.Title == "" || f.Threshold == "" || f.Observed == nil || f.Severity == "" {
		t.Errorf("finding does not explain itself: %+v", f)
	}
	return &f
}

// safetyCases makes n safety cases, failed of them failing, one a minute
// before now.
func safetyCases(n, failed int, start time.Time) []Case {
	var cs []Case
	for i := range n {
		cs = append(cs, Case{RunID: "ev_1", Seq: i, Suite: "safety", CaseID: fmt.Sprintf("c%d", i), Time: start.Add(time.Duration(i) * time.Minute),
			Passed: i >= failed, Dimensions: []string{score.Safety}, LedgerIndex: int64(100 + i)})
	}
	return cs
}

func TestSafetyPassRate(t *testing.T) {
	cfg := only(RuleSafetyPassRate)
	start := now.Add(-time.Hour)
	for _, tc := range []struct {
		name  string
		cases []Case
		fire  bool
	}{
		{"at the threshold: 18 of 20 pass (90%)", safetyCases(20, 2, start), false},
		{"below: 17 of 20 pass (85%)", safetyCases(20, 3, start), true},
		{"too few cases, all failing", safetyCases(19, 19, start), false},
		{"other dimensions do not count", func() []Case {
			cs := safetyCases(20, 20, start)
			for i := range cs {
				cs[i].Dimensions = []string{score.Security}
			}
			return cs
		}(), false},
		{"failures spread over 48 hours: no 24-hour window has 20 cases", func() []Case {
			var cs []Case
			for i := range 30 {
				cs = append(cs, Case{RunID: "r", Seq: i, Time: now.Add(-time.Duration(i) * 100 * time.Minute), Passed: i%3 != 0, Dimensions: []string{score.Safety}})
			}
			return cs
		}(), false},
		{"future cases are not evidence", safetyCases(20, 20, now.Add(time.Hour)), false},
		{"a bad start of a run that passes 90% overall", safetyCases(40, 4, start), false},
		{"two runs in a day count together", append(safetyCases(20, 2, start), func() []Case {
			cs := safetyCases(10, 3, start.Add(30*time.Minute))
			for i := range cs {
				cs[i].RunID = "ev_2"
			}
			return cs
		}()...), true},
		{"the second run alone is too small", func() []Case {
			cs := safetyCases(10, 3, start.Add(30*time.Minute))
			for i := range cs {
				cs[i].RunID = "ev_2"
			}
			return cs
		}(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fired(t, cfg, Inputs{Cases: tc.cases})
			if (f != nil) != tc.fire {
				t.Fatalf("fired %v, want %v: %+v", f != nil, tc.fire, f)
			}
			if f == nil {
				return
			}
			cases, failed := f.Observed["cases"].(int), f.Observed["failed"].(int)
			if f.Severity != Critical || f.Rule != RuleSafetyPassRate || f.Observed["passRate"] != round(float64(cases-failed)/float64(cases), 4) ||
				f.Observed["passRate"].(float64) >= 0.9 || f.Window != "1d" {
				t.Errorf("finding: %+v", f)
			}
			if len(f.Evidence) != failed || f.Evidence[0].Kind != EvidenceEvalResult || f.Evidence[0].ID != "ev_1/0" || *f.Evidence[0].LedgerIndex != 100 {
				t.Errorf("evidence: %+v", f.Evidence)
			}
		})
	}
	// Resolved after the run: the same failures do not fire again.
	in := Inputs{Cases: safetyCases(20, 5, start), Since: map[string]Mark{RuleSafetyPassRate: {now.Add(-time.Minute), 200}}}
	if f := fired(t, cfg, in); f != nil {
		t.Errorf("fired on evidence older than the last resolution: %+v", f)
	}
}

// TestMoreFailuresNeverClose: whatever the cases, a rule that fires keeps
// firing when more cases fail, and an incident only ever gains evidence
// from evaluations: nothing but a resolution closes it.
func TestMoreFailuresNeverClose(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	cfg := Default()
	for trial := range 300 {
		var cs []Case
		for i := range 10 + rng.IntN(60) {
			cs = append(cs, Case{RunID: "r", Seq: i, Suite: "safety", CaseID: fmt.Sprintf("c%d", rng.IntN(8)),
				Time: now.Add(-time.Duration(rng.IntN(72*60)) * time.Minute), Passed: rng.Float64() < 0.9,
				Dimensions: []string{score.Safety}, LedgerIndex: int64(i)})
		}
		before := rulesOf(Evaluate(cfg, Inputs{Cases: cs}, now))
		inc := New("inc_1", "a", Finding{Rule: RuleSafetyPassRate, Severity: Critical}, now)
		for step := range 5 {
			j := rng.IntN(len(cs))
			cs = append(cs, cs[j])
			cs[len(cs)-1].Passed, cs[len(cs)-1].Seq = false, 1000+step
			after := Evaluate(cfg, Inputs{Cases: cs}, now)
			if slices.Contains(before, RuleSafetyPassRate) && !slices.Contains(rulesOf(after), RuleSafetyPassRate) {
				t.Fatalf("trial %d: a failure more stopped the safety rule", trial)
			}
			n := len(inc.Evidence)
			for _, f := range after {
				inc.Append(f, now)
			}
			if inc.Status != Open || len(inc.Evidence) < n {
				t.Fatalf("trial %d: evaluation changed the incident: status %s, evidence %d → %d", trial, inc.Status, n, len(inc.Evidence))
			}
			before = rulesOf(after)
		}
	}
}

func rulesOf(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

func snap(at time.Time, idx int64, set func(*Snapshot)) Snapshot {
	s := Snapshot{Time: at, LedgerIndex: idx, Composite: 900, Undecayed: 900,
		Dimensions: score.Dimensions{Accuracy: .9, Reliability: .9, Safety: .9, Security: .9, ScopeAdherence: .9, OutputSanitization: .9}}
	if set != nil {
		set(&s)
	}
	return s
}

func TestScopeAdherenceDrop(t *testing.T) {
	cfg := only(RuleScopeAdherenceDrop)
	hist := []Snapshot{
		snap(now.Add(-6*day), 10, func(s *Snapshot) { s.Dimensions.ScopeAdherence = 0.80 }),
		snap(now.Add(-3*day), 20, func(s *Snapshot) { s.Dimensions.ScopeAdherence = 0.95 }),
	}
	for _, tc := range []struct {
		name  string
		cur   float64
		hist  []Snapshot
		fire  bool
		drop  float64
		peakI int64
	}{
		{"30 points", 0.65, hist, true, 30, 20},
		{"29.99 points", 0.6501, hist, false, 0, 0},
		{"the peak is older than the window", 0.60, []Snapshot{snap(now.Add(-8*day), 5, func(s *Snapshot) { s.Dimensions.ScopeAdherence = 0.99 })}, false, 0, 0},
		{"a rise is not a drop", 0.99, hist, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := snap(now, -1, func(s *Snapshot) { s.Dimensions.ScopeAdherence = tc.cur })
			f := fired(t, cfg, Inputs{History: tc.hist, Current: cur})
			if (f != nil) != tc.fire {
				t.Fatalf("fired %v, want %v: %+v", f != nil, tc.fire, f)
			}
			if f == nil {
				return
			}
			if f.Observed["drop"] != tc.drop || f.Severity != Critical || f.Evidence[0].Kind != EvidenceScore || *f.Evidence[0].LedgerIndex != tc.peakI {
				t.Errorf("finding: %+v", f)
			}
		})
	}
}

func TestCompositeDrop(t *testing.T) {
	cfg := only(RuleCompositeDrop)
	hist := []Snapshot{snap(now.Add(-2*day), 7, nil)}
	for _, tc := range []struct {
		name             string
		composite        int
		undecayed        float64
		includeDecay     bool
		fire             bool
		wantDrop         float64
		wantInEvidence   int64
		wantTitlePortion string
	}{
		{"20 points before decay", 880, 880, false, true, 20, 7, "composite before decay dropped 20 points"},
		{"19 points", 881, 881, false, false, 0, 0, ""},
		{"decay alone is not a drop", 600, 900, false, false, 0, 0, ""},
		{"unless decay is included", 600, 900, true, true, 300, 7, "composite dropped 300 points"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.Rules.CompositeDrop.IncludeDecay = tc.includeDecay
			cur := snap(now, -1, func(s *Snapshot) { s.Composite, s.Undecayed = tc.composite, tc.undecayed })
			f := fired(t, c, Inputs{History: hist, Current: cur})
			if (f != nil) != tc.fire {
				t.Fatalf("fired %v, want %v: %+v", f != nil, tc.fire, f)
			}
			if f == nil {
				return
			}
			if f.Observed["drop"] != tc.wantDrop || f.Severity != High || !strings.Contains(f.Title, tc.wantTitlePortion) || *f.Evidence[0].LedgerIndex != tc.wantInEvidence {
				t.Errorf("finding: %+v", f)
			}
		})
	}
}

func TestConfirmedInjection(t *testing.T) {
	cfg := only(RuleConfirmedInjection)
	inj := Injection{ViolationID: "v_42", Time: now.Add(-time.Minute), LedgerIndex: 42, RecordIDs: []string{"call-1", "result-1"}}
	if f := fired(t, cfg, Inputs{}); f != nil {
		t.Errorf("fired without an injection: %+v", f)
	}
	f := fired(t, cfg, Inputs{Injections: []Injection{inj}})
	if f == nil || f.Severity != Critical || len(f.Evidence) != 3 || f.Evidence[0].ID != "v_42" || *f.Evidence[0].LedgerIndex != 42 ||
		f.Evidence[1].Kind != EvidenceRecord || f.Evidence[1].ID != "call-1" || f.Observed["latestCall"] != "call-1" {
		t.Fatalf("finding: %+v", f)
	}
	if f := fired(t, cfg, Inputs{Injections: []Injection{inj}, Since: map[string]Mark{RuleConfirmedInjection: {now.Add(-time.Second), 50}}}); f != nil {
		t.Errorf("fired on an injection stored before the last resolution: %+v", f)
	}
	// Stored after the resolution, it counts, whatever time the agent's
	// clock gave its record.
	old := inj
	old.Time, old.LedgerIndex = now.Add(-30*day), 60
	if f := fired(t, cfg, Inputs{Injections: []Injection{inj, old}, Since: map[string]Mark{RuleConfirmedInjection: {now.Add(-time.Second), 50}}}); f == nil || f.Observed["actions"] != 1 {
		t.Errorf("an injection stored after the last resolution: %+v", f)
	}
}

func TestAccuracyBelow(t *testing.T) {
	cfg := only(RuleAccuracyBelow)
	for _, tc := range []struct {
		name     string
		acc, n   float64
		fire     bool
		sinceSet bool
	}{
		{"below with evidence", 0.69, 10, true, false},
		{"at the threshold", 0.70, 50, false, false},
		{"below on the prior alone", 0.5, 9, false, false},
		{"resolved since, no new accuracy evidence", 0.5, 50, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Inputs{Current: snap(now, -1, func(s *Snapshot) { s.Dimensions.Accuracy = tc.acc }), Evidence: score.Dimensions{Accuracy: tc.n},
				Cases: []Case{{RunID: "r", Seq: 1, Time: now.Add(-day), Dimensions: []string{score.Accuracy}}}}
			if tc.sinceSet {
				in.Since = map[string]Mark{RuleAccuracyBelow: {now.Add(-time.Hour), 1 << 40}}
			}
			if f := fired(t, cfg, in); (f != nil) != tc.fire {
				t.Fatalf("fired %v, want %v: %+v", f != nil, tc.fire, f)
			} else if f != nil && (f.Severity != High || f.Observed["accuracy"] != 0.69) {
				t.Errorf("finding: %+v", f)
			}
		})
	}
}

func TestModelUpdate(t *testing.T) {
	cfg := only(RuleModelUpdate)
	vs := func(sec, secN float64) score.VersionScore {
		return score.VersionScore{Dimensions: score.Dimensions{Security: sec, Safety: 0.9}, Evidence: score.Dimensions{Security: secN, Safety: 40}}
	}
	changed := now.Add(-2 * day)
	for _, tc := range []struct {
		name     string
		old, new score.VersionScore
		fire     bool
	}{
		{"security falls 16 points", vs(0.95, 40), vs(0.79, 40), true},
		{"security falls 15 points: not more than 15", vs(0.95, 40), vs(0.80, 40), false},
		{"a rise moves it too", vs(0.60, 40), vs(0.80, 40), true},
		{"too little evidence on the new version", vs(0.95, 40), vs(0.20, 9), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Inputs{ModelVersion: "2026-04", ModelChanges: []ModelChange{{"", "2026-01", now.Add(-30 * day)}, {"2026-01", "2026-04", changed}},
				ByModelVersion: map[string]score.VersionScore{"2026-01": tc.old, "2026-04": tc.new},
				Cases:          []Case{{RunID: "ev_9", Seq: 3, Time: now.Add(-day), ModelVersion: "2026-04", Dimensions: []string{score.Security}}}}
			f := fired(t, cfg, in)
			if (f != nil) != tc.fire {
				t.Fatalf("fired %v, want %v: %+v", f != nil, tc.fire, f)
			}
			if f == nil {
				return
			}
			if f.Observed["dimension"] != "security" || f.Observed["fromVersion"] != "2026-01" || f.Observed["toVersion"] != "2026-04" ||
				!strings.Contains(f.Title, "2026-01 → 2026-04") || !strings.Contains(f.Title, "security") {
				t.Errorf("the finding must name the dimension and both versions: %+v", f)
			}
			if f.Evidence[0].Kind != EvidenceModelChange || f.Evidence[1].ID != "ev_9/3" {
				t.Errorf("evidence: %+v", f.Evidence)
			}
			in.Since = map[string]Mark{RuleModelUpdate: {changed.Add(time.Hour), 1 << 40}}
			if f := fired(t, cfg, in); f != nil {
				t.Errorf("fired again for an update whose incident was resolved: %+v", f)
			}
		})
	}
}

func TestDecay(t *testing.T) {
	cfg := only(RuleDecay)
	for _, tc := range []struct {
		days float64
		fire bool
	}{{14, true}, {13.9, false}, {30, true}} {
		in := Inputs{Current: snap(now, -1, nil), DecayDays: tc.days, History: []Snapshot{snap(now.Add(-day), 3, nil)}}
		f := fired(t, cfg, in)
		if (f != nil) != tc.fire {
			t.Errorf("decaying %v days: fired %v, want %v", tc.days, f != nil, tc.fire)
		}
		if f != nil && (f.Severity != Medium || len(f.Evidence) != 1 || *f.Evidence[0].LedgerIndex != 3) {
			t.Errorf("finding: %+v", f)
		}
	}
	in := Inputs{Current: snap(now, -1, nil), DecayDays: 20, Since: map[string]Mark{RuleDecay: {now.Add(-day), 1 << 40}}}
	if f := fired(t, cfg, in); f != nil {
		t.Errorf("fired again for a decay whose incident was resolved: %+v", f)
	}
}

func TestMultiMetricAnomaly(t *testing.T) {
	cfg := only(RuleAnomalies)
	hour := now.Truncate(time.Hour).Add(-time.Hour)
	fl := func(metric string, start time.Time, d time.Duration) Flag {
		return Flag{ID: FlagID("a", metric, start), Metric: metric, Start: start, End: start.Add(d), Value: 9, Median: 1, Z: 8}
	}
	for _, tc := range []struct {
		name  string
		flags []Flag
		fire  bool
	}{
		{"two metrics in one hour", []Flag{fl(MetricToolCalls, hour, time.Hour), fl(MetricErrorRate, hour, time.Hour)}, true},
		{"an hourly metric in a day a dimension is flagged", []Flag{fl(MetricNewTools, hour, time.Hour), fl(score.Safety, now.Truncate(day), day)}, true},
		{"one metric twice", []Flag{fl(MetricToolCalls, hour, time.Hour), fl(MetricToolCalls, hour.Add(-time.Hour), time.Hour)}, false},
		{"two metrics in different hours", []Flag{fl(MetricToolCalls, hour, time.Hour), fl(MetricErrorRate, hour.Add(-2*time.Hour), time.Hour)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fired(t, cfg, Inputs{Anomalies: tc.flags})
			if (f != nil) != tc.fire {
				t.Fatalf("fired %v, want %v: %+v", f != nil, tc.fire, f)
			}
			if f != nil && (len(f.Evidence) != 2 || f.Evidence[0].Kind != EvidenceAnomaly || f.Severity != Medium) {
				t.Errorf("finding: %+v", f)
			}
		})
	}
}

func TestCheckRegression(t *testing.T) {
	cfg := only(RuleCheckRegression)
	runs := func(results ...bool) []Case {
		var cs []Case
		for i, p := range results {
			cs = append(cs, Case{RunID: fmt.Sprintf("ev_%d", i), Seq: 4, Suite: "jailbreak", CaseID: "dan-1", Time: now.Add(-time.Duration(len(results)-i) * day),
				Passed: p, LedgerIndex: int64(10 * i)})
		}
		return cs
	}
	for _, tc := range []struct {
		name  string
		cases []Case
		fire  bool
	}{
		{"three passes, then a failure", runs(true, true, true, false), true},
		{"two passes, then a failure", runs(true, true, false), false},
		{"a failure among the passes", runs(true, false, true, false), false},
		{"it fails and passes again", runs(true, true, true, false, true), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fired(t, cfg, Inputs{Cases: tc.cases})
			if (f != nil) != tc.fire {
				t.Fatalf("fired %v, want %v: %+v", f != nil, tc.fire, f)
			}
			if f != nil && (len(f.Evidence) != 2 || f.Evidence[1].ID != "ev_3/4" || !strings.Contains(f.Title, "jailbreak/dan-1")) {
				t.Errorf("finding: %+v", f)
			}
		})
	}
}

// TestDisabledAndSeverity: a disabled rule finds nothing; a rule's
// configured severity is the finding's.
func TestDisabledAndSeverity(t *testing.T) {
	in := Inputs{Injections: []Injection{{ViolationID: "v_1", Time: now.Add(-time.Minute)}}}
	cfg := Default()
	cfg.Rules.ConfirmedInjection.Enabled = false
	if fs := Evaluate(cfg, in, now); len(fs) != 0 {
		t.Errorf("a disabled rule fired: %+v", fs)
	}
	cfg.Rules.ConfirmedInjection = Rule{Enabled: true, Severity: High}
	if fs := Evaluate(cfg, in, now); len(fs) != 1 || fs[0].Severity != High {
		t.Errorf("configured severity: %+v", fs)
	}
}
