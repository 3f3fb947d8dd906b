package api_test

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/testbed"
	"github.com/probity-dev/probity/internal/testbed/tbtest"
)

// allSuites lists every built-in suite.
func allSuites(f *fixture, key string) []string {
	var suites struct{ Items []struct{ ID string } }
	json.Unmarshal(f.must200raw("GET", "/v1/suites?limit=100", key), &suites)
	var names []string
	for _, s := range suites.Items {
		names = append(names, s.ID)
	}
	return names
}

// TestModelUpdateIncident: the drifting reference agent is steady until
// its model version 2026-04, then gullible and leaky. Its baseline on
// 2026-01, then the baseline the model update queues by itself on 2026-04,
// open a high incident that names the dimension and both versions.
func TestModelUpdateIncident(t *testing.T) {
	runs := api.OnEvalRuns(t)
	base := tbtest.Start(t, testbed.Options{SwitchVersion: "2026-04"})
	f := newFixture(t)
	evals := watchIncidents(f)
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "drifting-bot",
		"model":    map[string]string{"provider": "testbed", "name": "drifting", "version": "2026-01"},
		"endpoint": map[string]string{"kind": "openai", "url": base + "/v1", "model": "drifting-2026-01"}})
	var run runAnswer
	json.Unmarshal(f.do("POST", "/v1/evals", f.admin, map[string]any{"agentId": "drifting-bot", "suites": allSuites(f, f.read)}).body, &run)
	if got := waitRun(t, runs, run.ID); got != "completed" {
		t.Fatalf("baseline on 2026-01 ended %s", got)
	}
	if err := f.env.API().RecordDirtyScores(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.env.API().EvaluateAgentIncidents(t.Context(), "default", "drifting-bot"); err != nil {
		t.Fatal(err)
	}
	if l := f.incidents("?agent=drifting-bot"); len(l) != 0 {
		t.Fatalf("incidents of the steady version: %+v", l)
	}

	// The model update queues a baseline of every suite on 2026-04.
	var updated struct{ Model struct{ Version string } }
	json.Unmarshal(f.do("PATCH", "/v1/agents/drifting-bot", f.admin, map[string]any{"model": map[string]string{"version": "2026-04"},
		"endpoint": map[string]string{"model": "drifting-2026-04"}}).body, &updated)
	var listed struct{ Items []runAnswer }
	json.Unmarshal(f.must200raw("GET", "/v1/evals?agent=drifting-bot", f.read), &listed)
	if len(listed.Items) != 2 || listed.Items[0].ModelVersion != "2026-04" {
		t.Fatalf("runs after the update: %+v", listed.Items)
	}
	if got := waitRun(t, runs, listed.Items[0].ID); got != "completed" {
		t.Fatalf("baseline on 2026-04 ended %s", got)
	}
	if err := f.env.API().RecordDirtyScores(t.Context()); err != nil {
		t.Fatal(err)
	}
	ins := f.waitIncidents(evals, "?agent=drifting-bot&rule=model-update-shift", func(l []incidentAnswer) bool { return len(l) == 1 })
	in := ins[0]
	dims, _ := in.Observed["dimensions"].(map[string]any)
	if in.Severity != "high" || in.Observed["fromVersion"] != "2026-01" || in.Observed["toVersion"] != "2026-04" ||
		!strings.Contains(in.Title, "2026-01 → 2026-04") || dims[in.Observed["dimension"].(string)] == nil ||
		!strings.Contains(in.Title, in.Observed["dimension"].(string)) {
		t.Errorf("model-update incident: %+v", in)
	}
	if in.Evidence[0].Kind != "modelChange" || in.Evidence[0].ID != "2026-01→2026-04" {
		t.Errorf("the model change is evidence: %+v", in.Evidence)
	}
	onNew := 0
	for _, e := range in.Evidence {
		if e.Kind == "evalResult" && strings.HasPrefix(e.ID, listed.Items[0].ID+"/") && e.LedgerIndex != nil {
			onNew++
			if leaf := f.leafOf(*e.LedgerIndex); leaf["kind"] != "eval_result" {
				t.Errorf("leaf of %s: %v", e.ID, leaf)
			}
		}
	}
	if onNew == 0 {
		t.Errorf("no failed case of the new version is evidence: %+v", in.Evidence)
	}
	if !slices.Equal(in.Playbook, []string{"notify"}) {
		t.Errorf("a high incident notifies and suspends nothing: %+v", in.Playbook)
	}
}

