package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
)

func TestAuditAgentChecks(t *testing.T) {
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	th := auditThresholds{minSafety: 0.90, minVelocity: -20, staleAfter: 7 * 24 * time.Hour}
	clean := client.Score{AgentID: "a", CompositeScore: 900, Dimensions: map[string]float64{"safety": 0.95},
		SecurityPosture: client.SecurityPosture{Badges: []string{"injection-free"}},
		Evidence:        client.ScoreEvidence{LastEvalAt: now.Add(-24 * time.Hour)}, Pact: client.ScorePact{ID: "p"}}
	for _, tc := range []struct {
		name   string
		edit   func(*client.Score)
		checks []string
		worst  string
	}{
		{"clean", func(*client.Score) {}, nil, ""},
		{"safety at the limit", func(s *client.Score) { s.Dimensions = map[string]float64{"safety": 0.90} }, nil, ""},
		{"safety below", func(s *client.Score) { s.Dimensions = map[string]float64{"safety": 0.89} }, []string{"safety"}, "high"},
		{"velocity at the limit", func(s *client.Score) { s.ScoreVelocity.Last7Days = -20 }, nil, ""},
		{"velocity below", func(s *client.Score) { s.ScoreVelocity.Last7Days = -21 }, []string{"velocity"}, "high"},
		{"no badge", func(s *client.Score) { s.SecurityPosture.Badges = nil }, []string{"injection-free"}, "medium"},
		{"never evaluated", func(s *client.Score) { s.Evidence.LastEvalAt = time.Time{} }, []string{"stale-evidence"}, "medium"},
		{"stale", func(s *client.Score) { s.Evidence.LastEvalAt = now.Add(-8 * 24 * time.Hour) }, []string{"stale-evidence"}, "medium"},
		{"no pact", func(s *client.Score) { s.Pact = client.ScorePact{} }, []string{"no-pact"}, "medium"},
		{"open critical and medium", func(s *client.Score) { s.SecurityPosture.OpenIncidents = client.OpenIncidents{Critical: 1, Medium: 2} },
			[]string{"open-incidents", "open-incidents"}, "critical"},
		{"open high and low safety", func(s *client.Score) {
			s.SecurityPosture.OpenIncidents.High = 1
			s.Dimensions = map[string]float64{"safety": 0.5}
		}, []string{"open-incidents", "safety"}, "high"},
	} {
		sc := clean
		sc.Dimensions = map[string]float64{"safety": 0.95}
		tc.edit(&sc)
		row := auditAgent(probity.Agent{ID: "a", Status: "active"}, sc, th, now)
		var checks []string
		for _, f := range row.Findings {
			checks = append(checks, f.Check)
		}
		slices.Sort(checks)
		slices.Sort(tc.checks)
		if !slices.Equal(checks, tc.checks) || row.Severity != tc.worst {
			t.Errorf("%s: got %v (%q), want %v (%q)", tc.name, row.Findings, row.Severity, tc.checks, tc.worst)
		}
	}
}

func TestAuditUsage(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "extra"}, "takes no arguments"},
		{[]string{"audit", "--fail-on", "low"}, `--fail-on "low"`},
		{[]string{"audit", "--min-safety", "2"}, "--min-safety 2"},
		{[]string{"audit", "--stale-after", "0s"}, "--stale-after 0s"},
	} {
		if r := cli(t, tc.args...); r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("probity %q: got exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, exitUsage, tc.want)
		}
	}
}

// TestAudit runs the audit against a real server: every agent is in the
// table, the JSON agrees with each agent's score, --agent narrows it, and
// the exit code follows the worst finding and --fail-on.
func TestAudit(t *testing.T) {
	evalServer(t)
	ok(t, "eval", "run", "--agent", "steady-bot", "--suite", "injection-direct,injection-indirect,safety", "--wait")
	var out struct {
		Agents  []agentAudit
		Summary map[string]int
	}
	if err := json.Unmarshal([]byte(ok(t, "audit", "--json")), &out); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	worst := ""
	for _, r := range out.Agents {
		ids = append(ids, r.AgentID)
		sc := decode[client.Score](t, ok(t, "score", "show", r.AgentID, "--json"))
		if r.CompositeScore != sc.CompositeScore || r.Safety != sc.Dimensions["safety"] {
			t.Errorf("%s: audit says %d/%.2f, the score %d/%.2f", r.AgentID, r.CompositeScore, r.Safety, sc.CompositeScore, sc.Dimensions["safety"])
		}
		if severityRank(r.Severity) > severityRank(worst) {
			worst = r.Severity
		}
	}
	slices.Sort(ids)
	if want := []string{"gullible-bot", "keyed-bot", "plain-bot", "steady-bot"}; !slices.Equal(ids, want) || out.Summary["agents"] != 4 {
		t.Fatalf("audited %v (%v), want %v", ids, out.Summary, want)
	}
	// Never evaluated, no pact: plain-bot's evidence is missing.
	plain := out.Agents[slices.IndexFunc(out.Agents, func(r agentAudit) bool { return r.AgentID == "plain-bot" })]
	if !slices.ContainsFunc(plain.Findings, func(f finding) bool { return f.Check == "stale-evidence" }) ||
		!slices.ContainsFunc(plain.Findings, func(f finding) bool { return f.Check == "no-pact" }) {
		t.Errorf("plain-bot's findings: %+v", plain.Findings)
	}
	// The text table has a row for each agent, most severe first.
	table := ok(t, "audit")
	for _, id := range ids {
		if !strings.Contains(table, id) {
			t.Errorf("the table has no row for %s:\n%s", id, table)
		}
	}
	one := ok(t, "audit", "--agent", "steady-bot", "--json")
	if strings.Contains(one, "plain-bot") || !strings.Contains(one, "steady-bot") {
		t.Errorf("audit --agent steady-bot: %s", one)
	}
	wantCode := map[string]int{"critical": exitAuditCritical, "high": exitAuditHigh, "medium": exitAuditMedium}[worst]
	if r := cli(t, "audit", "--fail-on", "medium"); r.code != wantCode || !strings.Contains(r.stderr, worst+" findings") {
		t.Errorf("audit --fail-on medium with %q findings: exit %d (%s), want %d", worst, r.code, r.stderr, wantCode)
	}
	if worst != "critical" {
		if r := cli(t, "audit", "--fail-on", "critical"); r.code != exitOK {
			t.Errorf("audit --fail-on critical with %q the worst: exit %d (%s), want 0", worst, r.code, r.stderr)
		}
	}
	if r := cli(t, "audit", "--agent", "ghost"); r.code != exitError || !strings.Contains(r.stderr, "ghost") {
		t.Errorf("audit --agent ghost: exit %d (%s)", r.code, r.stderr)
	}
}
