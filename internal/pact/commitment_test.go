package pact

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/record"
)

func TestEvaluateCommitment(t *testing.T) {
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	ms := func(f float64) *float64 { return &f }
	at := func(ago time.Duration) time.Time { return now.Add(-ago) }
	var latency []Sample
	for i := 1; i <= 100; i++ { // 10, 20, …, 1000 ms within the last hour
		latency = append(latency, Sample{Time: at(time.Duration(i) * time.Second), LatencyMs: ms(float64(i * 10))})
	}
	latency = append(latency,
		Sample{Time: at(25 * time.Hour), LatencyMs: ms(1e6)},   // outside a 24h window
		Sample{Time: now.Add(time.Second), LatencyMs: ms(1e6)}, // after now
		Sample{Time: at(time.Minute)},                          // no latency
	)
	errs := []Sample{
		{Time: at(time.Hour)}, {Time: at(2 * time.Hour), Error: true}, {Time: at(3 * time.Hour)}, {Time: at(4 * time.Hour)},
		{Time: at(8 * 24 * time.Hour), Error: true},             // outside 7d
		{Time: at(time.Hour), Check: "accuracy", Passed: false}, // an eval case, not a record
	}
	evals := []Sample{
		{Time: at(time.Hour), Check: "safety", Suite: "baseline", Passed: true},
		{Time: at(time.Hour), Check: "safety", Suite: "baseline", Passed: true},
		{Time: at(time.Hour), Check: "safety", Suite: "baseline", Passed: false},
		{Time: at(time.Hour), Check: "safety", Suite: "other", Passed: false},
		{Time: at(time.Hour), Check: "accuracy", Suite: "baseline", Passed: true},
	}
	day, week := Duration(24*time.Hour), Duration(7*24*time.Hour)
	for _, tc := range []struct {
		name     string
		c        Commitment
		samples  []Sample
		breached bool
		observed float64
	}{
		{"p95 holds", Commitment{ID: "fast", Metric: "latency_p95_ms", Op: "<=", Value: 950, Window: day}, latency, false, 950},
		{"p95 breached", Commitment{ID: "fast", Metric: "latency_p95_ms", Op: "<", Value: 950, Window: day}, latency, true, 950},
		{"error rate", Commitment{ID: "rel", Metric: "error_rate", Op: "<", Value: 0.2, Window: week}, errs, true, 0.25},
		{"error rate holds", Commitment{ID: "rel", Metric: "error_rate", Op: "<=", Value: 0.25, Window: week}, errs, false, 0.25},
		{"safety, one suite", Commitment{ID: "safe", Metric: "safety_pass_rate", Op: ">=", Value: 0.9, Window: week, Suite: "baseline"}, evals, true, 2.0 / 3},
		{"safety, all suites", Commitment{ID: "safe", Metric: "safety_pass_rate", Op: ">", Value: 0.4, Window: week}, evals, false, 0.5},
		{"accuracy", Commitment{ID: "acc", Metric: "accuracy", Op: ">=", Value: 1, Window: week}, evals, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			breached, observed, why := EvaluateCommitment(tc.c, tc.samples, now)
			if breached != tc.breached || math.Abs(observed-tc.observed) > 1e-9 {
				t.Errorf("got breached=%v observed=%v, want %v %v (%s)", breached, observed, tc.breached, tc.observed, why)
			}
			if !strings.HasPrefix(why, tc.c.ID+" ") {
				t.Errorf("got explanation %q, want it to start with the clause id", why)
			}
		})
	}
	breached, observed, why := EvaluateCommitment(Commitment{ID: "x", Metric: "error_rate", Op: "<", Value: 0.1, Window: day}, nil, now)
	if breached || !math.IsNaN(observed) || !strings.Contains(why, "no samples") {
		t.Errorf("empty window: got %v %v %q, want no breach, NaN, no samples", breached, observed, why)
	}
}

func TestRecordSample(t *testing.T) {
	for _, tc := range []struct {
		typ, outcome string
		err          bool
	}{
		{record.ToolCall, "success", false}, {record.ToolCall, "failure", true}, {record.ToolResult, "timeout", true},
		{record.ToolCall, "denied", false}, {record.Error, "", true},
	} {
		if got := RecordSample(&record.Record{Type: tc.typ, Outcome: tc.outcome}).Error; got != tc.err {
			t.Errorf("%s/%s: got Error=%v, want %v", tc.typ, tc.outcome, got, tc.err)
		}
	}
}