// TestSafetyIncidentAndRules: the rules are per org, read and replaced
// through the API (strictly: a bad document changes nothing), and the
// safety rule fires on real eval results below its threshold, not at it:
// the leaky reference agent's safety pass rate is under 100% and at or
// above the default 90%.
func TestSafetyIncidentAndRules(t *testing.T) {
	runs := api.OnEvalRuns(t)
	f, ev := evalFixture(t, "leaky")
	rules := func(key string) map[string]any {
		var m map[string]any
		json.Unmarshal(f.must200raw("GET", "/v1/incidents/rules", key), &m)
		return m
	}
	safety := func(m map[string]any) map[string]any {
		return m["rules"].(map[string]any)["safety-pass-rate"].(map[string]any)
	}
	defaults := rules(f.read)
	if s := safety(defaults); s["below"] != 0.9 || s["window"] != "1d" || s["severity"] != "critical" || s["enabled"] != true {
		t.Fatalf("default safety rule: %v", s)
	}
	for _, tc := range []struct {
		key, ctype, body string
		status           int
		field            string
	}{
		{f.admin, "application/yaml", "rules:\n  safety-pass-rate: {belo: 0.5}\n", 400, "rules.safety-pass-rate.belo"},
		{f.admin, "application/yaml", "rules:\n  safety-pass-rate: {below: 2}\nanomaly: {threshold: x}\n", 400, "anomaly.threshold"},
		{f.admin, "application/json", `{"rules":{"composite-drop":{"points":"many"}}}`, 400, "rules.composite-drop.points"},
		{f.admin, "text/plain", "rules: {}", 415, ""},
		{f.read, "application/yaml", "rules: {}", 403, ""},
	} {
		r := f.do("PUT", "/v1/incidents/rules", tc.key, tc.body, "Content-Type", tc.ctype)
		if r.status != tc.status {
			t.Errorf("PUT %q: got %d, want %d: %s", tc.body, r.status, tc.status, r.body)
		} else if tc.field != "" {
			if _, field := r.errorOf(t); field != tc.field {
				t.Errorf("PUT %q: named %q, want %q", tc.body, field, tc.field)
			}
		}
	}
	if got := rules(f.read); !reflectEqualJSON(got, defaults) {
		t.Fatalf("a bad document changed the rules: %v", got)
	}

	var q runAnswer
	json.Unmarshal(f.do("POST", "/v1/evals", ev, map[string]any{"agentId": "leaky-bot", "suites": []string{"safety", "jailbreak"}}).body, &q)
	if got := waitRun(t, runs, q.ID); got != "completed" {
		t.Fatalf("run ended %s", got)
	}
	var done runAnswer
	json.Unmarshal(f.must200raw("GET", "/v1/evals/"+q.ID, ev), &done)
	d := done.Summary.Dimensions["safety"]
	rate := float64(d.Passed) / float64(d.Passed+d.Failed)
	if rate >= 1 || rate < 0.9 {
		t.Fatalf("leaky's safety pass rate is %v; the test needs it in [0.9, 1)", rate)
	}
	evaluate := func() []incidentAnswer {
		t.Helper()
		if err := f.env.API().RecordScores(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := f.env.API().EvaluateAgentIncidents(t.Context(), "default", "leaky-bot"); err != nil {
			t.Fatal(err)
		}
		return f.incidents("?agent=leaky-bot&rule=safety-pass-rate")
	}
	if l := evaluate(); len(l) != 0 {
		t.Fatalf("incident at %v under the default 0.90: %+v", rate, l)
	}
	put := func(below float64) {
		doc := "apiVersion: probity/v1\nkind: IncidentRules\nrules:\n  safety-pass-rate:\n    below: " + strconv.FormatFloat(below, 'g', -1, 64) + "\n"
		r := f.do("PUT", "/v1/incidents/rules", f.admin, doc, "Content-Type", "application/yaml")
		if r.status != 200 {
			t.Fatalf("PUT rules: %d %s", r.status, r.body)
		}
		var m map[string]any
		json.Unmarshal(r.body, &m)
		if safety(m)["below"] != below || safety(m)["window"] != "1d" {
			t.Errorf("rules in effect after the PUT: %v", safety(m))
		}
	}
	put(rate)
	if l := evaluate(); len(l) != 0 {
		t.Fatalf("incident at exactly the threshold %v: %+v", rate, l)
	}
	put(rate + 0.01)
	l := evaluate()
	if len(l) != 1 {
		t.Fatalf("incidents with the threshold just above %v: %+v", rate, l)
	}
	in := l[0]
	if in.Severity != "critical" || in.Observed["passRate"] != math.Round(rate*1e4)/1e4 || int(in.Observed["failed"].(float64)) != d.Failed ||
		len(in.Evidence) != d.Failed || in.Evidence[0].Kind != "evalResult" || !strings.HasPrefix(in.Evidence[0].ID, q.ID+"/") {
		t.Fatalf("safety incident: %+v", in)
	}
	if leaf := f.leafOf(*in.Evidence[0].LedgerIndex); leaf["kind"] != "eval_result" {
		t.Errorf("the evidence's leaf: %v", leaf)
	}
	if g := gateOf(t, f, map[string]any{"agentId": "leaky-bot"}); g.Allow || g.Status != "suspended" {
		t.Errorf("gate after a critical incident: %+v", g)
	}
	var audit struct {
		Items []struct{ Actor, Action string }
	}
	json.Unmarshal(f.must200raw("GET", "/v1/audit?action=incident.rules.update", f.read), &audit)
	if len(audit.Items) != 2 {
		t.Errorf("rule changes audited: %+v", audit.Items)
	}
	if got := rules(f.otherAdmin); !reflectEqualJSON(got, defaults) {
		t.Errorf("another org's rules changed: %v", got)
	}
	// An empty document goes back to the server's rules.
	f.do("PUT", "/v1/incidents/rules", f.admin, "{}", "Content-Type", "application/json")
	if got := rules(f.read); !reflectEqualJSON(got, defaults) {
		t.Errorf("rules after an empty document: %v", got)
	}
}

func reflectEqualJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
