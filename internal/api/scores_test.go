package api_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/probity-dev/probity/internal/api"
)

type scoreAnswer struct {
	AgentID           string
	CompositeScore    int
	Confidence        float64
	CertificationTier string
	Dimensions        map[string]float64
	SecurityPosture   struct {
		Badges []string
		OWASP  map[string]string
	}
	Evidence struct {
		EvalCases int
		Records   int
	}
	Explain *json.RawMessage
}

type gateAnswer struct {
	Allow             bool
	Reasons           []string
	CompositeScore    int
	CertificationTier string
	Status            string
}

// TestScoreAndGate: an agent with no evidence sits at the prior and the
// gate denies it; after steady passes every built-in suite its security and
// safety are high, the composite clears the reliance threshold and the gate
// allows it; gullible, breached by injections, is denied with every reason.
func TestScoreAndGate(t *testing.T) {
	runs := api.OnEvalRuns(t)
	f, ev := evalFixture(t, "steady")
	var sc scoreAnswer
	json.Unmarshal(f.must200raw("GET", "/v1/agents/steady-bot/score", f.read), &sc)
	if sc.AgentID != "steady-bot" || sc.Dimensions["security"] != 0.5 || sc.Evidence.EvalCases != 0 || sc.Explain != nil {
		t.Fatalf("score without evidence: %+v", sc)
	}
	var g gateAnswer
	g = gateOf(t, f, map[string]any{"agentId": "steady-bot"})
	if g.Allow || len(g.Reasons) < 2 || !strings.Contains(strings.Join(g.Reasons, ";"), "no eval evidence") {
		t.Errorf("gate without evidence: %+v", g)
	}

	var suites struct{ Items []struct{ ID string } }
	json.Unmarshal(f.must200raw("GET", "/v1/suites?limit=100", ev), &suites)
	var names []string
	for _, s := range suites.Items {
		names = append(names, s.ID)
	}
	var queued runAnswer
	json.Unmarshal(f.do("POST", "/v1/evals", ev, map[string]any{"agentId": "steady-bot", "suites": names}).body, &queued)
	if got := waitRun(t, runs, queued.ID); got != "completed" {
		t.Fatalf("run ended %s", got)
	}
	r := f.do("GET", "/v1/agents/steady-bot/score?explain=1", f.read, nil)
	json.Unmarshal(r.body, &sc)
	if sc.Evidence.EvalCases < 400 || sc.Dimensions["security"] < 0.95 || sc.Dimensions["safety"] < 0.95 || sc.CompositeScore < 700 ||
		sc.Explain == nil || sc.SecurityPosture.OWASP["LLM01"] != "tested" {
		t.Fatalf("steady after a full run: %s", r.body)
	}
	g = gateOf(t, f, map[string]any{"agentId": "steady-bot", "requireBadges": []string{"baselined"}})
	if !g.Allow || g.CompositeScore != sc.CompositeScore {
		t.Errorf("gate for steady: %+v (score %d)", g, sc.CompositeScore)
	}
	g = gateOf(t, f, map[string]any{"agentId": "steady-bot", "minScore": 1000, "requireBadges": []string{"pact-compliant"}})
	if g.Allow || len(g.Reasons) != 2 {
		t.Errorf("gate above the score and with a missing badge: %+v", g)
	}
	f.must(200, "POST", "/v1/agents/steady-bot/suspend", f.admin, map[string]any{"reason": "investigation"})
	g = gateOf(t, f, map[string]any{"agentId": "steady-bot"})
	if g.Allow || g.Status != "suspended" || !strings.Contains(g.Reasons[0], "suspended") {
		t.Errorf("gate for a suspended agent: %+v", g)
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"agentId": "ghost"}, "agentId"},
		{map[string]any{"agentId": "steady-bot", "minScore": 2000}, "minScore"},
		{map[string]any{"agentId": "steady-bot", "minTier": "mithril"}, "minTier"},
	} {
		if r := f.do("POST", "/v1/gate", f.read, tc.body); r.status != 400 {
			t.Errorf("gate %v: got %d, want 400", tc.body, r.status)
		} else if _, field := r.errorOf(t); field != tc.field {
			t.Errorf("gate %v: named %s, want %s", tc.body, field, tc.field)
		}
	}

	// The scheduled job stores a snapshot, with a ledger leaf, once per change.
	if err := f.env.API().RecordScores(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := f.env.API().RecordScores(t.Context()); err != nil {
		t.Fatal(err)
	}
	var hist struct {
		Points []struct {
			CompositeScore int
			LedgerIndex    int64
		}
	}
	json.Unmarshal(f.must200raw("GET", "/v1/agents/steady-bot/score/history", f.read), &hist)
	if len(hist.Points) != 1 || hist.Points[0].CompositeScore != sc.CompositeScore {
		t.Errorf("history after two unchanged recomputes: %+v", hist)
	}
	if leaf := string(f.must200raw("GET", "/v1/ledger/entries/"+itoa(hist.Points[0].LedgerIndex), f.read)); !strings.Contains(leaf, `"kind":"score"`) {
		t.Errorf("score leaf: %s", leaf)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// gateOf posts a gate request and decodes the answer.
func gateOf(t *testing.T, f *fixture, body map[string]any) gateAnswer {
	t.Helper()
	r := f.do("POST", "/v1/gate", f.read, body)
	if r.status != 200 {
		t.Fatalf("POST /v1/gate %v: %d %s", body, r.status, r.body)
	}
	var g gateAnswer
	json.Unmarshal(r.body, &g)
	return g
}
