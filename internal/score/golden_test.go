package score

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/probity-dev/probity"
)

var update = flag.Bool("update", false, "rewrite the golden blocks of docs/scoring.md")

const scoringDoc = "../../docs/scoring.md"

// exampleNow is the instant of the worked example of docs/scoring.md.
var exampleNow = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// exampleInputs builds the worked example of docs/scoring.md.
func exampleInputs() Inputs {
	now := exampleNow
	day := 24 * time.Hour
	var ev []Observation
	add := func(n, passed int, o Observation) {
		for i := range n {
			o := o
			o.Passed = i < passed
			o.Ref = fmt.Sprintf("%s-%s-%d", o.ModelVersion, o.Suite, i)
			ev = append(ev, o)
		}
	}
	evalCase := func(suite, dim string, owasp ...string) Observation {
		return Observation{Dimension: dim, Time: now, Source: SourceEval, Kind: EvalKind(dim, owasp),
			Suite: suite, ModelVersion: "2026-03", OWASP: owasp}
	}
	// The baseline run of the current model version, finished at now.
	add(40, 36, evalCase("accuracy-smoke", Accuracy, "LLM09"))
	add(40, 38, evalCase("consistency", Reliability, "LLM09"))
	add(40, 40, evalCase("safety", Safety))
	add(40, 40, evalCase("jailbreak", Safety, "LLM01"))
	add(40, 40, evalCase("injection-direct", Security, "LLM01"))
	add(40, 40, evalCase("injection-indirect", Security, "LLM01", "LLM06"))
	add(40, 40, evalCase("data-exfiltration", Security, "LLM02"))
	add(40, 40, evalCase("system-prompt-leakage", Security, "LLM07"))
	add(40, 38, evalCase("excessive-agency", ScopeAdherence, "LLM06"))
	add(40, 40, evalCase("output-sanitization", OutputSanitization, "LLM05"))
	// Runtime pact checks two weeks ago.
	runtime := func(dim, kind string) Observation {
		return Observation{Dimension: dim, Time: now.Add(-14 * day), Source: SourceRuntime, Kind: kind, ModelVersion: "2026-03"}
	}
	add(200, 200, runtime(ScopeAdherence, KindScope))
	add(100, 99, runtime(OutputSanitization, KindOutput))
	add(40, 40, runtime(Security, KindInjectionInfluenced))
	// The previous model version's last eval, four weeks ago.
	old := evalCase("data-exfiltration", Security, "LLM02")
	old.Time, old.ModelVersion = now.Add(-28*day), "2025-11"
	add(40, 24, old)

	suites := []string{"accuracy-smoke", "consistency", "data-exfiltration", "excessive-agency", "injection-direct",
		"injection-indirect", "jailbreak", "output-sanitization", "safety", "system-prompt-leakage"}
	return Inputs{
		AgentID:                "support-bot",
		Model:                  probity.Model{Provider: "acme", Name: "helper", Version: "2026-03"},
		RegisteredAt:           now.Add(-90 * day),
		Pact:                   PactRef{ID: "support", Version: 3, Digest: "sha256:5f1e0c"},
		Evidence:               ev,
		Records:                50231,
		LastRecordAt:           now.Add(-2 * time.Hour),
		IncidentsEnabled:       true,
		OpenIncidents:          Incidents{High: 1},
		LastCriticalIncidentAt: now.Add(-20 * day),
		History: []Point{
			{Time: now.Add(-45 * day), Composite: 700},
			{Time: now.Add(-30 * day), Composite: 880},
			{Time: now.Add(-7 * day), Composite: 948},
			{Time: now.Add(-1 * day), Composite: 930},
		},
		Completed:      map[string][]string{"2026-03": suites, "2025-11": {"data-exfiltration"}},
		MonitoredOWASP: []string{"LLM02", "LLM05", "LLM06", "LLM10"},
	}
}

// TestGolden reproduces the worked example of docs/scoring.md: each block
// after a "<!-- golden:NAME -->" line must equal what Compute returns.
func TestGolden(t *testing.T) {
	cfg := DefaultConfig()
	in := exampleInputs()
	s := Compute(in, cfg, exampleNow)
	explain := s.Explain
	s.Explain = nil
	later := Compute(in, cfg, exampleNow.Add(28*24*time.Hour))
	laterExplain := later.Explain
	later.Explain = nil
	blocks := map[string]any{
		"score":   s,
		"explain": explain,
		"decayed": later,
		"decayedExplain": struct {
			Dimensions         map[string]DimensionDetail `json:"dimensions"`
			UndecayedComposite float64                    `json:"undecayedComposite"`
			DecayFactor        float64                    `json:"decayFactor"`
			DecayDays          float64                    `json:"decayDays"`
			TierReason         string                     `json:"tierReason"`
		}{laterExplain.Dimensions, laterExplain.UndecayedComposite, laterExplain.DecayFactor, laterExplain.DecayDays, laterExplain.TierReason},
	}

	doc, err := os.ReadFile(scoringDoc)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)<!-- golden:([a-zA-Z]+) -->\n```json\n(.*?)```\n")
	found := map[string]bool{}
	out := re.ReplaceAllFunc(doc, func(m []byte) []byte {
		sub := re.FindSubmatch(m)
		name := string(sub[1])
		found[name] = true
		v, ok := blocks[name]
		if !ok {
			t.Errorf("docs/scoring.md: unknown golden block %q", name)
			return m
		}
		want, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		if !bytes.Equal(sub[2], want) && !*update {
			t.Errorf("docs/scoring.md block %q:\ngot (Compute)\n%s\nwant (the doc)\n%s", name, want, sub[2])
		}
		return fmt.Appendf(nil, "<!-- golden:%s -->\n```json\n%s```\n", name, want)
	})
	for name := range blocks {
		if !found[name] {
			t.Errorf("docs/scoring.md has no golden block %q", name)
		}
	}
	if *update {
		if err := os.WriteFile(scoringDoc, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The figures the doc derives by hand.
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"composite", s.CompositeScore, 944},
		{"confidence", s.Confidence, 0.9459},
		{"tier", s.CertificationTier, "platinum"},
		{"security", s.Dimensions.Security, 0.9839},
		{"velocity", s.ScoreVelocity, Velocity{Last1Day: 14, Last7Days: -4, Last30Days: 64}},
		{"cleanStreakDays", s.SecurityPosture.CleanStreakDays, 20},
		{"decayed composite", later.CompositeScore, 546},
		{"decayed tier", later.CertificationTier, "bronze"},
		{"decay factor", laterExplain.DecayFactor, 0.6156},
		{"model delta", ModelDelta(explain.ByModelVersion["2025-11"], explain.ByModelVersion["2026-03"])[Security], 39.93},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}
