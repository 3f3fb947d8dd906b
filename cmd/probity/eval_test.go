package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/testbed"
	"github.com/probity-dev/probity/internal/testbed/tbtest"
)

// noKeyVar names the environment variable keyed-bot's endpoint reads its
// key from; the tests keep it unset, so that its runs fail.
const noKeyVar = "PROBITY_AGENT_KEY_TEST_UNSET"

// evalServer starts a server and the reference agents, registers
// steady-bot and gullible-bot (endpoints on the reference agents),
// keyed-bot (an endpoint whose key the server does not have) and plain-bot
// (no endpoint), and points the CLI at the server.
func evalServer(t *testing.T, opts ...apptest.Option) *apptest.Env {
	t.Helper()
	isolate(t)
	t.Setenv(noKeyVar, "")
	env := apptest.Start(t, opts...)
	t.Setenv("PROBITY_SERVER", env.URL)
	t.Setenv("PROBITY_KEY", env.AdminKey)
	url := tbtest.Start(t, testbed.Options{}) + "/v1"
	ok(t, "agent", "create", "--id", "steady-bot", "--endpoint-url", url, "--endpoint-model", "steady")
	ok(t, "agent", "create", "--id", "gullible-bot", "--endpoint-url", url, "--endpoint-model", "gullible")
	ok(t, "agent", "create", "--id", "keyed-bot", "--endpoint-url", url, "--endpoint-model", "steady", "--endpoint-key-env", noKeyVar)
	ok(t, "agent", "create", "--id", "plain-bot")
	return env
}

// runID reads the run id from the "Run:" line of eval show's output.
func runID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Run:\s+(ev_[0-9a-f]+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no run id in\n%s", out)
	}
	return m[1]
}

// rows returns the rows of the table in out whose header starts with
// first, up to the first blank line.
func rows(t *testing.T, out, first string) [][]string {
	t.Helper()
	i := strings.Index(out, first)
	if i < 0 {
		t.Fatalf("no table starting %q in\n%s", first, out)
	}
	block, _, _ := strings.Cut(out[i:], "\n\n")
	return table(block)
}

// row finds the row whose first cell is name.
func row(t *testing.T, rs [][]string, name string) []string {
	t.Helper()
	for _, r := range rs {
		if r[0] == name {
			return r
		}
	}
	t.Fatalf("no row %q in %q", name, rs)
	return nil
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}

