package api_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/ledger"
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
	// A write that does not go through the handlers (a job's, say) reaches
	// the gate at once too.
	err := f.env.Server.Store().Update(t.Context(), func(tx store.Tx) error {
		a, err := tx.GetAgent(t.Context(), "default", "steady-bot")
		if err != nil {
			return err
		}
		a.Status, a.StatusReason = probity.StatusActive, ""
		return tx.UpdateAgent(t.Context(), "default", a)
	})
	if err != nil {
		t.Fatal(err)
	}
	if g = gateOf(t, f, map[string]any{"agentId": "steady-bot"}); !g.Allow || g.Status != "active" {
		t.Errorf("gate after a reactivation in the store: %+v", g)
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

// TestAttestation: the server signs the agent's trust state; anyone with
// GET /v1/keys verifies it offline, a tampered or expired one fails, and
// issuing it is a ledger leaf.
func TestAttestation(t *testing.T) {
	f := newFixture(t)
	body := f.must200raw("GET", "/v1/agents/support-bot/attestation", f.read)
	env, err := attest.ParseEnvelope(body)
	if err != nil {
		t.Fatalf("envelope: %v: %s", err, body)
	}
	keys, err := attest.ParseKeys(f.must200raw("GET", "/v1/keys", f.read))
	if err != nil || len(keys) != 1 || keys[0].Status != "active" {
		t.Fatalf("keys: %+v %v", keys, err)
	}
	now := time.Now()
	_, p, err := attest.Verify(env, keys, now, attest.Expect{Subject: attest.SubjectName("default", "support-bot")})
	if err != nil || p.AgentID != "support-bot" || p.ExpiresAt.Sub(p.IssuedAt) != 24*time.Hour || p.Ledger.Size == 0 || p.Ledger.Checkpoint == "" {
		t.Fatalf("verify: %v %+v", err, p)
	}
	if _, _, err := attest.Verify(env, keys, now.Add(25*time.Hour), attest.Expect{}); !errors.Is(err, attest.ErrExpired) {
		t.Errorf("a day later: got %v, want ErrExpired", err)
	}
	if _, _, err := attest.Verify(env, keys, now, attest.Expect{Subject: attest.SubjectName("default", "other-bot")}); !errors.Is(err, attest.ErrSubjectMismatch) {
		t.Errorf("another agent: got %v, want ErrSubjectMismatch", err)
	}
	bad := env
	bad.Payload = strings.Replace(bad.Payload, bad.Payload[10:14], "AAAA", 1)
	if _, _, err := attest.Verify(bad, keys, now, attest.Expect{}); err == nil {
		t.Errorf("a tampered payload verified")
	}
	// The checkpoint it quotes verifies with the ledger's key.
	var k struct{ Ledger struct{ VerifierKey string } }
	json.Unmarshal(f.must200raw("GET", "/v1/keys", f.read), &k)
	if cp, err := ledger.OpenCheckpoint([]byte(p.Ledger.Checkpoint), k.Ledger.VerifierKey); err != nil || cp.Size != p.Ledger.Size {
		t.Errorf("checkpoint in the attestation: %v %+v", err, cp)
	}
	// Issuing it is a ledger leaf; a second one is signed by the same key.
	var rng struct{ Entries []json.RawMessage }
	json.Unmarshal(f.must200raw("GET", "/v1/ledger/entries?from=0&limit=1000", f.read), &rng)
	if last := string(rng.Entries[len(rng.Entries)-1]); !strings.Contains(last, `"kind":"attestation"`) || !strings.Contains(last, keys[0].KeyID) {
		t.Errorf("last leaf: %s", last)
	}
	env2, _ := attest.ParseEnvelope(f.must200raw("GET", "/v1/agents/support-bot/attestation", f.read))
	if env2.Signatures[0].KeyID != keys[0].KeyID {
		t.Errorf("second attestation signed by %s, want %s", env2.Signatures[0].KeyID, keys[0].KeyID)
	}
	if r := f.do("GET", "/v1/agents/ghost/attestation", f.read, nil); r.status != 404 {
		t.Errorf("unknown agent: got %d, want 404", r.status)
	}
}

// TestInventoryVerification: after a full run of every suite on the
// agent's model version, the inventory shows a baseline and a recent eval.
func TestInventoryVerification(t *testing.T) {
	runs := api.OnEvalRuns(t)
	f, ev := evalFixture(t, "steady")
	type item struct {
		AgentID      string
		Verification struct{ PactBound, BaselineEval, Monitored24h, EvalLast7Days bool }
	}
	find := func() item {
		var l struct{ Items []item }
		json.Unmarshal(f.must200raw("GET", "/v1/inventory", f.read), &l)
		for _, it := range l.Items {
			if it.AgentID == "steady-bot" {
				return it
			}
		}
		t.Fatal("steady-bot is not in the inventory")
		return item{}
	}
	if v := find().Verification; v.BaselineEval || v.EvalLast7Days {
		t.Fatalf("before any eval: %+v", v)
	}
	var queued runAnswer
	json.Unmarshal(f.do("POST", "/v1/evals", ev, map[string]any{"agentId": "steady-bot", "suites": []string{"safety"}}).body, &queued)
	waitRun(t, runs, queued.ID)
	if v := find().Verification; v.BaselineEval || !v.EvalLast7Days {
		t.Errorf("after one suite: %+v, want a recent eval and no baseline", v)
	}
	var suites struct{ Items []struct{ ID string } }
	json.Unmarshal(f.must200raw("GET", "/v1/suites?limit=100", ev), &suites)
	var names []string
	for _, s := range suites.Items {
		names = append(names, s.ID)
	}
	json.Unmarshal(f.do("POST", "/v1/evals", ev, map[string]any{"agentId": "steady-bot", "suites": names}).body, &queued)
	waitRun(t, runs, queued.ID)
	if v := find().Verification; !v.BaselineEval || !v.EvalLast7Days {
		t.Errorf("after every suite: %+v, want a baseline", v)
	}
}

// TestScoreDebounced: new evidence marks the agent, and the next debounced
// pass stores its changed score; a pass with nothing new stores nothing.
func TestScoreDebounced(t *testing.T) {
	f := newFixture(t)
	srv := f.env.API()
	if err := srv.RecordDirtyScores(t.Context()); err != nil {
		t.Fatal(err)
	}
	var hist struct {
		Points []struct{ CompositeScore int }
	}
	json.Unmarshal(f.must200raw("GET", "/v1/agents/support-bot/score/history", f.read), &hist)
	if len(hist.Points) != 0 {
		t.Fatalf("a pass with no evidence stored %d snapshots", len(hist.Points))
	}
	ingestViolations(f.client, f.ingest, batch(call("d-1", "s-d", 0, "lookup_order", `{"order_id":"AB-1"}`)))
	if err := srv.RecordDirtyScores(t.Context()); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(f.must200raw("GET", "/v1/agents/support-bot/score/history", f.read), &hist)
	if len(hist.Points) != 1 {
		t.Errorf("after a record: %d snapshots, want 1", len(hist.Points))
	}
}
