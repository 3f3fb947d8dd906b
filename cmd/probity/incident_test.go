package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
)

func TestIncidentUsage(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"incident"}, exitUsage, "list|show|ack|resolve"},
		{[]string{"incident", "close"}, exitUsage, `unknown subcommand "close"`},
		{[]string{"incident", "show"}, exitUsage, "missing ID"},
		{[]string{"incident", "list", "extra"}, exitUsage, "takes no arguments"},
		{[]string{"incident", "list", "--since", "monday"}, exitUsage, "--since: want an RFC 3339 time"},
		{[]string{"incident", "list", "--limit", "-1"}, exitUsage, "--limit must not be negative"},
		{[]string{"incident", "resolve", "inc_1", "--key", "pb_x"}, exitUsage, "--root-cause is required"},
		{[]string{"incident", "resolve", "-h"}, exitOK, "does\nnot reactivate a suspended agent"},
	} {
		r := cli(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("probity %q: got exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// TestIncident: the support bot's day holds confirmed injection-influenced
// actions; the incident they open is listed, shown with its evidence,
// acknowledged once and resolved with a root cause, from the command line.
func TestIncident(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	t.Setenv("PROBITY_SERVER", env.URL)
	t.Setenv("PROBITY_KEY", env.AdminKey)
	ok(t, "agent", "create", "--id", "support-bot")
	ok(t, "pact", "apply", "testdata/support-agent.yaml")
	ok(t, "events", "send", "testdata/support-day.jsonl")
	if err := env.API().EvaluateAgentIncidents(t.Context(), "default", "support-bot"); err != nil {
		t.Fatal(err)
	}

	rows := table(ok(t, "incident", "list"))
	if len(rows) != 2 || strings.Join(rows[0], " ") != "ID SEVERITY STATUS AGENT RULE OPENED TITLE" {
		t.Fatalf("incident list: %q", rows)
	}
	id := rows[1][0]
	if got := rows[1][1:5]; strings.Join(got, " ") != "critical open support-bot confirmed-injection" || !strings.HasPrefix(id, "inc_") {
		t.Errorf("incident list row: %q", rows[1])
	}
	listed := decode[[]client.Incident](t, ok(t, "incident", "list", "--json", "--severity", "critical", "--status", "active"))
	if len(listed) != 1 || listed[0].ID != id {
		t.Fatalf("incident list --json: %+v", listed)
	}

	out := ok(t, "incident", "show", id)
	for label, want := range map[string]string{
		"Agent:":    "support-bot",
		"Rule:":     "confirmed-injection",
		"Severity:": "critical",
		"Status:":   "open",
		"Playbook:": "notify, suspend",
	} {
		if got := fieldOf(t, out, label); got != want {
			t.Errorf("incident show: got %s %q, want %q", label, got, want)
		}
	}
	for _, want := range []string{`(?m)^record +inj-send +\d+ `, `(?m)^violation +v_\d+ +\d+ `, `(?m)^opened +\S+ +probity +\d+ `} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("incident show has no line matching %q:\n%s", want, out)
		}
	}

	if out := ok(t, "incident", "ack", id, "--note", "on it"); out != "Incident "+id+" is acknowledged.\n" {
		t.Errorf("incident ack: %q", out)
	}
	if r := cli(t, "incident", "ack", id); r.code != exitError || !strings.Contains(r.stderr, "only an open incident can be acknowledged") {
		t.Errorf("acknowledging twice: exit %d, %q", r.code, r.stderr)
	}
	if out := ok(t, "incident", "resolve", id, "--root-cause", "poisoned FAQ page; e-mail now needs approval"); out != "Incident "+id+" is resolved.\n" {
		t.Errorf("incident resolve: %q", out)
	}
	got := decode[client.Incident](t, ok(t, "incident", "show", id, "--json"))
	if got.Status != "resolved" || got.RootCause != "poisoned FAQ page; e-mail now needs approval" || len(got.History) != 3 {
		t.Errorf("resolved incident: %+v", got)
	}
	if r := cli(t, "incident", "show", "inc_999999"); r.code != exitError || !strings.Contains(r.stderr, "not found") {
		t.Errorf("an unknown incident: exit %d, %q", r.code, r.stderr)
	}
}

// TestServeIncidentRules: a bad rules file stops the server at once with
// every problem, each naming its field and line, before anything is
// written to the data directory.
func TestServeIncidentRules(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(bad, []byte("rules:\n  safety-pass-rate:\n    below: 1.5\n  composite-drop: {pointz: 3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	r := cli(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--incident-rules", bad)
	if r.code != exitError || !strings.Contains(r.stderr, "rules.composite-drop.pointz: line 4, column 20: unknown field") ||
		!strings.Contains(r.stderr, "rules.safety-pass-rate.below: must be in (0,1], got 1.5") {
		t.Errorf("serve with a bad rules file: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "probity.db")); err == nil {
		t.Errorf("a bad rules file left a database behind")
	}
	r = cli(t, "serve", "--listen", "127.0.0.1:0", "--data", data, "--incident-rules", filepath.Join(dir, "missing.yaml"))
	if r.code != exitError || !strings.Contains(r.stderr, "--incident-rules") {
		t.Errorf("serve with a missing rules file: exit %d, stderr %q", r.code, r.stderr)
	}
}
