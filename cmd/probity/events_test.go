package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
)

// writeLines writes lines to a file in a temporary directory.
func writeLines(t *testing.T, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func event(id string, at time.Time, extra string) string {
	return fmt.Sprintf(`{"id":%q,"agentId":"support-bot","sessionId":"s-1","time":%q,"type":"model_output","content":"ok"%s}`,
		id, at.UTC().Format(time.RFC3339), extra)
}

func TestEventsUsage(t *testing.T) {
	isolate(t)
	day := "testdata/support-day.jsonl"
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"events"}, exitUsage, "usage: probity events send"},
		{[]string{"events", "-h"}, exitOK, "usage: probity events send"},
		{[]string{"events", "nosuch"}, exitUsage, "unknown subcommand"},
		{[]string{"events", "send", "-h"}, exitOK, "FILE:line: field: message"},
		{[]string{"events", "send"}, exitUsage, "missing events FILE"},
		{[]string{"events", "send", day, day}, exitUsage, "unexpected arguments"},
		{[]string{"events", "send", day, "--batch", "0"}, exitUsage, "--batch must be between 1 and 10000"},
		{[]string{"events", "send", day, "--batch", "10001"}, exitUsage, "--batch must be between 1 and 10000"},
		{[]string{"events", "send", filepath.Join(t.TempDir(), "nosuch.jsonl")}, exitError, "no such file"},
		{[]string{"violations", "-h"}, exitOK, "usage: probity violations"},
		{[]string{"violations", "extra"}, exitUsage, "takes no arguments"},
		{[]string{"violations", "--from", "yesterday"}, exitUsage, "--from: want an RFC 3339 time"},
		{[]string{"violations", "--to", "2026-13-01"}, exitUsage, "--to: want an RFC 3339 time"},
		{[]string{"violations", "--limit", "-1"}, exitUsage, "--limit must not be negative"},
		{[]string{"pact", "evaluate", "-h"}, exitOK, "3 when one is\nbreached"},
		{[]string{"pact", "evaluate"}, exitUsage, "missing pact ID"},
		{[]string{"pact", "-h"}, exitOK, "evaluate ID"},
	} {
		r := cli(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("probity %s: got exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
	}
	if r := cli(t, "help"); !strings.Contains(r.stderr, "\n  events ") || !strings.Contains(r.stderr, "\n  violations ") {
		t.Errorf("help: got %q, want the events and violations commands", r.stderr)
	}
}

// A line that is not JSON stops events send before anything is sent.
func TestEventsSendNotJSON(t *testing.T) {
	isolate(t)
	now := time.Now()
	path := writeLines(t, "day.jsonl", event("e-1", now, ""), "", "not json", `{"id": "e-3",`, `["e-4"]`, event("e-5", now, ""))
	// Nothing listens on port 1: a request would fail with "connection refused".
	r := cli(t, "events", "send", path, "--server", "http://127.0.0.1:1", "--key", "pb_x")
	want := path + ":3: not a JSON object (one record a line)\n" +
		path + ":4: not JSON: unexpected end of JSON input\n" +
		path + ":5: not a JSON object (one record a line)\n" +
		"probity: " + path + ": 3 problems; nothing was sent\n"
	if r.code != exitError || r.stderr != want || r.stdout != "" {
		t.Errorf("got exit %d, stdout %q, stderr\n%s\nwant exit 1, stderr\n%s", r.code, r.stdout, r.stderr, want)
	}
	empty := writeLines(t, "empty.jsonl", "", "  ")
	if r := cli(t, "events", "send", empty, "--server", "http://127.0.0.1:1", "--key", "pb_x"); r.code != exitError || !strings.Contains(r.stderr, "no records; nothing was sent") {
		t.Errorf("empty file: got exit %d, stderr %q; want exit 1, no records", r.code, r.stderr)
	}
}

// A batch the server rejects names the file line of each bad event; the
// batches before it stay stored, the one rejected and those after it are
// not sent.
func TestEventsSendRejected(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	t.Setenv("PROBITY_SERVER", env.URL)
	t.Setenv("PROBITY_KEY", env.AdminKey)
	ok(t, "agent", "create", "--id", "support-bot")
	now := time.Now()
	path := writeLines(t, "day.jsonl",
		event("e-1", now, ""),
		event("e-2", now, ""),
		"",
		event("e-3", now, `,"outcome":"meh"`),
		event("e-4", now.Add(48*time.Hour), ""),
		event("e-5", now, ""),
	)
	r := cli(t, "events", "send", path, "--batch", "2")
	wantErr := path + ":4: outcome: must be one of [success failure denied timeout]\n" +
		path + ":5: time: is more than 24h in the future: check the clock that stamped it\n"
	if r.code != exitError || !strings.HasPrefix(r.stderr, "sent 2/5 events (batch 1 of 3)\n"+wantErr) {
		t.Errorf("got exit %d, stderr\n%s\nwant exit 1, progress, then\n%s", r.code, r.stderr, wantErr)
	}
	for _, want := range []string{"sending batch 2 of 3 (lines 4-5 of " + path + ")", "2 of 2 events are invalid; nothing was stored",
		"the 2 events before it (up to line 2) were sent and stay stored"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q does not say %q", r.stderr, want)
		}
	}
	if want := "Sent 2 of 5 events from " + path + ": 2 accepted, 0 duplicates, 0 conflicts.\nNo violations.\n"; r.stdout != want {
		t.Errorf("got stdout %q, want %q", r.stdout, want)
	}

	// Fixed, the file goes through: the first batch again as duplicates.
	fixed := writeLines(t, "fixed.jsonl", event("e-1", now, ""), event("e-2", now, ""), event("e-3", now, ""), event("e-4", now, ""))
	rep := decode[sendReport](t, ok(t, "events", "send", fixed, "--json"))
	if rep.Sent != 4 || rep.Batches != 1 || rep.Accepted != 2 || rep.Duplicates != 2 || rep.Conflicts != 0 || rep.Violations == nil {
		t.Errorf("send --json: got %+v, want 4 sent in 1 batch, 2 accepted, 2 duplicates, no violations", rep)
	}

	// The same id with other content is a conflict; the first record stands.
	other := writeLines(t, "other.jsonl", event("e-1", now.Add(-time.Minute), ""))
	if out := ok(t, "events", "send", other); !strings.Contains(out, "0 accepted, 0 duplicates, 1 conflict.\nConflicting ids (the first records stand): e-1.\n") {
		t.Errorf("conflict: got %q", out)
	}
}

