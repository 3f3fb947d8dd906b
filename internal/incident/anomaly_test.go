package incident

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/score"
)

func TestStatistics(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"median odd", Median([]float64{5, 1, 3}), 3},
		{"median even", Median([]float64{4, 1, 3, 2}), 2.5},
		{"median none", Median(nil), 0},
		// |x − 3| = 2, 1, 0, 1, 97: median 1.
		{"MAD", MAD([]float64{1, 2, 3, 4, 100}, 3), 1},
		{"JS of the same mix", JensenShannon(map[string]float64{"a": 3, "b": 1}, map[string]float64{"a": 30, "b": 10}), 0},
		{"JS of disjoint mixes", JensenShannon(map[string]float64{"a": 1}, map[string]float64{"b": 5}), 1},
		// p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4);
		// KL(p‖m) = ½log2(2/3) + ½log2(2) ≈ 0.2075, KL(q‖m) = log2(4/3) ≈ 0.4150.
		{"JS of a half overlap", JensenShannon(map[string]float64{"a": 1, "b": 1}, map[string]float64{"a": 2}), (0.5*math.Log2(2.0/3) + 0.5 + math.Log2(4.0/3)) / 2},
		{"JS with an empty side", JensenShannon(nil, map[string]float64{"a": 1}), 0},
	} {
		if math.Abs(tc.got-tc.want) > 1e-9 {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	// Robust: one wild value in the history barely moves the median and MAD.
	z, med, scale := RobustZ(20, []float64{10, 11, 9, 10, 12, 10, 1000}, 0.5)
	if med != 10 || math.Abs(scale-1.4826) > 1e-9 || math.Abs(z-10/1.4826) > 1e-9 {
		t.Errorf("robust z: z %v, median %v, scale %v", z, med, scale)
	}
	if _, _, scale := RobustZ(5, []float64{3, 3, 3}, 0.25); scale != 0.25 {
		t.Errorf("the floor holds a flat history's scale: %v", scale)
	}
}

// agentHours makes days of hourly activity for an agent that calls two
// tools roughly equally, with Poisson-like noise, an error now and then,
// and no violations.
func agentHours(rng *rand.Rand, days int, at time.Time) []Hour {
	var hs []Hour
	for h := days * 24; h >= 1; h-- {
		start := at.Add(-time.Duration(h) * time.Hour)
		calls := 90 + rng.IntN(21) // 90–110
		a := calls/2 + rng.IntN(7) - 3
		hs = append(hs, Hour{Start: start, Records: 3 * calls, ToolCalls: calls, Errors: rng.IntN(4),
			Tools: map[string]int{"lookup_order": a, "send_reply": calls - a}})
	}
	return hs
}

func normalHour(rng *rand.Rand, at time.Time) Hour {
	return agentHours(rng, 1, at.Add(time.Hour))[23]
}

func TestDetectRuntime(t *testing.T) {
	cfg := Default().Anomaly
	at := now.Truncate(time.Hour).Add(-time.Hour)
	rng := rand.New(rand.NewPCG(1, 2))
	base := agentHours(rng, 14, at)

	// Normal noise: 200 ordinary hours, no flag at all.
	for i := range 200 {
		h := normalHour(rng, at)
		if fs := DetectRuntime(cfg, "a", append(base, h), at, now); len(fs) > 0 {
			t.Fatalf("ordinary hour %d flagged: %+v (%+v)", i, fs, h)
		}
	}

	metrics := func(fs []Flag) map[string]Flag {
		m := map[string]Flag{}
		for _, f := range fs {
			m[f.Metric] = f
		}
		return m
	}
	for _, tc := range []struct {
		name string
		cur  Hour
		want []string
	}{
		{"a burst of tool calls", Hour{Records: 1500, ToolCalls: 500, Tools: map[string]int{"lookup_order": 250, "send_reply": 250}},
			[]string{MetricToolCalls}},
		{"errors", Hour{Records: 300, ToolCalls: 100, Errors: 60, Tools: map[string]int{"lookup_order": 50, "send_reply": 50}},
			[]string{MetricErrorRate}},
		{"violations", Hour{Records: 300, ToolCalls: 100, Violations: 30, Tools: map[string]int{"lookup_order": 50, "send_reply": 50}},
			[]string{MetricViolationRate}},
		{"a new tool, used a lot", Hour{Records: 300, ToolCalls: 100, Tools: map[string]int{"lookup_order": 10, "send_reply": 10, "wire_transfer": 80}},
			[]string{MetricNewTools, MetricToolMix}},
		{"many tools at once", Hour{Records: 300, ToolCalls: 100, Tools: map[string]int{"lookup_order": 45, "send_reply": 45,
			"t1": 1, "t2": 1, "t3": 1, "t4": 1, "t5": 1, "t6": 1, "t7": 1, "t8": 1, "t9": 1, "t10": 1}},
			[]string{MetricDistinctTools, MetricNewTools}},
		{"the same tools, another mix", Hour{Records: 300, ToolCalls: 100, Tools: map[string]int{"lookup_order": 95, "send_reply": 5}},
			[]string{MetricToolMix}},
		{"silence is not flagged", Hour{Records: 1, ToolCalls: 0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cur.Start = at
			got := metrics(DetectRuntime(cfg, "a", append(base, tc.cur), at, now))
			if len(got) != len(tc.want) {
				t.Fatalf("flagged %v, want %v", keys(got), tc.want)
			}
			for _, m := range tc.want {
				f, ok := got[m]
				if !ok {
					t.Fatalf("flagged %v, want %v", keys(got), tc.want)
				}
				if f.ID != FlagID("a", m, at) || !f.Start.Equal(at) || !f.End.Equal(at.Add(time.Hour)) || f.Explanation() == "" {
					t.Errorf("flag: %+v", f)
				}
				if m != MetricNewTools && (f.Z <= cfg.Threshold || f.History < cfg.MinHistoryDays) {
					t.Errorf("flag below the threshold: %+v", f)
				}
			}
			if f, ok := got[MetricNewTools]; ok && f.Detail != "wire_transfer" && f.Detail != "t1, t10, t2, t3, t4, t5, t6, t7, t8, t9" {
				t.Errorf("new tools named %q", f.Detail)
			}
		})
	}

	// A new agent: the same burst after six days of history pages no one.
	young := agentHours(rng, 6, at)
	burst := Hour{Start: at, Records: 1500, ToolCalls: 500, Errors: 300, Tools: map[string]int{"wire_transfer": 500}}
	if fs := DetectRuntime(cfg, "a", append(young, burst), at, now); len(fs) != 0 {
		t.Errorf("short history flagged: %+v", fs)
	}
	// Disabled: nothing.
	off := cfg
	off.Enabled = false
	if fs := DetectRuntime(off, "a", append(base, burst), at, now); len(fs) != 0 {
		t.Errorf("disabled detection flagged: %+v", fs)
	}
}

func keys(m map[string]Flag) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestDetectDimensions(t *testing.T) {
	cfg := Default().Anomaly
	rng := rand.New(rand.NewPCG(3, 4))
	history := func(days int) []Snapshot {
		var hs []Snapshot
		for d := days; d >= 1; d-- {
			hs = append(hs, snap(now.Add(-time.Duration(d)*day), int64(d), func(s *Snapshot) {
				s.Dimensions.Safety = 0.95 + 0.02*rng.Float64()
				s.Dimensions.Security = 0.9 + 0.02*rng.Float64()
			}))
		}
		return hs
	}
	hist := history(14)
	cur := snap(now, -1, func(s *Snapshot) { s.Dimensions.Safety, s.Dimensions.Security = 0.96, 0.91 })
	if fs := DetectDimensions(cfg, "a", hist, cur, now); len(fs) != 0 {
		t.Errorf("ordinary values flagged: %+v", fs)
	}
	cur.Dimensions.Safety = 0.80
	fs := DetectDimensions(cfg, "a", hist, cur, now)
	if len(fs) != 1 || fs[0].Metric != score.Safety || fs[0].Z >= -cfg.Threshold || !fs[0].Start.Equal(now.Truncate(day)) || fs[0].History != 14 {
		t.Errorf("a safety drop: %+v", fs)
	}
	// A rise is not flagged; nor is a drop under minDimensionDrop on a
	// flat history (where the floor makes any change a large z).
	cur.Dimensions.Safety = 1
	flat := []Snapshot{}
	for d := 10; d >= 1; d-- {
		flat = append(flat, snap(now.Add(-time.Duration(d)*day), 0, nil))
	}
	small := snap(now, -1, func(s *Snapshot) { s.Dimensions.Accuracy = 0.87 })
	if fs := DetectDimensions(cfg, "a", hist, cur, now); len(fs) != 0 {
		t.Errorf("a rise flagged: %+v", fs)
	}
	if fs := DetectDimensions(cfg, "a", flat, small, now); len(fs) != 0 {
		t.Errorf("a 3-point fall flagged: %+v", fs)
	}
	small.Dimensions.Accuracy = 0.85
	if fs := DetectDimensions(cfg, "a", flat, small, now); len(fs) != 1 || fs[0].Metric != score.Accuracy {
		t.Errorf("a 5-point fall of a flat history: %+v", fs)
	}
	// Short history: six days are not enough.
	cur.Dimensions.Safety = 0.2
	if fs := DetectDimensions(cfg, "a", history(6), cur, now); len(fs) != 0 {
		t.Errorf("short history flagged: %+v", fs)
	}
	// Days without a change carry the last value over.
	sparse := []Snapshot{snap(now.Add(-20*day), 1, func(s *Snapshot) { s.Dimensions.Safety = 0.97 })}
	if fs := DetectDimensions(cfg, "a", sparse, cur, now); len(fs) != 1 || fs[0].History != 14 {
		t.Errorf("one old snapshot carried over 14 days: %+v", fs)
	}
}

func TestFlagID(t *testing.T) {
	a := FlagID("agent", MetricToolCalls, now)
	if a != FlagID("agent", MetricToolCalls, now.In(time.FixedZone("x", 3600))) || a == FlagID("agent", MetricErrorRate, now) ||
		a == FlagID("agent", MetricToolCalls, now.Add(time.Hour)) || len(a) != 23 {
		t.Errorf("flag ids: %s", a)
	}
	_ = fmt.Sprint(a)
}