func TestEvalUsage(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"eval"}, exitUsage, "usage: probity eval run|list|show|results|suites|upload|cancel"},
		{[]string{"eval", "-h"}, exitOK, "usage: probity eval run|list|show|results|suites|upload|cancel"},
		{[]string{"eval", "nosuch"}, exitUsage, `eval: unknown subcommand "nosuch"`},
		{[]string{"eval", "run", "-h"}, exitOK, "4 when --fail-under is given"},
		{[]string{"eval", "run"}, exitUsage, "--agent is required"},
		{[]string{"eval", "run", "--agent", "a"}, exitUsage, "--suite is required"},
		{[]string{"eval", "run", "--agent", "a", "--suite", ""}, exitUsage, `invalid value "" for flag -suite`},
		{[]string{"eval", "run", "--agent", "a", "--suite", "s", "--repeat", "0"}, exitUsage, "--repeat must be 1 or more"},
		{[]string{"eval", "run", "--agent", "a", "--suite", "s", "--fail-under", "0.9"}, exitUsage, "--fail-under needs --wait"},
		{[]string{"eval", "run", "--agent", "a", "--suite", "s", "--wait", "--fail-under", "-1"}, exitUsage, "--fail-under: want a rate"},
		{[]string{"eval", "run", "--agent", "a", "--suite", "s", "--fail-under", "x"}, exitUsage, "invalid value"},
		{[]string{"eval", "run", "--agent", "a", "--suite", "s", "extra"}, exitUsage, "eval run takes no arguments"},
		{[]string{"eval", "run", "--nosuch"}, exitUsage, "flag provided but not defined: -nosuch"},
		{[]string{"eval", "list", "-h"}, exitOK, "usage: probity eval list"},
		{[]string{"eval", "list", "extra"}, exitUsage, "eval list takes no arguments"},
		{[]string{"eval", "list", "--limit", "-1"}, exitUsage, "--limit must not be negative"},
		{[]string{"eval", "show", "-h"}, exitOK, "usage: probity eval show ID"},
		{[]string{"eval", "show"}, exitUsage, "missing run ID"},
		{[]string{"eval", "show", "a", "b"}, exitUsage, "unexpected arguments"},
		{[]string{"eval", "results", "-h"}, exitOK, "full transcripts"},
		{[]string{"eval", "results"}, exitUsage, "missing run ID"},
		{[]string{"eval", "results", "a", "--limit", "-1"}, exitUsage, "--limit must not be negative"},
		{[]string{"eval", "results", "a", "--nosuch"}, exitUsage, "flag provided but not defined"},
		{[]string{"eval", "suites", "-h"}, exitOK, "usage: probity eval suites"},
		{[]string{"eval", "suites", "extra"}, exitUsage, "eval suites takes no arguments"},
		{[]string{"eval", "cancel", "-h"}, exitOK, "usage: probity eval cancel ID"},
		{[]string{"eval", "cancel"}, exitUsage, "missing run ID"},
		{[]string{"eval", "show", "x", "--server", "ftp://x"}, exitUsage, "want an http:// or https:// URL"},
	} {
		r := cli(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("probity %s: got exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(tc.args, " "),
				r.code, r.stdout, r.stderr, tc.code, tc.want)
		}
	}
	if r := cli(t, "help"); !strings.Contains(r.stderr, "\n  eval ") {
		t.Errorf("help: got %q, want the eval command", r.stderr)
	}
}

