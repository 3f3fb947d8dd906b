package api_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
)

const commitmentPact = supportAgentPact + `commitments:
  - id: fast-answers
    severity: major
    metric: latency_p95_ms
    op: <=
    value: 1000
    window: 24h
  - id: few-errors
    severity: critical
    metric: error_rate
    op: <=
    value: 0.2
    window: 24h
  - id: accurate
    severity: major
    metric: accuracy
    op: ">="
    value: 0.9
    window: 7d
`

type commitmentResultAnswer struct {
	AgentID     string
	Clause      string
	Metric      string
	Samples     int
	Observed    *float64
	Breached    bool
	Explanation string
	Violation   *violationAnswer
	ReportedAs  string
}

func evaluate(c client, key, pact string) (time.Time, map[string]commitmentResultAnswer) {
	c.t.Helper()
	var a struct {
		EvaluatedAt time.Time
		Results     []commitmentResultAnswer
	}
	if err := json.Unmarshal(c.must200raw("POST", "/v1/pacts/"+pact+"/commitments/evaluate", key), &a); err != nil {
		c.t.Fatal(err)
	}
	out := map[string]commitmentResultAnswer{}
	for _, r := range a.Results {
		out[r.AgentID+"/"+r.Clause] = r
	}
	return a.EvaluatedAt, out
}

// outputs is n model outputs of support-bot at base+i s, with latencies
// from lat(i) and outcome failure where fail(i).
func outputs(prefix string, base time.Time, n int, lat func(int) float64, fail func(int) bool) string {
	var evs []string
	for i := range n {
		outcome := "success"
		if fail(i) {
			outcome = "failure"
		}
		evs = append(evs, fmt.Sprintf(`{"id":"%s-%d","agentId":"support-bot","sessionId":"s-%s","time":%q,"type":"model_output","content":"done","latencyMs":%g,"outcome":%q}`,
			prefix, i, prefix, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), lat(i), outcome))
	}
	return batch(evs...)
}

// TestCommitments judges commitments over their windows: a breach becomes
// a violation with the worst records as evidence, is not reported twice in
// one window, and is reported again once the window has passed.
func TestCommitments(t *testing.T) { stores(t, testCommitments) }

func testCommitments(t *testing.T, opts ...apptest.Option) {
	var clock atomic.Pointer[time.Time]
	now := vtime.Add(2 * time.Hour)
	clock.Store(&now)
	opts = append(opts, func(c *app.Config) { c.Now = func() time.Time { return *clock.Load() } })
	f := newFixture(t, opts...)
	f.postPact(201, f.admin, yamlType, commitmentPact)
	ev := f.must(201, "POST", "/v1/api-keys", f.admin, map[string]any{"scopes": []string{"eval"}})["key"].(string)

	// No records yet: nothing is breached, and nothing has samples.
	_, res := evaluate(f.client, ev, "support-agent")
	if len(res) != 3 {
		t.Fatalf("results: got %d, want 3 (one per commitment)", len(res))
	}
	for k, r := range res {
		if r.Breached || r.Samples != 0 || r.Observed != nil {
			t.Errorf("%s with no records: got %+v", k, r)
		}
	}

	// 18 fast answers, 2 slow ones (ids a-3, a-11), one failure.
	slow := func(i int) float64 {
		switch i {
		case 3:
			return 5000
		case 11:
			return 7000
		}
		return 200
	}
	ingestViolations(f.client, f.ingest, outputs("a", vtime, 20, slow, func(i int) bool { return i == 5 }))
	at, res := evaluate(f.client, ev, "support-agent")
	if !at.Equal(now) {
		t.Errorf("evaluatedAt: got %v, want %v", at, now)
	}
	fast := res["support-bot/fast-answers"]
	if !fast.Breached || fast.Samples != 20 || fast.Observed == nil || *fast.Observed != 5000 || fast.Violation == nil {
		t.Fatalf("fast-answers: got %+v, want breached at p95 5000 over 20 samples, with a violation", fast)
	}
	if got, want := brief([]violationAnswer{*fast.Violation}), []string{"fast-answers/commitment/major[a-11 a-3]"}; !reflect.DeepEqual(got, want) {
		t.Errorf("fast-answers violation: got %v, want %v", got, want)
	}
	if !strings.Contains(fast.Violation.Explanation, "latency_p95_ms was 5000 over 20 samples") {
		t.Errorf("fast-answers explanation: %q", fast.Violation.Explanation)
	}
	if errs := res["support-bot/few-errors"]; errs.Breached || errs.Observed == nil || *errs.Observed != 0.05 || errs.Violation != nil {
		t.Errorf("few-errors: got %+v, want held at 0.05", errs)
	}
	if acc := res["support-bot/accurate"]; acc.Breached || acc.Samples != 0 || !strings.Contains(acc.Explanation, "eval results") {
		t.Errorf("accurate: got %+v, want no samples, explained", acc)
	}

	// The same breach an hour later is not reported again.
	later := now.Add(time.Hour)
	clock.Store(&later)
	_, res = evaluate(f.client, ev, "support-agent")
	if again := res["support-bot/fast-answers"]; !again.Breached || again.Violation != nil || again.ReportedAs != fast.Violation.ID {
		t.Errorf("re-evaluated: got %+v, want breached, reported as %s", again, fast.Violation.ID)
	}

	// A day later, a new window of slow answers is a new violation; the
	// first window's records have left it.
	nextDay := now.Add(25 * time.Hour)
	clock.Store(&nextDay)
	ingestViolations(f.client, f.ingest, outputs("b", nextDay.Add(-time.Hour), 4, func(int) float64 { return 3000 }, func(i int) bool { return i < 2 }))
	_, res = evaluate(f.client, ev, "support-agent")
	if r := res["support-bot/fast-answers"]; !r.Breached || r.Samples != 4 || r.Violation == nil || r.Violation.ID == fast.Violation.ID {
		t.Errorf("next day fast-answers: got %+v, want a new violation over 4 samples", r)
	}
	if r := res["support-bot/few-errors"]; !r.Breached || r.Violation == nil || r.Violation.Severity != "critical" || len(r.Violation.RecordIDs) != 2 {
		t.Errorf("next day few-errors: got %+v, want breached at 0.5, critical, 2 failures as evidence", r)
	}
	listed, _ := listViolations(f.client, f.read, "?kind=commitment")
	if len(listed) != 3 {
		t.Errorf("commitment violations listed: got %v, want 3", brief(listed))
	}

	if r := f.do("POST", "/v1/pacts/nope/commitments/evaluate", ev, nil); r.status != 404 {
		t.Errorf("unknown pact: got %d, want 404", r.status)
	}
}
