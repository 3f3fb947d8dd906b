package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/score"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	t0   = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tEnd = t0.Add(30 * 24 * time.Hour)
)

// scoreOf is a score with an explanation, as the API computes it.
func scoreOf(id string, composite int, tier string, badges []string, owasp map[string]string, dims score.Dimensions, observed int) score.Score {
	ex := &score.Explanation{Dimensions: map[string]score.DimensionDetail{}}
	for _, d := range score.DimensionNames() {
		ex.Dimensions[d] = score.DimensionDetail{Observations: observed}
	}
	for _, b := range badgeOrder {
		ex.Badges = append(ex.Badges, score.BadgeDetail{Name: b, Awarded: slices.Contains(badges, b), Reason: "why " + b})
	}
	full := map[string]string{}
	for _, id := range score.OWASPIDs() {
		full[id] = Uncovered
		if v, ok := owasp[id]; ok {
			full[id] = v
		}
	}
	return score.Score{AgentID: id, CompositeScore: composite, CertificationTier: tier, Dimensions: dims,
		SecurityPosture: score.Posture{Badges: badges, OWASP: full},
		Evidence:        score.EvidenceSummary{LastEvalAt: tEnd.Add(-24 * time.Hour), LastRecordAt: tEnd.Add(-time.Hour)},
		Explain:         ex}
}

func all(v float64) score.Dimensions {
	return score.Dimensions{Accuracy: v, Reliability: v, Safety: v, Security: v, ScopeAdherence: v, OutputSanitization: v}
}

// testFacts is a small fleet: a healthy, fully covered agent, and a
// suspended one with hostile text and every kind of gap.
func testFacts() Facts {
	good := AgentFacts{
		Agent: probity.Agent{ID: "pay-bot", Name: "Payments", Owner: "treasury", RiskTier: "high", Status: probity.StatusActive,
			Model: probity.Model{Provider: "acme", Name: "m", Version: "2"}, Access: probity.Access{Financial: true}},
		Score: scoreOf("pay-bot", 912, "platinum", slices.Clone(badgeOrder),
			map[string]string{"LLM01": Tested, "LLM02": Tested, "LLM05": Monitored, "LLM06": Tested}, all(0.95), 40),
		Records: 1200,
		Evals: EvalFacts{Runs: 2, Completed: 2, Cases: 300, CasesFailed: 6, InjectionCases: 120, InjectionSucceeded: 0,
			OWASP: map[string]CaseCount{"LLM01": {Cases: 150, Failed: 2}, "LLM02": {Cases: 50}}},
		ModelUpdates: []ModelUpdate{{At: t0.Add(48 * time.Hour), From: probity.Model{Version: "1"}, To: probity.Model{Provider: "acme", Name: "m", Version: "2"},
			Assessed: true, AssessedAt: t0.Add(50 * time.Hour)}},
	}
	good.Score.Pact = score.PactRef{ID: "payments", Version: 3, Digest: "sha256:ab"}
	bad := AgentFacts{
		Agent: probity.Agent{ID: "web-bot", Name: `<script>alert(1)</script>`, Owner: "", Status: probity.StatusSuspended,
			StatusReason: `[phish](https://evil.example) <img src=x onerror=alert(2)>`, Model: probity.Model{Version: "7"}},
		Score: scoreOf("web-bot", 430, "uncertified", []string{score.BadgeMonitored},
			map[string]string{"LLM01": Tested, "LLM05": Monitored}, score.Dimensions{Accuracy: 0.5, Reliability: 0.8, Safety: 0.95,
				Security: 0.41, ScopeAdherence: 0.7, OutputSanitization: 0.99}, 10),
		Records:       50,
		Evals:         EvalFacts{Runs: 1, Completed: 1, Cases: 60, CasesFailed: 30, InjectionCases: 60, InjectionSucceeded: 30, OWASP: map[string]CaseCount{"LLM01": {Cases: 60, Failed: 30}}},
		Violations:    ViolationFacts{Total: 3, BySeverity: map[string]int{"critical": 2, "major": 1}, Confirmed: 1, OWASP: map[string]int{"LLM01": 1, "LLM06": 2}},
		ModelUpdates:  []ModelUpdate{{At: t0.Add(72 * time.Hour), From: probity.Model{Version: "6"}, To: probity.Model{Version: "7"}}},
		OpenIncidents: score.Incidents{Critical: 1},
	}
	bad.Score.ScoreVelocity.Last7Days = -140
	bad.Score.Evidence.LastEvalAt = tEnd.Add(-10 * 24 * time.Hour)
	return Facts{
		Org: "acme", GeneratedAt: tEnd.Add(time.Minute), From: t0, To: tEnd,
		Thresholds: Thresholds{Reliance: 700, LowDimension: 0.9, GracePeriod: 7 * 24 * time.Hour, Decline: 20, BaselineSuites: []string{"a", "b"}},
		Agents:     []AgentFacts{good, bad},
		Ledger:     LedgerFacts{Origin: "probity/acme/1", Size: 4242, RootHash: "abc=", Checkpoint: "probity/acme/1\n4242\nabc=\n\n— probity/acme/1 sig\n"},
		Oversight: OversightFacts{Suspensions: []Action{{Time: t0.Add(80 * time.Hour), Actor: "k_1", AgentID: "web-bot", Reason: "confirmed injection"}},
			Pacts: 1, AttestationKeyID: "ak_1", AttestationKeySince: t0},
		Incidents: &IncidentFacts{
			Rules: []Rule{{"safety-pass-rate", "critical", true}, {"composite-drop", "high", true}, {"decay-without-recovery", "medium", true}, {"check-regression", "medium", false}},
			Incidents: []Incident{
				{ID: "in_1", AgentID: "web-bot", Rule: "confirmed-injection", Severity: "critical", Status: "open", Title: `injected <b>call</b>`, OpenedAt: t0.Add(80 * time.Hour)},
				{ID: "in_2", AgentID: "pay-bot", Rule: "composite-drop", Severity: "high", Status: "resolved", OpenedAt: t0.Add(24 * time.Hour),
					AcknowledgedAt: t0.Add(25 * time.Hour), ResolvedAt: t0.Add(30 * time.Hour), RootCause: "bad deploy"},
				{ID: "in_3", AgentID: "pay-bot", Rule: "decay-without-recovery", Severity: "medium", Status: "resolved", OpenedAt: t0.Add(-48 * time.Hour),
					ResolvedAt: t0.Add(2 * time.Hour), RootCause: "evals rescheduled"},
				{ID: "in_4", AgentID: "pay-bot", Rule: "check-regression", Severity: "medium", Status: "resolved", OpenedAt: t0.Add(-96 * time.Hour),
					ResolvedAt: t0.Add(-72 * time.Hour), RootCause: "before the period"},
			},
		},
	}
}