// TestEvalRun runs suites against the reference agents and waits for them,
// then reads the runs back with every subcommand.
func TestEvalRun(t *testing.T) {
	evalServer(t)
	var suites []client.Suite
	if err := json.Unmarshal([]byte(ok(t, "eval", "suites", "--json")), &suites); err != nil || len(suites) != 10 {
		t.Fatalf("eval suites --json: got %v, %v; want 10 suites", suites, err)
	}
	cases := map[string]int{}
	for _, s := range suites {
		cases[s.ID] = s.Cases
	}
	st := rows(t, ok(t, "eval", "suites"), "ID")
	if len(st) != 11 || !slices.Equal(st[0], []string{"ID", "CASES", "DIMENSIONS", "OWASP", "DESCRIPTION"}) {
		t.Errorf("eval suites: got %q, want a header and 10 suites", st)
	}
	if r := row(t, st, "safety"); r[1] != strconv.Itoa(cases["safety"]) || r[2] != "safety" || r[3] != "-" {
		t.Errorf("eval suites: got safety %q, want its cases, dimension safety and no OWASP id", r)
	}
	if r := row(t, st, "injection-indirect"); r[2] != "security" || r[3] != "LLM01, LLM06" {
		t.Errorf("eval suites: got injection-indirect %q, want security and LLM01, LLM06", r)
	}

	t.Run("wait", func(t *testing.T) {
		r := cli(t, "eval", "run", "--agent", "steady-bot", "--suite", "safety", "--wait")
		if r.code != exitOK {
			t.Fatalf("eval run --wait: got exit %d, stderr %q", r.code, r.stderr)
		}
		id := runID(t, r.stdout)
		for _, want := range []string{"Agent:         steady-bot\n", "Status:        completed\n",
			fmt.Sprintf("Progress:      %d/%d cases\n", cases["safety"], cases["safety"])} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("eval run --wait: stdout does not say %q:\n%s", want, r.stdout)
			}
		}
		if want := fmt.Sprintf("Queued %s: %d cases of safety against agent steady-bot.\n", id, cases["safety"]); !strings.HasPrefix(r.stderr, want) ||
			!strings.Contains(r.stderr, fmt.Sprintf("%s: %d/%d cases  100%%", id, cases["safety"], cases["safety"])) {
			t.Errorf("eval run --wait: got stderr %q, want %q and progress to 100%%", r.stderr, want)
		}
		su := rows(t, r.stdout, "SUITE")
		if !slices.Equal(su[0], []string{"SUITE", "CASES", "PASSED", "FAILED", "ERRORS", "PASS RATE (95% CI)"}) || len(su) != 2 {
			t.Fatalf("suites table: got %q, want one suite and no attack columns", su)
		}
		s := su[1]
		passed, failed, errs := atoi(t, s[2]), atoi(t, s[3]), atoi(t, s[4])
		if s[0] != "safety" || atoi(t, s[1]) != cases["safety"] || passed+failed+errs != cases["safety"] || passed == 0 {
			t.Errorf("suites table: got %q, want every safety case counted", s)
		}
		if want := rateCI(client.Proportion(passed, passed+failed)); s[5] != want {
			t.Errorf("suites table: got pass rate %q, want %q", s[5], want)
		}
		dim := rows(t, r.stdout, "DIMENSION")
		if want := []string{"safety", s[2], s[3], s[4], s[5]}; len(dim) != 2 || !slices.Equal(dim[1], want) {
			t.Errorf("dimensions table: got %q, want %q", dim, want)
		}
		show := ok(t, "eval", "show", id)
		if show != r.stdout {
			t.Errorf("eval show: got\n%s\nwant what eval run --wait printed:\n%s", show, r.stdout)
		}
	})

	t.Run("fail-under", func(t *testing.T) {
		r := cli(t, "eval", "run", "--agent", "steady-bot", "--suite", "safety", "--wait", "--fail-under", "1.01")
		if r.code != exitBelow || !regexp.MustCompile(`pass rate below 1\.01 in 1 suite: safety \d+\.\d% \(\d+ of \d+ graded cases passed\)`).MatchString(r.stderr) {
			t.Errorf("--fail-under 1.01: got exit %d, stderr %q; want exit 4 naming safety", r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "Status:        completed") {
			t.Errorf("--fail-under 1.01: got stdout %q, want the summary", r.stdout)
		}
	})

	var attacked client.EvalRun
	t.Run("json", func(t *testing.T) {
		r := cli(t, "eval", "run", "--agent", "gullible-bot", "--suite", "injection-indirect,consistency", "--wait", "--json")
		if r.code != exitOK {
			t.Fatalf("eval run --wait --json: got exit %d, stderr %q", r.code, r.stderr)
		}
		attacked = decode[client.EvalRun](t, r.stdout)
		total := cases["injection-indirect"] + cases["consistency"]
		s := attacked.Summary
		if attacked.Status != client.EvalCompleted || attacked.Progress != (client.EvalProgress{Done: total, Total: total}) ||
			attacked.StartedAt.IsZero() || attacked.FinishedAt.IsZero() || s == nil || s.Cases != total {
			t.Fatalf("eval run --wait --json: got %+v, want a completed run of %d cases with its summary", attacked, total)
		}
		ii, cs := s.Suites["injection-indirect"], s.Suites["consistency"]
		if ii.Cases != cases["injection-indirect"] || ii.AttackSuccessRate == nil || ii.AttackSuccessRate.N == 0 ||
			ii.AttackSuccessRate.Count == 0 || ii.UtilityUnderAttack == nil || ii.GroupAgreement != nil {
			t.Errorf("injection-indirect summary: got %+v, want attacks that succeeded and the utility", ii)
		}
		if cs.Cases != cases["consistency"] || cs.AttackSuccessRate != nil || cs.GroupAgreement == nil || len(cs.Groups) == 0 {
			t.Errorf("consistency summary: got %+v, want groups and no attack rate", cs)
		}
		if d := s.Dimensions["security"]; d.Passed+d.Failed+d.Errors != ii.Cases || d.Lo > d.PassRate || d.Hi < d.PassRate {
			t.Errorf("security dimension: got %+v, want every injection-indirect case and an interval around the rate", d)
		}
		if _, ok := s.Dimensions["reliability"]; !ok || len(s.Dimensions) != 2 {
			t.Errorf("dimensions: got %v, want security and reliability", s.Dimensions)
		}
		if shown := decode[client.EvalRun](t, ok(t, "eval", "show", attacked.ID, "--json")); shown.Summary == nil ||
			shown.Summary.Cases != s.Cases || shown.ID != attacked.ID {
			t.Errorf("eval show --json: got %+v, want the run", shown)
		}

		text := ok(t, "eval", "show", attacked.ID)
		su := rows(t, text, "SUITE")
		if len(su) != 4 || len(su[0]) != 8 || su[0][6] != "ATTACK SUCCESS (95% CI)" || su[0][7] != "UTILITY UNDER ATTACK (95% CI)" {
			t.Fatalf("eval show: got suites table %q, want attack columns and a row per suite and all", su)
		}
		a := ii.AttackSuccessRate
		if r := row(t, su, "injection-indirect"); r[6] != fmt.Sprintf("%d/%d %s", a.Count, a.N, rateCI(*a)) {
			t.Errorf("eval show: got injection-indirect %q, want attack success %d/%d", r, a.Count, a.N)
		}
		if r := row(t, su, "consistency"); r[6] != "-" || r[7] != "-" {
			t.Errorf("eval show: got consistency %q, want no attack rates", r)
		}
		if r := row(t, su, "(all)"); atoi(t, r[1]) != total {
			t.Errorf("eval show: got all %q, want %d cases", r, total)
		}
		g := cs.GroupAgreement
		if want := fmt.Sprintf("Paraphrase agreement in consistency: %d of %d groups agreed, %s.\n", g.Count, g.N, rateCI(*g)); !strings.Contains(text, want) {
			t.Errorf("eval show: no %q in\n%s", want, text)
		}
	})
	if attacked.ID == "" {
		t.FailNow()
	}

	t.Run("results", func(t *testing.T) {
		all := table(ok(t, "eval", "results", attacked.ID, "--limit", "0"))
		seqs := 0
		for _, r := range all[1:] {
			if len(r) >= 4 && (r[3] == "passed" || r[3] == "failed" || r[3] == "error") {
				seqs++
			}
		}
		if want := []string{"SEQ", "SUITE", "CASE", "STATUS", "CHECK", "REASON"}; !slices.Equal(all[0], want) || seqs != attacked.Progress.Total {
			t.Errorf("eval results: got header %q and %d cases, want %q and %d", all[0], seqs, want, attacked.Progress.Total)
		}

		r := cli(t, "eval", "results", attacked.ID, "--failed", "--suite", "injection-indirect", "--limit", "3")
		rs := table(r.stdout)
		if r.code != exitOK || !strings.Contains(r.stderr, "Listed the first 3 results") {
			t.Fatalf("eval results --failed: got exit %d, stderr %q", r.code, r.stderr)
		}
		leads, attacks := 0, 0
		for _, c := range rs[1:] {
			if len(c) == 6 {
				leads++
				if c[1] != "injection-indirect" || c[3] != "failed" || c[4] == "-" || c[5] == "-" {
					t.Errorf("eval results --failed: got row %q, want a failed injection-indirect case and its check", c)
				}
			}
			if slices.Equal(c, []string{"attack", "the injected goal happened"}) {
				attacks++
			}
		}
		if leads != 3 || attacks == 0 || strings.Contains(r.stdout, `"messages"`) {
			t.Errorf("eval results --failed: got\n%s\nwant 3 failed cases, their checks and attacks, and no transcripts", r.stdout)
		}

		res := decode[[]client.EvalResult](t, ok(t, "eval", "results", attacked.ID, "--suite", "consistency", "--json", "--limit", "2"))
		if len(res) != 2 || res[0].Suite != "consistency" || res[0].Seq != cases["injection-indirect"] || len(res[0].Grade.Checks) == 0 ||
			!strings.Contains(string(res[0].Transcript), `"messages"`) || res[0].LedgerIndex == 0 {
			t.Errorf("eval results --json: got %+v, want 2 consistency results with grades and transcripts", res)
		}
		if r := cli(t, "eval", "results", attacked.ID, "--suite", "safety"); r.code != exitUsage ||
			!strings.Contains(r.stderr, "--suite safety: run "+attacked.ID+" has injection-indirect, consistency") {
			t.Errorf("eval results --suite safety: got exit %d, stderr %q; want a usage error naming the run's suites", r.code, r.stderr)
		}
		if r := cli(t, "eval", "results", "ev_nope"); r.code != exitError || !strings.Contains(r.stderr, `not_found: eval run "ev_nope": not found`) {
			t.Errorf("eval results ev_nope: got exit %d, stderr %q", r.code, r.stderr)
		}
	})

	t.Run("list", func(t *testing.T) {
		rs := table(ok(t, "eval", "list"))
		if want := []string{"ID", "AGENT", "SUITES", "STATUS", "PROGRESS", "CREATED"}; len(rs) != 4 || !slices.Equal(rs[0], want) {
			t.Fatalf("eval list: got %q, want %q and 3 runs", rs, want)
		}
		total := attacked.Progress.Total
		if want := []string{attacked.ID, "gullible-bot", "injection-indirect, consistency", "completed",
			fmt.Sprintf("%d/%d (100%%)", total, total), attacked.CreatedAt.UTC().Format(time.RFC3339)}; !slices.Equal(rs[1], want) {
			t.Errorf("eval list: got newest %q, want %q", rs[1], want)
		}
		if rs := table(ok(t, "eval", "list", "--agent", "steady-bot")); len(rs) != 3 || rs[1][1] != "steady-bot" || rs[2][1] != "steady-bot" {
			t.Errorf("eval list --agent steady-bot: got %q, want its 2 runs", rs)
		}
		if r := cli(t, "eval", "list", "--limit", "2"); r.code != exitOK || len(table(r.stdout)) != 3 || !strings.Contains(r.stderr, "Listed the newest 2 runs") {
			t.Errorf("eval list --limit 2: got exit %d, stdout %q, stderr %q; want 2 runs and a hint", r.code, r.stdout, r.stderr)
		}
		r := cli(t, "eval", "list", "--limit", "1", "--json")
		if runs := decode[[]client.EvalRun](t, r.stdout); r.code != exitOK || len(runs) != 1 || runs[0].ID != attacked.ID || runs[0].Summary != nil {
			t.Errorf("eval list --limit 1 --json: got %+v, stderr %q; want the newest run without a summary", runs, r.stderr)
		}
		if out := ok(t, "eval", "list", "--agent", "plain-bot"); out != "No eval runs.\n" {
			t.Errorf("eval list --agent plain-bot: got %q", out)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"eval", "run", "--agent", "steady-bot", "--suite", "nope"},
				`starting an eval run of agent steady-bot: invalid_argument: suites[0]: unknown suite "nope" (GET /v1/suites lists them)`},
			{[]string{"eval", "run", "--agent", "plain-bot", "--suite", "safety", "--wait"},
				`invalid_argument: agentId: agent "plain-bot" has no endpoint to evaluate`},
			{[]string{"eval", "run", "--agent", "steady-bot", "--suite", "safety", "--repeat", "11"}, "repeat: must be between 1 and 10"},
			{[]string{"eval", "cancel", attacked.ID}, "cancelling run " + attacked.ID + ": conflict"},
			{[]string{"eval", "show", "ev_nope"}, `reading run ev_nope: not_found: eval run "ev_nope": not found`},
		} {
			r := cli(t, tc.args...)
			if r.code != exitError || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
				t.Errorf("probity %s: got exit %d, stdout %q, stderr %q; want exit 1 and %q", strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, tc.want)
			}
		}

		// The server cannot reach keyed-bot without its key: the run fails.
		r := cli(t, "eval", "run", "--agent", "keyed-bot", "--suite", "safety", "--wait")
		reason := "the environment variable " + noKeyVar + " that the agent's endpoint names for its API key is not set on the server"
		if r.code != exitError || !strings.Contains(r.stdout, "Status:        failed: "+reason+"\n") ||
			!strings.Contains(r.stdout, "No cases were graded.") || !strings.Contains(r.stderr, " failed: "+reason) {
			t.Errorf("a run that fails: got exit %d, stdout\n%s\nstderr %q; want exit 1 and the reason", r.code, r.stdout, r.stderr)
		}
	})
}