func TestEventsSendStdin(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	ok(t, "agent", "create", "--id", "support-bot", "--server", env.URL, "--key", env.AdminKey)
	f, err := os.Open(writeLines(t, "day.jsonl", event("e-1", time.Now(), "")))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	out := ok(t, "events", "send", "-", "--server", env.URL, "--key", env.AdminKey)
	if want := "Sent 1 of 1 events from <stdin>: 1 accepted, 0 duplicates, 0 conflicts.\nNo violations.\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestViolationsFilters(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	t.Setenv("PROBITY_SERVER", env.URL)
	t.Setenv("PROBITY_KEY", env.AdminKey)
	ok(t, "agent", "create", "--id", "support-bot")
	ok(t, "pact", "apply", "testdata/support-agent.yaml")
	if out := ok(t, "violations"); out != "No violations.\n" {
		t.Errorf("violations before any: got %q", out)
	}
	ok(t, "events", "send", "testdata/support-day.jsonl")

	evidence := func(args ...string) []string {
		t.Helper()
		var out []string
		for _, r := range table(ok(t, append([]string{"violations"}, args...)...))[1:] {
			out = append(out, r[6])
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--severity", "critical"}, []string{"refund-250", "inj-fetch,inj-send", "inj-send,inj-page", "x-export,x-result"}},
		{[]string{"--clause", "scope.tools"}, []string{"delete-account", "x-export"}},
		{[]string{"--kind", "output"}, []string{"markup-output"}},
		{[]string{"--from", "2026-11-02T13:00:00Z", "--to", "2026-11-02T16:00:00Z"}, []string{"delete-account", "markup-output"}},
		{[]string{"--limit", "2"}, []string{"refund-250", "delete-account"}},
		{[]string{"--agent", "nobody"}, nil},
	} {
		if got := evidence(tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("violations %s: got evidence %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	if r := cli(t, "violations", "--kind", "nosuch"); r.code != exitError || !strings.Contains(r.stderr, "kind: must be one of") {
		t.Errorf("--kind nosuch: got exit %d, stderr %q; want exit 1 and the server's message", r.code, r.stderr)
	}
}

// pact evaluate exits 3 on a breach, recording it once per window.
func TestPactEvaluate(t *testing.T) {
	isolate(t)
	// The server must not judge the commitments on its own meanwhile.
	env := apptest.Start(t, func(c *app.Config) { c.CommitmentInterval = 24 * time.Hour })
	t.Setenv("PROBITY_SERVER", env.URL)
	t.Setenv("PROBITY_KEY", env.AdminKey)
	ok(t, "agent", "create", "--id", "support-bot")
	ok(t, "pact", "apply", "testdata/support-agent.yaml")

	now := time.Now().Add(-time.Hour)
	var lines []string
	for i, ms := range []int{900, 1200, 4000, 5200, 6100} {
		lines = append(lines, event(fmt.Sprintf("slow-%d", i), now, fmt.Sprintf(`,"latencyMs":%d`, ms)))
	}
	ok(t, "events", "send", writeLines(t, "slow.jsonl", lines...))

	r := cli(t, "pact", "evaluate", "support-agent")
	rows := table(r.stdout)
	if r.code != exitBreached || len(rows) < 2 || !strings.Contains(r.stderr, "pact support-agent: 1 commitment breached") {
		t.Fatalf("pact evaluate: got exit %d, stdout\n%s\nstderr %q; want exit 3, a table, 1 breached", r.code, r.stdout, r.stderr)
	}
	row := rows[1]
	if len(row) != 8 || !slices.Equal(row[:7], []string{"support-bot", "fast", "latency_p95_ms", "6100", "<= 2000", "1d", "5"}) ||
		!regexp.MustCompile(`^BREACHED → violation v_\d+ recorded$`).MatchString(row[7]) {
		t.Fatalf("pact evaluate: got row %q, want support-bot fast breached at p95 6100 over 5 samples, a violation recorded", row)
	}
	id := strings.Fields(row[7])[3]
	if !strings.Contains(r.stdout, "\nfast (support-bot): ") {
		t.Errorf("pact evaluate: got %q, want the breach explained", r.stdout)
	}
	listed := table(ok(t, "violations", "--kind", "commitment"))
	if len(listed) != 2 || listed[1][0] != id || listed[1][6] != "slow-4,slow-3,slow-2" {
		t.Errorf("violations --kind commitment: got %q, want %s with the slow records as evidence", listed, id)
	}

	r = cli(t, "pact", "evaluate", "support-agent")
	if rows := table(r.stdout); r.code != exitBreached || len(rows) < 2 || rows[1][7] != "BREACHED (reported as "+id+")" {
		t.Errorf("pact evaluate again: got exit %d, rows %q; want exit 3, reported as %s", r.code, rows, id)
	}
	r = cli(t, "pact", "evaluate", "support-agent", "--json")
	if ev := decode[struct{ Results []struct{ Breached bool } }](t, r.stdout); r.code != exitBreached || len(ev.Results) != 1 || !ev.Results[0].Breached {
		t.Errorf("pact evaluate --json: got exit %d, %+v; want exit 3, one breached result", r.code, ev)
	}
	if r := cli(t, "pact", "evaluate", "nosuch"); r.code != exitError || !strings.Contains(r.stderr, "not_found") {
		t.Errorf("pact evaluate nosuch: got exit %d, stderr %q; want exit 1, not found", r.code, r.stderr)
	}
}

// TestPrintCollapsed: a problem every line shares is printed a few times
// and then counted, not repeated thousands of times.
func TestPrintCollapsed(t *testing.T) {
	var ps []problem
	for i := range 10 {
		ps = append(ps, problem{line: i + 1, column: -1, field: "agentId", message: "unknown agent"})
	}
	ps = append(ps, problem{line: 11, column: -1, field: "time", message: "too late"})
	var b strings.Builder
	printCollapsed(&b, "day.jsonl", ps, 3)
	want := "day.jsonl:1: agentId: unknown agent\nday.jsonl:2: agentId: unknown agent\nday.jsonl:3: agentId: unknown agent\n" +
		"day.jsonl:11: time: too late\nday.jsonl: … and 7 more lines with the same problem: agentId: unknown agent\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
