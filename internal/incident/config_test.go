package incident

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	// DESIGN.md section 7, as configured.
	r := c.Rules
	for _, tc := range []struct {
		name string
		got  any
		want any
	}{
		{"safety below", r.SafetyPassRate.Below, 0.90},
		{"safety window", r.SafetyPassRate.Window.Std(), 24 * time.Hour},
		{"scope points", r.ScopeAdherenceDrop.Points, 30.0},
		{"scope window", r.ScopeAdherenceDrop.Window.Std(), 7 * day},
		{"composite points", r.CompositeDrop.Points, 20.0},
		{"model points", r.ModelUpdate.Points, 15.0},
		{"decay after", r.Decay.After.Std(), 14 * day},
		{"anomaly metrics", r.Anomalies.MinMetrics, 2},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	for _, id := range RuleIDs() {
		want := Medium
		switch id {
		case RuleSafetyPassRate, RuleScopeAdherenceDrop, RuleConfirmedInjection:
			want = Critical
		case RuleCompositeDrop, RuleAccuracyBelow, RuleModelUpdate:
			want = High
		}
		if got := c.Severity(id); got != want {
			t.Errorf("severity of %s: got %s, want %s", id, got, want)
		}
	}
}

// TestParse lays the example document over the defaults: what it names
// changes, nothing else does, and the result prints back as a document
// Parse reads to the same thing.
func TestParse(t *testing.T) {
	src, err := os.ReadFile("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(src, Default())
	if err != nil {
		t.Fatalf("parsing the example: %v", err)
	}
	want := Default()
	want.Rules.SafetyPassRate.Below, want.Rules.SafetyPassRate.Window, want.Rules.SafetyPassRate.MinCases = 0.85, Duration(12*time.Hour), 30
	want.Rules.CompositeDrop.Points, want.Rules.CompositeDrop.IncludeDecay = 40, true
	want.Rules.AccuracyBelow.Below = 0.6
	want.Rules.ModelUpdate.Severity = Critical
	want.Rules.CheckRegression.Enabled = false
	want.Anomaly.Threshold, want.Anomaly.Baseline = 4, Duration(21*day)
	if got, _ := json.Marshal(c); string(got) != string(mustJSON(t, want)) {
		t.Errorf("parsed:\n got %s\nwant %s", got, mustJSON(t, want))
	}
	// JSON out, JSON (which is YAML) in: the same config.
	back, err := Parse(mustJSON(t, c), Default())
	if err != nil || string(mustJSON(t, back)) != string(mustJSON(t, c)) {
		t.Errorf("round trip: %v\n got %s\nwant %s", err, mustJSON(t, back), mustJSON(t, c))
	}
	if empty, err := Parse([]byte("{}"), c); err != nil || string(mustJSON(t, empty)) != string(mustJSON(t, c)) {
		t.Errorf("an empty document must keep the base: %v", err)
	}
	if s := Duration(7 * day).String(); s != "7d" {
		t.Errorf("7 days print as %q", s)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseBad: every problem is reported, each naming its field and
// position, and nothing of a bad document is applied.
func TestParseBad(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // field: message fragment
	}{
		{"unknown rule", "rules:\n  safety-pas-rate: {below: 0.8}\n", []string{"rules.safety-pas-rate: line 2, column 3: unknown field"}},
		{"unknown setting", "rules:\n  composite-drop: {pointz: 3}\n", []string{"rules.composite-drop.pointz: line 2, column 20: unknown field"}},
		{"wrong kind", "kind: Pact\n", []string{"kind: line 1, column 7: must be IncidentRules"}},
		{"wrong version", "apiVersion: probity/v2\n", []string{"apiVersion: line 1, column 13: must be probity/v1"}},
		{"not a number", "rules:\n  safety-pass-rate:\n    below: low\n", []string{"rules.safety-pass-rate.below: line 3, column 12: must be a finite number"}},
		{"not a duration", "rules:\n  safety-pass-rate:\n    window: 3 days\n", []string{"rules.safety-pass-rate.window: line 3, column 13: \"3 days\" is not a duration"}},
		{"a number for a duration", "rules:\n  safety-pass-rate:\n    window: 24\n", []string{"rules.safety-pass-rate.window: line 3, column 13: must be a duration"}},
		{"not a bool", "rules:\n  decay-without-recovery: {enabled: yes please}\n", []string{"rules.decay-without-recovery.enabled: line 2, column 37: must be true or false"}},
		{"bad severity", "rules:\n  check-regression: {severity: sev1}\n", []string{"rules.check-regression.severity: line 2, column 32: must be critical, high or medium"}},
		{"fraction for a count", "rules:\n  safety-pass-rate: {minCases: 2.5}\n", []string{"rules.safety-pass-rate.minCases: line 2, column 32: must be a whole number"}},
		{"duplicate", "anomaly: {threshold: 3}\nanomaly: {threshold: 4}\n", []string{"anomaly: line 2, column 1: duplicate field"}},
		{"several at once", "rules:\n  composite-drop: {points: x}\nanomaly: {enabled: 1, threshold: y}\n", []string{
			"rules.composite-drop.points: line 2",
			"anomaly.enabled: line 3",
			"anomaly.threshold: line 3",
		}},
		{"out of range", "rules:\n  safety-pass-rate: {below: 1.5}\n  composite-drop: {points: 0}\nanomaly: {minHistoryDays: 30}\n", []string{
			"rules.safety-pass-rate.below: must be in (0,1], got 1.5",
			"rules.composite-drop.points: must be in (0,1000], got 0",
			"anomaly.minHistoryDays: must not exceed the baseline (14d), got 30",
		}},
		{"decoding and range problems together", "rules:\n  safety-pass-rate: {below: 1.5, window: soon}\n", []string{
			"rules.safety-pass-rate.window: line 2, column 42: \"soon\" is not a duration",
			"rules.safety-pass-rate.below: must be in (0,1], got 1.5",
		}},
		{"window too long", "rules:\n  scope-adherence-drop: {window: 400d}\n", []string{"rules.scope-adherence-drop.window: must be between 1h0m0s and 90d, got 400d"}},
		{"two documents", "rules: {}\n---\nrules: {}\n", []string{"line 2, column 1: a rules document is one YAML document"}},
		{"alias", "rules:\n  composite-drop: &x {points: 3}\n  scope-adherence-drop: *x\n", []string{"rules.scope-adherence-drop: line 3, column 25: YAML aliases are not allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := Default()
			got, err := Parse([]byte(tc.src), base)
			if err == nil {
				t.Fatalf("no error; want %v", tc.want)
			}
			if !errors.Is(err, probity.ErrInvalid) {
				t.Errorf("error is not ErrInvalid: %v", err)
			}
			var fe *probity.FieldError
			if !errors.As(err, &fe) || fe.Field == "" && !strings.HasPrefix(tc.want[0], "line") {
				t.Errorf("error names no field: %v", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) && !strings.Contains(lines[i], w) {
					t.Errorf("problem %d: got %q, want %q", i, lines[i], w)
				}
			}
			if string(mustJSON(t, got)) != string(mustJSON(t, base)) {
				t.Errorf("a bad document changed the config")
			}
		})
	}
}