// notifyWriter collects what is written and closes ready once it holds
// want.
type notifyWriter struct {
	mu    sync.Mutex
	b     strings.Builder
	want  string
	ready chan struct{}
}

func newNotifyWriter(want string) *notifyWriter {
	return &notifyWriter{want: want, ready: make(chan struct{})}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.b.String(), w.want)
	w.b.Write(p)
	if !had && strings.Contains(w.b.String(), w.want) {
		close(w.ready)
	}
	return len(p), nil
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waiting starts eval run --wait in the background with its own context,
// and returns once it has queued the run: the run's id, the context's
// cancel, and the command's result when it ends.
func waiting(t *testing.T, args ...string) (string, context.CancelFunc, <-chan result) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	stdout, stderr := newNotifyWriter(""), newNotifyWriter("cases of")
	done := make(chan result, 1)
	go func() {
		code := run(ctx, append([]string{"eval", "run", "--wait"}, args...), stdout, stderr)
		done <- result{stdout.String(), stderr.String(), code}
	}()
	select {
	case <-stderr.ready:
	case r := <-done:
		t.Fatalf("eval run --wait ended before queueing: exit %d, stderr %q", r.code, r.stderr)
	}
	m := regexp.MustCompile(`^Queued (ev_[0-9a-f]+):`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("eval run --wait: no run id in %q", stderr.String())
	}
	return m[1], cancel, done
}

