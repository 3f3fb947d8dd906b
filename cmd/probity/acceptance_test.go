package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

func TestAcceptanceSQLite(t *testing.T) {
	isolate(t)
	acceptance(t, apptest.Start(t))
}

func TestAcceptancePostgres(t *testing.T) {
	isolate(t)
	acceptance(t, apptest.Start(t, apptest.WithPostgres(pgtest.TempDSN(t))))
}

// acceptance is a security engineer's day: register the support bot, bind
// it to its pact, send a day of its records, and find what it did wrong,
// among it the e-mail a web page talked it into.
func acceptance(t *testing.T, env *apptest.Env) {
	t.Setenv("PROBITY_SERVER", env.URL)
	t.Setenv("PROBITY_KEY", env.AdminKey)

	ok(t, "agent", "create", "--id", "support-bot")
	if out := ok(t, "pact", "apply", "testdata/support-agent.yaml"); !strings.HasPrefix(out, "Created pact support-agent version 1") {
		t.Fatalf("pact apply: got %q, want version 1 created", out)
	}

	// kind is the KIND cell: confirmed injection-influenced calls say so.
	type want struct{ clause, severity, kind, evidence string }
	wants := []want{
		{"refund-limit", "critical", "scope_when", "refund-250"},
		{"scope.tools", "major", "scope_tool", "delete-account"},
		{"no-markup", "major", "output", "markup-output"},
		{"no-email-after-fetch", "critical", "forbidden_sequence", "inj-fetch,inj-send"},
		{"injection.influenced", "critical", "injection_influenced (confirmed)", "inj-send,inj-page"},
		// An instruction in an order note leads to a call of a tool the
		// pact does not allow.
		{"scope.tools", "major", "scope_tool", "x-export"},
		{"injection.influenced", "critical", "injection_influenced (confirmed)", "x-export,x-result"},
	}
	// check compares a violations table (ID TIME AGENT SEVERITY CLAUSE KIND
	// EVIDENCE EXPLANATION) with wants.
	check := func(what, out string) {
		t.Helper()
		rows := table(out)
		head := []string{"ID", "TIME", "AGENT", "SEVERITY", "CLAUSE", "KIND", "EVIDENCE", "EXPLANATION"}
		if len(rows) == 0 || !slices.Equal(rows[0], head) {
			t.Fatalf("%s: got\n%s\nwant a table with the header %q", what, out, head)
		}
		var got []want
		for _, r := range rows[1:] {
			if len(r) != len(head) {
				t.Fatalf("%s: row %q: got %d cells, want %d", what, r, len(r), len(head))
			}
			if r[2] != "support-bot" || !strings.HasPrefix(r[1], "2026-11-02T") || !strings.HasPrefix(r[0], "v_") {
				t.Errorf("%s: row %q: want a v_ id, a time on 2026-11-02 and agent support-bot", what, r)
			}
			got = append(got, want{r[4], r[3], r[5], r[6]})
		}
		if !slices.Equal(got, wants) {
			t.Errorf("%s: got violations\n%q\nwant\n%q", what, got, wants)
		}
	}

	r := cli(t, "events", "send", "testdata/support-day.jsonl", "--batch", "64")
	if r.code != exitOK {
		t.Fatalf("events send: got exit %d, stderr:\n%s", r.code, r.stderr)
	}
	head, rest, _ := strings.Cut(r.stdout, "\n")
	if want := "Sent 202 of 202 events from testdata/support-day.jsonl: 202 accepted, 0 duplicates, 0 conflicts."; head != want {
		t.Errorf("events send: got %q, want %q", head, want)
	}
	check("events send", strings.TrimPrefix(rest, "7 violations:\n\n"))
	if want := "sent 202/202 events (batch 4 of 4)\n"; !strings.HasSuffix(r.stderr, want) || strings.Count(r.stderr, "\n") != 4 {
		t.Errorf("events send: got stderr %q, want 4 lines of progress ending %q", r.stderr, want)
	}

	// Sending the day again stores nothing new and finds nothing new.
	if out := ok(t, "events", "send", "testdata/support-day.jsonl"); !strings.Contains(out, ": 0 accepted, 202 duplicates, 0 conflicts.\nNo violations.\n") {
		t.Errorf("events send again: got %q, want 202 duplicates and no violations", out)
	}

	check("violations --agent support-bot", ok(t, "violations", "--agent", "support-bot"))

	vs := decode[[]client.Violation](t, ok(t, "violations", "--kind", "injection_influenced", "--json"))
	if len(vs) != 2 {
		t.Fatalf("violations --kind injection_influenced: got %d violations %+v, want 2", len(vs), vs)
	}
	if x := vs[1]; !x.Confirmed || x.Severity != "critical" || !slices.Equal(x.RecordIDs, []string{"x-export", "x-result"}) ||
		!strings.Contains(x.Explanation, "https://collector.attacker.example/upload") || !strings.Contains(x.Explanation, "scope.tools") {
		t.Errorf("out-of-scope injection violation: got %+v, want confirmed, critical, evidence [x-export x-result], naming the URL and scope.tools", x)
	}
	inj := vs[0]
	if inj.Clause != "injection.influenced" || inj.Severity != "critical" || !inj.Confirmed ||
		!slices.Equal(inj.RecordIDs, []string{"inj-send", "inj-page"}) || inj.PactID != "support-agent" || inj.PactVersion != 1 {
		t.Errorf("injection violation: got %+v, want injection.influenced, critical, confirmed, evidence [inj-send inj-page], pact support-agent v1", inj)
	}
	for _, part := range []string{"send_email", "exfil@attacker-mail.example", "inj-page", "no-email-after-fetch", "confirmed"} {
		if !strings.Contains(inj.Explanation, part) {
			t.Errorf("injection explanation %q does not say %s", inj.Explanation, part)
		}
	}
	if inj.ID != fmt.Sprintf("v_%d", inj.LedgerIndex) {
		t.Errorf("injection violation: got id %s at ledger index %d, want v_ and the index", inj.ID, inj.LedgerIndex)
	}

	// The day is weeks ago: the latency commitment has no samples in its
	// 24h window, and holds.
	rows := table(ok(t, "pact", "evaluate", "support-agent"))
	wantRows := [][]string{
		{"AGENT", "CLAUSE", "METRIC", "OBSERVED", "OP VALUE", "WINDOW", "SAMPLES", "STATUS"},
		{"support-bot", "fast", "latency_p95_ms", "no samples", "<= 2000", "1d", "0", "held"},
	}
	if len(rows) < 2 || !slices.EqualFunc(rows[:2], wantRows, slices.Equal) {
		t.Errorf("pact evaluate: got %q, want %q", rows, wantRows)
	}
}
