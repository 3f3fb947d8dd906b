package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
)

type flagAnswer struct {
	ID, AgentID, Metric, Detail, Explanation string
	Value, Median, Z                         float64
	History                                  int
	Start, End                               time.Time
}

func (f *fixture) anomalies(agent string) []flagAnswer {
	f.t.Helper()
	var l struct{ Items []flagAnswer }
	json.Unmarshal(f.must200raw("GET", "/v1/agents/"+agent+"/anomalies", f.read), &l)
	return l.Items
}

// toolCalls makes n tool calls of agent in the hour from start, the ith
// calling tools[i%len(tools)], failed ones failing.
func toolCalls(agent string, start time.Time, n, failed int, tools ...string) []string {
	var out []string
	for i := range n {
		outcome := "success"
		if i < failed {
			outcome = "failure"
		}
		out = append(out, fmt.Sprintf(`{"id":"%s-%d-%d","agentId":%q,"time":%q,"type":"tool_call","tool":{"name":%q,"arguments":{}},"outcome":%q}`,
			agent, start.Unix(), i, agent, start.Add(time.Duration(i)*time.Second).Format(time.RFC3339), tools[i%len(tools)], outcome))
	}
	return out
}

// TestAnomalies: an agent with nine days of steady traffic, then an hour
// with ten times the calls, a tool it never used and failures, is flagged
// on each, and flags on two or more metrics at once open a medium
// incident; an agent with a day of history is flagged on nothing.
func TestAnomalies(t *testing.T) { stores(t, testAnomalies) }

func testAnomalies(t *testing.T, opts ...apptest.Option) {
	now := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour).Add(30 * time.Minute)
	f := newFixture(t, append(opts, func(c *app.Config) { c.Now = func() time.Time { return now } })...)
	judged := now.Truncate(time.Hour).Add(-time.Hour)
	for _, id := range []string{"busy-bot", "new-bot"} {
		f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": id})
	}
	var events []string
	for h := 9 * 24; h >= 1; h-- {
		events = append(events, toolCalls("busy-bot", judged.Add(-time.Duration(h)*time.Hour), 20, 0, "lookup_order", "send_reply")...)
	}
	for h := 24; h >= 1; h-- {
		events = append(events, toolCalls("new-bot", judged.Add(-time.Duration(h)*time.Hour), 20, 0, "lookup_order")...)
	}
	spike := func(agent string) []string {
		return toolCalls(agent, judged, 200, 100, "wire_transfer", "wire_transfer", "wire_transfer", "lookup_order")
	}
	events = append(append(events, spike("busy-bot")...), spike("new-bot")...)
	for len(events) > 0 {
		n := min(len(events), 5000)
		f.must(200, "POST", "/v1/events", f.ingest, batch(events[:n]...))
		events = events[n:]
	}
	if err := f.env.API().DetectAnomalies(t.Context()); err != nil {
		t.Fatal(err)
	}
	flags := f.anomalies("busy-bot")
	var metrics []string
	for _, fl := range flags {
		metrics = append(metrics, fl.Metric)
		if !fl.Start.Equal(judged) || !fl.End.Equal(judged.Add(time.Hour)) || fl.Explanation == "" || fl.AgentID != "busy-bot" {
			t.Errorf("flag: %+v", fl)
		}
		if fl.Metric == "newTools" && fl.Detail != "wire_transfer" {
			t.Errorf("new tools: %+v", fl)
		}
		if fl.Metric == "toolCallsPerHour" && (fl.Value != 200 || fl.Median != 20 || fl.History != 9) {
			t.Errorf("tool calls: %+v", fl)
		}
	}
	slices.Sort(metrics)
	if want := []string{"errorRate", "newTools", "toolCallsPerHour", "toolMixDivergence"}; !slices.Equal(metrics, want) {
		t.Fatalf("flagged %v, want %v", metrics, want)
	}
	if l := f.anomalies("new-bot"); len(l) != 0 {
		t.Errorf("an agent with a day of history was flagged: %+v", l)
	}

	// Flags on several metrics at once: a medium incident, evidence the
	// flags, the agent left alone.
	if err := f.env.API().EvaluateAgentIncidents(t.Context(), "default", "busy-bot"); err != nil {
		t.Fatal(err)
	}
	ins := f.incidents("?agent=busy-bot")
	if len(ins) != 1 || ins[0].Rule != "multi-metric-anomaly" || ins[0].Severity != "medium" || !slices.Equal(ins[0].Playbook, []string{"notify"}) ||
		len(ins[0].Evidence) != 4 || ins[0].Evidence[0].Kind != "anomaly" {
		t.Fatalf("incidents: %+v", ins)
	}
	for _, e := range ins[0].Evidence {
		if !slices.ContainsFunc(flags, func(fl flagAnswer) bool { return fl.ID == e.ID }) {
			t.Errorf("evidence %s is not a flag", e.ID)
		}
	}
	var agent struct{ Status string }
	json.Unmarshal(f.must200raw("GET", "/v1/agents/busy-bot", f.read), &agent)
	if agent.Status != "active" {
		t.Errorf("a medium incident changed the agent: %+v", agent)
	}

	// Found again, a flag is stored once.
	if err := f.env.API().DetectAnomalies(t.Context()); err != nil {
		t.Fatal(err)
	}
	if again := f.anomalies("busy-bot"); len(again) != len(flags) {
		t.Errorf("flags after a second detection: %d, want %d", len(again), len(flags))
	}
	for _, tc := range []struct {
		path, key string
		status    int
	}{
		{"/v1/agents/busy-bot/anomalies?from=soon", f.read, 400},
		{"/v1/agents/busy-bot/anomalies?cursor=bm9wZQ", f.read, 400},
		{"/v1/agents/ghost/anomalies", f.read, 404},
		{"/v1/agents/busy-bot/anomalies", f.otherAdmin, 404},
		{"/v1/agents/busy-bot/anomalies?limit=2", f.read, 200},
	} {
		if r := f.do("GET", tc.path, tc.key, nil); r.status != tc.status {
			t.Errorf("GET %s: got %d, want %d: %s", tc.path, r.status, tc.status, r.body)
		} else if tc.status == 200 && !strings.Contains(string(r.body), "nextCursor") {
			t.Errorf("a page of 2 of 4 flags has no cursor: %s", r.body)
		}
	}
}