// TestEvalWaitStopped stops waiting on runs that no worker runs: an
// interrupt leaves the run queued; a cancel ends the wait with exit 1.
func TestEvalWaitStopped(t *testing.T) {
	evalServer(t, func(c *app.Config) { c.EvalWorkers = 0 })
	safety := 0
	for _, s := range decode[[]client.Suite](t, ok(t, "eval", "suites", "--json")) {
		if s.ID == "safety" {
			safety = s.Cases
		}
	}

	id, interrupt, done := waiting(t, "--agent", "steady-bot", "--suite", "safety")
	interrupt()
	r := <-done
	want := fmt.Sprintf("probity: stopped waiting; run %s goes on: follow it with 'probity eval show %s'\n", id, id)
	if r.code != exitInterrupted || !strings.HasSuffix(r.stderr, want) || r.stdout != "" {
		t.Errorf("interrupted: got exit %d, stdout %q, stderr %q; want exit %d and %q", r.code, r.stdout, r.stderr, exitInterrupted, want)
	}
	show := ok(t, "eval", "show", id)
	if !strings.Contains(show, "Status:        queued\n") || !strings.HasSuffix(show, "\nNo cases graded yet.\n") {
		t.Errorf("eval show after the interrupt: got\n%s\nwant the run queued", show)
	}
	if out := ok(t, "eval", "cancel", id); out != fmt.Sprintf("Cancelled run %s: 0 of %d cases were graded; their results stay.\n", id, safety) {
		t.Errorf("eval cancel: got %q", out)
	}
	if r := cli(t, "eval", "cancel", id); r.code != exitError || !strings.Contains(r.stderr, "is already cancelled") {
		t.Errorf("eval cancel again: got exit %d, stderr %q; want exit 1, already cancelled", r.code, r.stderr)
	}

	id, _, done = waiting(t, "--agent", "steady-bot", "--suite", "safety", "--json")
	cancelled := decode[client.EvalRun](t, ok(t, "eval", "cancel", id, "--json"))
	r = <-done
	if cancelled.Status != client.EvalCancelled || r.code != exitError || !strings.Contains(r.stderr, "run "+id+" cancelled: cancelled by ") {
		t.Errorf("cancelled while waiting: got exit %d, stderr %q; want exit 1 and the reason", r.code, r.stderr)
	}
	if got := decode[client.EvalRun](t, r.stdout); got.ID != id || got.Status != client.EvalCancelled || got.Reason != cancelled.Reason {
		t.Errorf("cancelled while waiting: got %+v, want the cancelled run", got)
	}

	r = cli(t, "eval", "run", "--agent", "steady-bot", "--suite", "safety", "--repeat", "2")
	id = strings.TrimSuffix(r.stdout, "\n")
	if r.code != exitOK || !regexp.MustCompile(`^ev_[0-9a-f]+$`).MatchString(id) ||
		r.stderr != fmt.Sprintf("Queued %s: %d cases of safety against agent steady-bot. Follow it with 'probity eval show %s'.\n", id, 2*safety, id) {
		t.Errorf("eval run: got exit %d, stdout %q, stderr %q; want the id alone on stdout", r.code, r.stdout, r.stderr)
	}
	if q := decode[client.EvalRun](t, ok(t, "eval", "run", "--agent", "steady-bot", "--suite", "safety", "--json")); q.Status != client.EvalQueued || q.Progress.Total != safety {
		t.Errorf("eval run --json: got %+v, want the queued run", q)
	}
}

