package score

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The properties run over randomized evidence from a fixed seed, so a
// failure reproduces.
const propertyRuns = 500

var propNow = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

func randomObservation(r *rand.Rand) Observation {
	dims := DimensionNames()
	o := Observation{
		Dimension: dims[r.IntN(len(dims))],
		Time:      propNow.Add(-time.Duration(r.Int64N(int64(120 * 24 * time.Hour)))),
		Passed:    r.IntN(4) != 0,
		Source:    SourceEval,
	}
	switch r.IntN(4) {
	case 0:
		o.Weight = r.Float64() * 5
	case 1:
		o.Weight = math.Pow(10, float64(r.IntN(12))) // up to beyond MaxWeight
	}
	if r.IntN(2) == 0 {
		o.Source = SourceRuntime
	}
	if r.IntN(3) == 0 {
		o.ModelVersion = "old"
	}
	return o
}

func randomInputs(r *rand.Rand) Inputs {
	in := Inputs{AgentID: "a", Model: modelV("new")}
	for range r.IntN(200) {
		in.Evidence = append(in.Evidence, randomObservation(r))
	}
	if r.IntN(2) == 0 {
		in.RegisteredAt = propNow.Add(-time.Duration(r.Int64N(int64(200 * 24 * time.Hour))))
	}
	return in
}

func randomConfig(r *rand.Rand) Config {
	cfg := DefaultConfig()
	cfg.PriorMean = r.Float64()
	cfg.PriorStrength = 0.1 + r.Float64()*20
	cfg.HalfLife = time.Duration(1+r.IntN(60)) * 24 * time.Hour
	cfg.GracePeriod = time.Duration(r.IntN(30)) * 24 * time.Hour
	cfg.DecayHalfLife = time.Duration(1+r.IntN(60)) * 24 * time.Hour
	return cfg
}

func eachDimension(s Score, f func(name string, v float64)) {
	for _, name := range DimensionNames() {
		f(name, s.Dimensions.Get(name))
	}
}

// TestMoreFailuresNeverRaise: adding a failed observation, or turning a
// pass into a failure, never raises a dimension or the undecayed composite,
// nor the composite unless the failure is the freshest eval evidence (which
// ends decay: see docs/scoring.md).
func TestMoreFailuresNeverRaise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range propertyRuns {
		in, cfg := randomInputs(r), randomConfig(r)
		before := Compute(in, cfg, propNow)

		more := in
		fail := randomObservation(r)
		fail.Passed = false
		more.Evidence = append(append([]Observation(nil), in.Evidence...), fail)
		checkNotAbove(t, i, "added failure", Compute(more, cfg, propNow), before)

		if len(in.Evidence) > 0 {
			flipped := in
			flipped.Evidence = append([]Observation(nil), in.Evidence...)
			flipped.Evidence[r.IntN(len(flipped.Evidence))].Passed = false
			checkNotAbove(t, i, "pass turned failure", Compute(flipped, cfg, propNow), before)
		}
	}
}

func checkNotAbove(t *testing.T, run int, what string, got, before Score) {
	t.Helper()
	eachDimension(got, func(name string, v float64) {
		if b := before.Dimensions.Get(name); v > b {
			t.Errorf("run %d, %s: %s got %v, want at most %v", run, what, name, v, b)
		}
	})
	if got.Explain.UndecayedComposite > before.Explain.UndecayedComposite {
		t.Errorf("run %d, %s: undecayed composite got %v, want at most %v", run, what,
			got.Explain.UndecayedComposite, before.Explain.UndecayedComposite)
	}
	if got.Evidence.LastEvalAt.Equal(before.Evidence.LastEvalAt) && got.CompositeScore > before.CompositeScore {
		t.Errorf("run %d, %s: composite got %d, want at most %d", run, what, got.CompositeScore, before.CompositeScore)
	}
}

// TestDecayNeverRaises: the decay factor is in [0,1], the composite never
// exceeds the undecayed one, nor the composite under a grace period that
// never ends.
func TestDecayNeverRaises(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range propertyRuns {
		in, cfg := randomInputs(r), randomConfig(r)
		s := Compute(in, cfg, propNow)
		f := s.Explain.DecayFactor
		if !(f >= 0 && f <= 1) {
			t.Errorf("run %d: decay factor got %v, want in [0,1]", i, f)
		}
		if float64(s.CompositeScore) > math.Round(s.Explain.UndecayedComposite) {
			t.Errorf("run %d: composite got %d, want at most the undecayed %v", i, s.CompositeScore, s.Explain.UndecayedComposite)
		}
		endless := cfg
		endless.GracePeriod = 1 << 62
		if u := Compute(in, endless, propNow); s.CompositeScore > u.CompositeScore {
			t.Errorf("run %d: composite got %d, want at most %d (no decay)", i, s.CompositeScore, u.CompositeScore)
		}
	}
}

// TestDecayOverTime: with every observation passing, time without fresh
// evals only lowers the composite: aging pulls each dimension down towards
// the prior and decay pulls the composite towards 0.
func TestDecayOverTime(t *testing.T) {
	cfg := DefaultConfig()
	in := Inputs{Model: modelV("v")}
	for _, d := range DimensionNames() {
		for range 30 {
			in.Evidence = append(in.Evidence, Observation{Dimension: d, Time: propNow, Passed: true, Source: SourceEval})
		}
	}
	prev := Compute(in, cfg, propNow).CompositeScore
	for day := 1; day <= 120; day++ {
		got := Compute(in, cfg, propNow.Add(time.Duration(day)*24*time.Hour)).CompositeScore
		if got > prev {
			t.Fatalf("day %d: composite got %d, want at most %d", day, got, prev)
		}
		prev = got
	}
	if prev > 200 {
		t.Errorf("after 120 days without evals: composite got %d, want at most 200", prev)
	}
}

// TestBounds: dimensions and confidence stay in [0,1] and the composite in
// [0,1000], whatever the evidence and weights.
func TestBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range propertyRuns {
		in, cfg := randomInputs(r), randomConfig(r)
		s := Compute(in, cfg, propNow)
		eachDimension(s, func(name string, v float64) {
			if !(v >= 0 && v <= 1) {
				t.Errorf("run %d: %s got %v, want in [0,1]", i, name, v)
			}
		})
		if !(s.Confidence >= 0 && s.Confidence <= 1) {
			t.Errorf("run %d: confidence got %v, want in [0,1]", i, s.Confidence)
		}
		if s.CompositeScore < 0 || s.CompositeScore > 1000 {
			t.Errorf("run %d: composite got %d, want in [0,1000]", i, s.CompositeScore)
		}
	}
}

// TestWeightsMustSumToOne: random weights are rejected by Validate, naming
// the weights field, unless they sum to 1.
func TestWeightsMustSumToOne(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range propertyRuns {
		cfg := DefaultConfig()
		var sum float64
		for _, name := range DimensionNames() {
			w := r.Float64() / 2
			cfg.Weights.Set(name, w)
			sum += w
		}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "weights: must sum to 1") {
			t.Errorf("run %d: weights summing to %v: got %v, want an error naming weights", i, sum, err)
		}
		for _, name := range DimensionNames() {
			cfg.Weights.Set(name, cfg.Weights.Get(name)/sum)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("run %d: normalized weights: got %v, want nil", i, err)
		}
	}
}