func TestBuild(t *testing.T) {
	r := Build(testFacts())
	if got := []string{r.Agents[0].ID, r.Agents[1].ID}; !slices.Equal(got, []string{"web-bot", "pay-bot"}) {
		t.Errorf("agent order: got %v, want the one with an open critical incident first", got)
	}
	web := r.Agents[0]
	kinds := []string{}
	for _, rk := range web.Risks {
		kinds = append(kinds, rk.Kind)
	}
	want := []string{RiskSuspended, RiskOpenIncidents, RiskViolations, RiskBelowReliance, RiskDeclining, RiskLowDimension,
		RiskMissingBadge, RiskMissingBadge, RiskUnassessed, RiskStaleEvidence, RiskNoPact, RiskViolations, RiskIncompleteInfo}
	if !slices.Equal(kinds, want) {
		t.Errorf("web-bot risks:\ngot  %v\nwant %v", kinds, want)
	}
	if low := web.Risks[5].Text; low != "lowest dimensions: security 0.41, accuracy 0.50, scope adherence 0.70, reliability 0.80" {
		t.Errorf("low dimensions: %q", low)
	}
	if len(r.Agents[1].Risks) != 0 {
		t.Errorf("pay-bot: got risks %+v, want none", r.Agents[1].Risks)
	}

	h := r.Incidents
	if !h.Tracked || h.Opened != (score.Incidents{Critical: 1, High: 1}) || h.Resolved != 2 || h.WithRootCause != 2 || h.Acknowledged != 1 ||
		h.Open != (score.Incidents{Critical: 1}) || len(h.Items) != 3 || h.Items[0].ID != "in_1" {
		t.Errorf("incident history: %+v", h)
	}
	// in_2 took 6h, in_3 (opened before the period) 50h: 28h on average.
	if h.MeanTimeToResolve == nil || h.MeanTimeToResolve.Seconds != 28*3600 || h.MeanTimeToResolve.Text != "1d 4h" {
		t.Errorf("mean time to resolve: %+v", h.MeanTimeToResolve)
	}

	for _, want := range []Coverage{
		{ID: ItemInventory, Status: Partial, Met: 1, Total: 2, Lacking: []string{"web-bot"}},
		{ID: ItemBaselines, Status: Partial, Met: 1, Total: 2, Lacking: []string{"web-bot"}},
		{ID: ItemMonitor, Status: Met, Met: 2, Total: 2, Lacking: []string{}},
		{ID: ItemIncidents, Status: Met, Met: 3, Total: 4, Lacking: []string{"check-regression"}},
		{ID: ItemModels, Status: Partial, Met: 1, Total: 2, Lacking: []string{"web-bot"}},
	} {
		i := slices.IndexFunc(r.Programme, func(c Coverage) bool { return c.ID == want.ID })
		got := r.Programme[i]
		if got.Status != want.Status || got.Met != want.Met || got.Total != want.Total || !slices.Equal(got.Lacking, want.Lacking) {
			t.Errorf("programme %s: got %s %d/%d %v, want %s %d/%d %v", want.ID, got.Status, got.Met, got.Total, got.Lacking,
				want.Status, want.Met, want.Total, want.Lacking)
		}
	}

	owasp := map[string]OWASPItem{}
	for _, it := range r.OWASP {
		owasp[it.ID] = it
	}
	for id, want := range map[string]struct {
		status                      string
		tested, monitored, cases, v int
	}{
		"LLM01:2025": {Tested, 2, 0, 210, 1},
		"LLM05:2025": {Monitored, 0, 2, 0, 0},
		"LLM06:2025": {Uncovered, 1, 0, 0, 2},
		"LLM08:2025": {Uncovered, 0, 0, 0, 0},
	} {
		it := owasp[id]
		if it.Status != want.status || it.Tested != want.tested || it.Monitored != want.monitored || it.EvalCases != want.cases || it.Violations != want.v {
			t.Errorf("%s: got %s %d tested %d monitored, %d cases, %d violations; want %+v", id, it.Status, it.Tested, it.Monitored, it.EvalCases, it.Violations, want)
		}
	}
	if it := owasp["LLM02:2025"]; !slices.Equal(it.Was, []string{"LLM06:2023 Sensitive Information Disclosure"}) || !slices.Equal(it.UncoveredBy, []string{"web-bot"}) {
		t.Errorf("LLM02: %+v", it)
	}

	status := map[string]string{}
	for _, c := range r.EUAIAct {
		status[c.Article] = c.Status
	}
	if want := map[string]string{"Article 9": Evidenced, "Article 12": Evidenced, "Article 13": Incomplete, "Article 14": Incomplete, "Article 15": Evidenced}; !mapsEqual(status, want) {
		t.Errorf("EU AI Act statuses: got %v, want %v", status, want)
	}
	art12 := r.EUAIAct[1]
	if !strings.Contains(strings.Join(art12.Evidence, "\n"), "4242 entries") || !strings.Contains(strings.Join(art12.Evidence, "\n"), "1250 behavioral records in the period from 2 of 2 agents") {
		t.Errorf("Article 12 evidence: %q", art12.Evidence)
	}

	for _, g := range r.Gaps {
		if g.AgentID == "web-bot" && g.Owner != unassigned || g.AgentID == "pay-bot" && g.Owner != "treasury" || g.AgentID == "" && g.Owner != fleetOwner {
			t.Errorf("gap %+v: wrong owner", g)
		}
		if g.Priority < 1 || g.Priority > 3 || g.Action == "" {
			t.Errorf("gap %+v", g)
		}
	}
	if r.Gaps[0].Priority != 1 || r.Summary.Gaps != len(r.Gaps) || r.Summary.MedianComposite != 671 || r.Summary.BelowReliance != 1 {
		t.Errorf("summary %+v, first gap %+v", r.Summary, r.Gaps[0])
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestBuildEmpty: an org with nothing in it gets a report that says so,
// every programme item missing and no OWASP item covered.
func TestBuildEmpty(t *testing.T) {
	f := Facts{Org: "new", From: t0, To: tEnd, GeneratedAt: tEnd, Thresholds: DefaultThresholds(score.DefaultConfig())}
	r := Build(f)
	for _, c := range r.Programme {
		want := Missing
		if c.ID == ItemModels {
			want = Met // nothing changed, so nothing was left unassessed
		}
		if c.Status != want {
			t.Errorf("programme %s: %s, want %s", c.ID, c.Status, want)
		}
	}
	for _, it := range r.OWASP {
		if it.Status != Uncovered {
			t.Errorf("%s: %s", it.ID, it.Status)
		}
	}
	for _, c := range r.EUAIAct {
		if c.Status != NoEvidence {
			t.Errorf("%s: %s, want none", c.Article, c.Status)
		}
	}
	if r.Incidents.Tracked || r.Incidents.Note == "" || r.Agents == nil || r.Gaps == nil {
		t.Errorf("empty report: %+v", r)
	}
	var b bytes.Buffer
	for _, render := range []func(*bytes.Buffer, Report) error{
		func(b *bytes.Buffer, r Report) error { return Markdown(b, r) },
		func(b *bytes.Buffer, r Report) error { return HTML(b, r) },
		func(b *bytes.Buffer, r Report) error { return JSON(b, r) },
	} {
		b.Reset()
		if err := render(&b, r); err != nil || b.Len() == 0 {
			t.Errorf("rendering an empty report: %v", err)
		}
	}
}

func TestMarkdownEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"support-bot", "support-bot"},
		{"a_b*c", `a\_b\*c`},
		{`<script>alert(1)</script>`, `\<script\>alert(1)\</script\>`},
		{"[x](https://evil.example)", `\[x\](https\://evil.example)`},
		{"see www.evil.example", `see www\.evil.example`},
		{"mail bob@evil.example", `mail bob\@evil.example`},
		{"a | b", `a \| b`},
		{"two\nlines\tand\rtab", "two lines and tab"},
		{"`code` ~~x~~ &amp; #h", "\\`code\\` \\~\\~x\\~\\~ \\&amp; \\#h"},
		{"bidi\u202eevil\x1b[31m", `bidievil\[31m`},
		{"time: 10:30", "time: 10:30"},
	} {
		if got := md(tc.in); got != tc.want {
			t.Errorf("md(%q): got %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRenderEscapes: hostile inventory text reaches neither the HTML nor
// the Markdown as markup.
func TestRenderEscapes(t *testing.T) {
	r := Build(testFacts())
	var h, m bytes.Buffer
	if err := HTML(&h, r); err != nil {
		t.Fatal(err)
	}
	if err := Markdown(&m, r); err != nil {
		t.Fatal(err)
	}
	html := h.String()
	for _, bad := range []string{"<script", "<img", "<b>call", "href"} {
		if strings.Contains(html, bad) {
			t.Errorf("html holds %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;", "injected &lt;b&gt;call&lt;/b&gt;",
		`content="default-src &#39;none&#39;`} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q", want)
		}
	}
	if strings.Contains(m.String(), "](https://") || regexp.MustCompile(`(^|[^\\])<img`).MatchString(m.String()) {
		t.Errorf("markdown carries a link or an image")
	}
}

// TestGolden pins the three renderings of a fixed report, so that a change
// of format is a visible diff (go test ./internal/report -update rewrites
// them).
func TestGolden(t *testing.T) {
	r := Build(testFacts())
	for _, g := range []struct {
		file   string
		render func(*bytes.Buffer) error
	}{
		{"report.md", func(b *bytes.Buffer) error { return Markdown(b, r) }},
		{"report.html", func(b *bytes.Buffer) error { return HTML(b, r) }},
		{"report.json", func(b *bytes.Buffer) error { return JSON(b, r) }},
	} {
		var b bytes.Buffer
		if err := g.render(&b); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to write it)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s differs from the golden file; run go test ./internal/report -update and review the diff", g.file)
		}
	}
	// The JSON is stable: decoding and encoding it again gives the same bytes.
	var b, again bytes.Buffer
	JSON(&b, r)
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	JSON(&again, back)
	if !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Errorf("the JSON does not round-trip")
	}
}