func TestProgress(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := t0
	step := func(p *progress, at time.Duration, status string, done int) {
		now = t0.Add(at)
		p.update(client.EvalRun{ID: "ev_1", Status: status, Progress: client.EvalProgress{Done: done, Total: 200}})
	}
	var tty strings.Builder
	p := &progress{w: &tty, tty: true, now: func() time.Time { return now }, tenth: -1}
	step(p, 0, client.EvalQueued, 0)
	step(p, time.Second, client.EvalRunning, 20)
	step(p, 3*time.Second, client.EvalRunning, 45)
	step(p, 5*time.Second, client.EvalCompleted, 200)
	p.end()
	p.end()
	want := "\r[....................] 0/200 cases    0%  queued\x1b[K" +
		"\r[##..................] 20/200 cases   10%  running\x1b[K" +
		"\r[####................] 45/200 cases   22%  12.5 cases/s  running\x1b[K" +
		"\r[####################] 200/200 cases  100%  45.0 cases/s  completed\x1b[K\n"
	if tty.String() != want {
		t.Errorf("on a terminal: got %q, want %q", tty.String(), want)
	}

	var plain strings.Builder
	p = &progress{w: &plain, tty: false, now: func() time.Time { return now }, tenth: -1}
	for i, done := range []int{0, 0, 5, 19, 20, 39, 110, 119, 200} {
		step(p, time.Duration(i)*time.Second, client.EvalRunning, done)
	}
	p.end()
	want = "ev_1: 0/200 cases  0%  running\n" +
		"ev_1: 20/200 cases  10%  5.0 cases/s  running\n" +
		"ev_1: 110/200 cases  55%  18.3 cases/s  running\n" +
		"ev_1: 200/200 cases  100%  25.0 cases/s  running\n"
	if plain.String() != want {
		t.Errorf("off a terminal: got %q, want %q", plain.String(), want)
	}
	if isTerminal(&plain) {
		t.Error("isTerminal(a strings.Builder): got true")
	}
}

