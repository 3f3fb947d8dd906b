package pact

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/probity-dev/probity/internal/record"
)

// Sample is one observation a commitment is judged on: a production record
// (for latency_p95_ms and error_rate) or a graded eval case (for accuracy
// and safety_pass_rate).
type Sample struct {
	Time      time.Time
	LatencyMs *float64 // records: the record's latency, when it has one
	Error     bool     // records: outcome failure or timeout, or type error
	Check     string   // eval cases: "accuracy" or "safety"
	Suite     string   // eval cases: the suite the case belongs to
	Passed    bool     // eval cases: the case passed
}

// RecordSample returns the sample a record contributes.
func RecordSample(r *record.Record) Sample {
	return Sample{Time: r.Time, LatencyMs: r.LatencyMs,
		Error: r.Type == record.Error || r.Outcome == "failure" || r.Outcome == "timeout"}
}

// EvaluateCommitment judges c over the samples in the window (now-window,
// now]. It returns whether the commitment is breached, the observed value,
// and a sentence saying why. A window with no relevant samples is not a
// breach (observed is NaN).
//
//   - latency_p95_ms: the 95th percentile (nearest rank) of LatencyMs over
//     samples that have one;
//   - error_rate: samples with Error over all record samples (those with no
//     Check);
//   - accuracy, safety_pass_rate: passed over all samples whose Check is
//     "accuracy" or "safety" (and whose Suite is c.Suite, when set).
func EvaluateCommitment(c Commitment, samples []Sample, now time.Time) (breached bool, observed float64, explanation string) {
	from := now.Add(-time.Duration(c.Window))
	in := func(s Sample) bool { return s.Time.After(from) && !s.Time.After(now) }
	var n int
	switch c.Metric {
	case "latency_p95_ms":
		var lat []float64
		for _, s := range samples {
			if in(s) && s.Check == "" && s.LatencyMs != nil {
				lat = append(lat, *s.LatencyMs)
			}
		}
		n = len(lat)
		if n > 0 {
			slices.Sort(lat)
			observed = lat[int(math.Ceil(0.95*float64(n)))-1]
		}
	case "error_rate":
		var bad int
		for _, s := range samples {
			if in(s) && s.Check == "" {
				n++
				if s.Error {
					bad++
				}
			}
		}
		if n > 0 {
			observed = float64(bad) / float64(n)
		}
	case "accuracy", "safety_pass_rate":
		check := "accuracy"
		if c.Metric == "safety_pass_rate" {
			check = "safety"
		}
		var pass int
		for _, s := range samples {
			if in(s) && s.Check == check && (c.Suite == "" || s.Suite == c.Suite) {
				n++
				if s.Passed {
					pass++
				}
			}
		}
		if n > 0 {
			observed = float64(pass) / float64(n)
		}
	default:
		return false, math.NaN(), fmt.Sprintf("unknown metric %q", c.Metric)
	}
	if n == 0 {
		return false, math.NaN(), fmt.Sprintf("no samples for %s in the %s window ending %s", c.Metric, c.Window, now.UTC().Format(time.RFC3339))
	}
	held := compare(observed, c.Op, c.Value)
	verb := "holds"
	if !held {
		verb = "is breached"
	}
	return !held, observed, fmt.Sprintf("%s %s: %s was %s over %d samples in the %s window ending %s (commitment %s %s)",
		c.ID, verb, c.Metric, num(observed), n, c.Window, now.UTC().Format(time.RFC3339), c.Op, num(c.Value))
}

func num(f float64) string { return fmt.Sprintf("%.4g", f) }

func compare(x float64, op string, v float64) bool {
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
	return false
}

// CommitmentViolation turns a breach into a Violation with the given
// evidence (the ids of the records or eval cases in the window).
func CommitmentViolation(c Commitment, explanation string, ids []string) Violation {
	return Violation{Clause: c.ID, Kind: KindCommitment, Severity: c.Severity, RecordIDs: ids, Explanation: explanation}
}