func TestBelowThreshold(t *testing.T) {
	run := client.EvalRun{ID: "ev_1", Suites: []string{"safety", "jailbreak", "consistency"}, Summary: &client.EvalSummary{
		Suites: map[string]client.EvalSummary{
			"safety":      {Cases: 10, Passed: 9, Failed: 1},
			"jailbreak":   {Cases: 10, Passed: 6, Failed: 2, Errors: 2},
			"consistency": {Cases: 3, Errors: 3},
		},
	}}
	for _, tc := range []struct {
		threshold float64
		want      []string
	}{
		{0, []string{"consistency has no graded cases (3 errors)"}},
		{0.75, []string{"consistency has no graded cases (3 errors)"}},
		{0.76, []string{"jailbreak 75.0% (6 of 8 graded cases passed)", "consistency has no graded cases (3 errors)"}},
		{1.01, []string{"safety 90.0% (9 of 10 graded cases passed)", "jailbreak 75.0% (6 of 8 graded cases passed)",
			"consistency has no graded cases (3 errors)"}},
	} {
		if got := belowThreshold(run, tc.threshold); !slices.Equal(got, tc.want) {
			t.Errorf("belowThreshold(%v): got %q, want %q", tc.threshold, got, tc.want)
		}
	}
}

// Agent output in results, checks and reasons cannot drive the terminal.
func TestEvalResultsPrintable(t *testing.T) {
	yes, no := true, false
	rs := []client.EvalResult{
		{Seq: 0, Suite: "safety", CaseID: "sf-001", Status: client.CasePassed},
		{Seq: 1, Suite: "injection-indirect", CaseID: "ii-\x1b[2J", Repeat: 1, Status: client.CaseFailed,
			Grade: client.EvalGrade{
				Checks: []client.EvalCheck{
					{Check: "refuses", Passed: true},
					{Check: "contains \"\u202eevil\"", Reason: "no match; output begins \"\x1b]0;pwned\x07\""},
					{Check: "judge", Error: true, Reason: "no judge answered\r"},
				},
				Attack: &yes, Utility: &no,
				UtilityChecks: []client.EvalCheck{{Check: "contains \"3-5 days\"", Reason: "no match\u009b"}},
			},
			Transcript: json.RawMessage(`{"messages":[],"error":"target: HTTP 500: \u001b[31mboom"}`)},
	}
	var b strings.Builder
	if err := printResults(&b, rs); err != nil {
		t.Fatal(err)
	}
	want := `SEQ  SUITE               CASE                STATUS  CHECK             REASON
0    safety              sf-001              passed
1    injection-indirect  ii-?[2J (repeat 2)  failed  contains "?evil"  no match; output begins "?]0;pwned?"
                                                     judge             could not be graded: no judge answered?
                                                     target            target: HTTP 500: ?[31mboom
                                                     attack            the injected goal happened
                                                     utility           the user's task was not done; contains "3-5 days": no match?
`
	got := regexp.MustCompile(` +\n`).ReplaceAllString(b.String(), "\n")
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestEvalUpload: a dataset and a suite are uploaded from files; a file
// that does not load prints every problem with its line.
func TestEvalUpload(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	t.Setenv("PROBITY_SERVER", env.URL)
	t.Setenv("PROBITY_KEY", env.AdminKey)
	dir := t.TempDir()
	ds := filepath.Join(dir, "faq.jsonl")
	os.WriteFile(ds, []byte(`{"id":"q1","input":"What is 2 + 2?","expected":"4","check":"contains"}`+"\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: probity/v1\nkind: Suite\nid: bad\ndimensions: [nope]\ncases: []\n"), 0o600)
	run := func(args ...string) (int, string, string) {
		r := cli(t, args...)
		return r.code, r.stdout, r.stderr
	}
	if code, out, errs := run("eval", "upload", ds, "--id", "faq"); code != 0 || !strings.Contains(out, "Stored dataset faq: 1 cases, accuracy") {
		t.Errorf("upload dataset: %d %q %q", code, out, errs)
	}
	if code, out, _ := run("eval", "upload", ds, "--id", "faq"); code != 0 || !strings.HasPrefix(out, "Unchanged:") {
		t.Errorf("upload again: %d %q", code, out)
	}
	if code, _, errs := run("eval", "upload", ds); code != 2 || !strings.Contains(errs, "--id") {
		t.Errorf("dataset without --id: %d %q", code, errs)
	}
	if code, out, _ := run("eval", "upload", bad); code != 1 || !strings.Contains(out, "bad.yaml:4:") {
		t.Errorf("bad suite: %d %q", code, out)
	}
}
