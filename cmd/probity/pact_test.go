package main

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/pact"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

const pactData = "../../internal/pact/testdata"

// wantProblems is what lint prints for a bad pact: its .errors golden file
// with the file name in front of every line.
func wantProblems(t *testing.T, name, errorsFile string) string {
	t.Helper()
	b, err := os.ReadFile(errorsFile)
	if err != nil {
		t.Fatal(err)
	}
	positioned := regexp.MustCompile(`^\d+:\d+: `)
	var sb strings.Builder
	for line := range strings.Lines(string(b)) {
		if positioned.MatchString(line) {
			sb.WriteString(name + ":" + line)
		} else {
			sb.WriteString(name + ": " + line)
		}
	}
	return sb.String()
}

func TestPactLint(t *testing.T) {
	good, _ := filepath.Glob(pactData + "/good/*")
	if len(good) == 0 {
		t.Fatal("no good pacts")
	}
	for _, path := range good {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p, err := pact.Compile(src)
			if err != nil {
				t.Fatal(err)
			}
			r := cli(t, "pact", "lint", path)
			want := path + ": ok: pact " + p.ID + ", " + count(len(p.Clauses()), "clause") + ", " + p.Digest() + "\n"
			if r.code != exitOK || r.stdout != want {
				t.Errorf("got exit %d, stdout %q, stderr %q; want 0 and %q", r.code, r.stdout, r.stderr, want)
			}
		})
	}
	bad, _ := filepath.Glob(pactData + "/bad/*.errors")
	if len(bad) == 0 {
		t.Fatal("no bad pacts")
	}
	for _, errorsFile := range bad {
		srcs, _ := filepath.Glob(strings.TrimSuffix(errorsFile, ".errors") + ".*")
		srcs = slices.DeleteFunc(srcs, func(s string) bool { return s == errorsFile })
		if len(srcs) != 1 {
			t.Fatalf("%s: got sources %q, want one", errorsFile, srcs)
		}
		path := srcs[0]
		t.Run(filepath.Base(path), func(t *testing.T) {
			r := cli(t, "pact", "lint", path)
			want := wantProblems(t, path, errorsFile)
			if r.code != exitError || r.stdout != want || !strings.Contains(r.stderr, "does not compile") {
				t.Errorf("got exit %d, stdout\n%s\nstderr %q; want exit 1, stdout\n%s", r.code, r.stdout, r.stderr, want)
			}
		})
	}
}

func TestPactLintStdin(t *testing.T) {
	f, err := os.Open(pactData + "/bad/cel-errors.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	r := cli(t, "pact", "lint", "-")
	if want := wantProblems(t, "<stdin>", pactData+"/bad/cel-errors.errors"); r.code != exitError || r.stdout != want {
		t.Errorf("got exit %d, stdout\n%s\nwant exit 1, stdout\n%s", r.code, r.stdout, want)
	}
}

func TestPactUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pact"}, exitUsage, "usage: probity pact"},
		{[]string{"pact", "nosuch"}, exitUsage, "unknown subcommand"},
		{[]string{"pact", "lint"}, exitUsage, "missing pact FILE"},
		{[]string{"pact", "lint", "a", "b"}, exitUsage, "unexpected arguments"},
		{[]string{"pact", "lint", filepath.Join(t.TempDir(), "nosuch.yaml")}, exitError, "no such file"},
		{[]string{"pact", "test", pactData + "/good/minimal.yaml"}, exitUsage, "--records is required"},
		{[]string{"pact", "test", pactData + "/good/minimal.yaml", "--records", "x", "--now", "today"}, exitUsage, "--now"},
		{[]string{"pact", "test", pactData + "/good/minimal.yaml", "--records", "x", "--canaries", "short"}, exitUsage, "--canaries"},
		{[]string{"pact", "diff"}, exitUsage, "missing pact ID"},
		{[]string{"pact", "diff", "p", "one"}, exitUsage, "want a version number"},
		{[]string{"pact", "diff", "p", "1", "2", "3"}, exitUsage, "unexpected arguments"},
	} {
		r := cli(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("probity %s: got exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// day is a day of records for the support-agent pact: a refund over the
// limit, a web fetch followed by an e-mail outside the company in the same
// session (but not across sessions), markup in an output, and a record of
// an agent the pact does not bind.
const day = `{"id":"r1","agentId":"support-bot","sessionId":"s1","time":"2025-06-01T10:00:00Z","type":"tool_call","tool":{"name":"lookup_order","arguments":{"order_id":"AB-123456"}}}
{"id":"r2","agentId":"support-bot","sessionId":"s1","time":"2025-06-01T10:00:01Z","type":"tool_call","tool":{"name":"issue_refund","arguments":{"amount":250}}}
{"id":"r3","agentId":"support-bot","sessionId":"s2","time":"2025-06-01T10:00:02Z","type":"tool_call","tool":{"name":"fetch_url","arguments":{"url":"https://help.zendesk.com/a"}}}

{"id":"r4","agentId":"support-bot","sessionId":"s1","time":"2025-06-01T10:00:03Z","type":"tool_call","tool":{"name":"send_email","arguments":{"to":"bob@acme.com"}}}
{"id":"r5","agentId":"support-bot-canary","sessionId":"s2","time":"2025-06-01T10:00:04Z","type":"tool_call","tool":{"name":"send_email","arguments":{"to":"x@help.zendesk.com"}}}
{"id":"r6","agentId":"support-bot","sessionId":"s2","time":"2025-06-01T10:00:05Z","type":"tool_call","tool":{"name":"send_email","arguments":{"to":"x@help.zendesk.com"}}}
{"id":"r7","agentId":"support-bot","sessionId":"s2","time":"2025-06-01T10:00:06Z","type":"model_output","content":"Your refund is on its way."}
{"id":"r8","agentId":"other-bot","sessionId":"s1","time":"2025-06-01T10:00:07Z","type":"tool_call","tool":{"name":"issue_refund","arguments":{"amount":9999}}}
{"id":"r9","agentId":"support-bot","time":"2025-06-01T10:00:08Z","type":"model_output","content":"Click <img src=x onerror=alert(1)>"}
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPactTest(t *testing.T) {
	support := pactData + "/good/support-agent.yaml"
	records := writeFile(t, "day.jsonl", day)

	r := cli(t, "pact", "test", support, "--records", records, "--json")
	if r.code != exitError || !strings.Contains(r.stderr, "3 violations") {
		t.Fatalf("got exit %d, stderr %q; want exit 1 and 3 violations", r.code, r.stderr)
	}
	rep := decode[testReport](t, r.stdout)
	type got struct {
		line           int
		id, clause     string
		kind, severity string
		evidence       string
	}
	var gots []got
	for _, v := range rep.Violations {
		gots = append(gots, got{v.Line, v.RecordID, v.Clause, v.Kind, v.Severity, strings.Join(v.RecordIDs, ",")})
	}
	want := []got{
		{2, "r2", "refund-limit", pact.KindScopeWhen, pact.Critical, "r2"},
		{7, "r6", "no-email-after-fetch", pact.KindForbiddenSequence, pact.Critical, "r3,r6"},
		{10, "r9", "no-markup", pact.KindOutput, "major", "r9"},
	}
	if !slices.Equal(gots, want) {
		t.Errorf("violations:\ngot  %+v\nwant %+v", gots, want)
	}
	if rep.Records != 9 || rep.Checked != 8 || rep.Skipped != 1 {
		t.Errorf("got %d records, %d checked, %d skipped; want 9, 8, 1", rep.Records, rep.Checked, rep.Skipped)
	}
	counts := map[string]string{}
	for _, c := range rep.Clauses {
		n := "nil"
		if c.Violations != nil {
			n = strconv.Itoa(*c.Violations)
		}
		counts[c.Clause] = n
	}
	wantCounts := map[string]string{"scope.tools": "0", "scope.tools.lookup_order": "0", "refund-limit": "1",
		"scope.tools.send_email": "0", "scope.dataClasses": "0", "scope.egressDomains": "0",
		"no-email-after-fetch": "1", "no-markup": "1", "no-leaks": "0", "fast": "nil", "reliable": "nil", "safe": "nil"}
	if !maps.Equal(counts, wantCounts) {
		t.Errorf("clause counts: got %v, want %v", counts, wantCounts)
	}

	r = cli(t, "pact", "test", support, "--records", records)
	rows := table(r.stdout)
	if r.code != exitError || len(rows) < 5 || !slices.Equal(rows[0], []string{"LINE", "RECORD", "CLAUSE", "SEVERITY", "KIND", "EXPLANATION"}) ||
		!slices.Equal(rows[1][:5], []string{"2", "r2", "refund-limit", "critical", "scope_when"}) {
		t.Errorf("text: got exit %d, stdout\n%s", r.code, r.stdout)
	}
	for _, row := range [][]string{{"refund-limit", "scope", "critical", "1"}, {"fast", "commitment", "minor", "not checked"}} {
		if !slices.ContainsFunc(rows, func(r []string) bool { return slices.Equal(r, row) }) {
			t.Errorf("text: got\n%s\nwant a row %q", r.stdout, row)
		}
	}
	if s := "\npact support-agent: 3 violations in 8 records checked (1 record of other agents skipped).\n"; !strings.HasSuffix(r.stdout, s) {
		t.Errorf("text: got\n%s\nwant it to end %q", r.stdout, s)
	}

	clean := writeFile(t, "clean.jsonl", strings.Join(slices.DeleteFunc(strings.Split(day, "\n"), func(l string) bool {
		return regexp.MustCompile(`"id":"r[269]"`).MatchString(l)
	}), "\n"))
	r = cli(t, "pact", "test", support, "--records", clean)
	if r.code != exitOK || !strings.Contains(r.stdout, "pact support-agent: 0 violations in 5 records checked") {
		t.Errorf("clean: got exit %d, stdout\n%s\nstderr %q; want 0 violations", r.code, r.stdout, r.stderr)
	}

	// A pact that binds no agent checks every record.
	r = cli(t, "pact", "test", pactData+"/good/minimal.yaml", "--records", records)
	if r.code != exitOK || !strings.Contains(r.stdout, "0 violations in 9 records checked.\n") {
		t.Errorf("minimal: got exit %d, stdout\n%s", r.code, r.stdout)
	}
}

func TestPactTestBadRecords(t *testing.T) {
	support := pactData + "/good/support-agent.yaml"
	bad := writeFile(t, "bad.jsonl", `{"id":"a","agentId":"support-bot","time":"2025-06-01T10:00:00Z","type":"user_input","extra":1}
{"id":"b","agentId":"support-bot","time":"2025-06-01T10:00:00Z","type":"user_input"} {}
{"id":"c","agentId":"support-bot","time":"2025-06-01T10:00:00Z","type":"nosuch"}
not json
{"id":"d","agentId":"support-bot","time":"2025-06-01T10:00:00Z","type":"user_input"}
`)
	r := cli(t, "pact", "test", support, "--records", bad)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	wantPrefixes := []string{bad + ":1: not a record: json: unknown field \"extra\"", bad + ":2: not a record: data after",
		bad + ":3: type: must be one of", bad + ":4: not a record:"}
	if r.code != exitError || len(lines) != len(wantPrefixes) || !strings.Contains(r.stderr, "4 problems; nothing was checked") {
		t.Fatalf("got exit %d, stdout\n%s\nstderr %q; want exit 1 and 4 problems", r.code, r.stdout, r.stderr)
	}
	for i, p := range wantPrefixes {
		if !strings.HasPrefix(lines[i], p) {
			t.Errorf("line %d: got %q, want it to start %q", i, lines[i], p)
		}
	}

	// Validated at --now, a record from the future is refused; at its own
	// time it is not.
	future := writeFile(t, "future.jsonl", `{"id":"a","agentId":"support-bot","time":"2025-06-01T10:00:00Z","type":"user_input"}`+"\n")
	r = cli(t, "pact", "test", support, "--records", future, "--now", "2025-01-01T00:00:00Z")
	if r.code != exitError || !strings.Contains(r.stdout, future+":1: time: is more than 24h in the future") {
		t.Errorf("--now: got exit %d, stdout %q", r.code, r.stdout)
	}
	if r = cli(t, "pact", "test", support, "--records", future); r.code != exitOK {
		t.Errorf("own time: got exit %d, stdout %q, stderr %q; want 0", r.code, r.stdout, r.stderr)
	}
}

func TestPactApplySQLite(t *testing.T) {
	isolate(t)
	applyAndDiff(t, apptest.Start(t))
}

func TestPactApplyPostgres(t *testing.T) {
	isolate(t)
	applyAndDiff(t, apptest.Start(t, apptest.WithPostgres(pgtest.TempDSN(t))))
}

func applyAndDiff(t *testing.T, env *apptest.Env) {
	c := client.New(env.URL, env.AdminKey)
	for _, id := range []string{"support-bot", "support-bot-canary"} {
		if _, err := c.CreateAgent(t.Context(), probity.Agent{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	api := []string{"--server", env.URL, "--key", env.AdminKey}
	pactCmd := func(args ...string) result {
		t.Helper()
		return cli(t, slices.Concat([]string{"pact"}, args, api)...)
	}
	support := pactData + "/good/support-agent.yaml"

	r := pactCmd("apply", support)
	if r.code != exitOK || !regexp.MustCompile(`^Created pact support-agent version 1, sha256:[0-9a-f]{64} \(ledger index \d+\)\.\nBound agents: support-bot, support-bot-canary\.\n$`).MatchString(r.stdout) {
		t.Errorf("apply: got exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = pactCmd("apply", support)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "Unchanged: pact support-agent is at version 1, sha256:") {
		t.Errorf("apply again: got exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// The same content as JSON (its canonical form) is the same version.
	src, err := os.ReadFile(support)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pact.Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	r = pactCmd("apply", writeFile(t, "support.json", string(p.Canonical())), "--json")
	if r.code != exitOK {
		t.Fatalf("apply JSON: got exit %d, stderr %q", r.code, r.stderr)
	}
	type applied struct {
		Created bool `json:"created"`
		client.PactVersion
	}
	if a := decode[applied](t, r.stdout); r.code != exitOK || a.Created || a.ID != "support-agent" || a.Version != 1 {
		t.Errorf("apply JSON: got exit %d, %+v; want version 1 unchanged", r.code, a)
	}

	changed := writeFile(t, "support.yaml", strings.Replace(string(src), "args.amount <= 100", "args.amount <= 50", 1))
	r = pactCmd("apply", changed)
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "Created pact support-agent version 2, sha256:") {
		t.Errorf("apply changed: got exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	bad := pactData + "/bad/cel-errors.yaml"
	r = pactCmd("apply", bad)
	if want := wantProblems(t, bad, pactData+"/bad/cel-errors.errors"); r.code != exitError || r.stdout != want ||
		!strings.Contains(r.stderr, "does not compile") {
		t.Errorf("apply bad: got exit %d, stdout\n%s\nstderr %q; want exit 1, stdout\n%s", r.code, r.stdout, r.stderr, want)
	}
	conflict := writeFile(t, "other.yaml", "apiVersion: probity/v1\nkind: Pact\nid: other\nagents: [support-bot]\n")
	r = pactCmd("apply", conflict)
	if r.code != exitError || r.stdout != "" || !strings.Contains(r.stderr, "conflict: agent support-bot is bound to pact support-agent") {
		t.Errorf("apply conflict: got exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	for _, args := range [][]string{{"support-agent"}, {"support-agent", "1", "2"}, {"support-agent", "1"}} {
		r = pactCmd(append([]string{"diff"}, args...)...)
		lines := strings.Split(r.stdout, "\n")
		if r.code != exitOK || !regexp.MustCompile(`^pact support-agent: version 1 \(sha256:[0-9a-f]{64}\) to version 2 \(sha256:[0-9a-f]{64}\)$`).MatchString(lines[0]) ||
			!slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "- ") && strings.Contains(l, "args.amount <= 100") }) ||
			!slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "+ ") && strings.Contains(l, "args.amount <= 50") }) {
			t.Errorf("diff %q: got exit %d, stdout\n%s\nstderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	r = pactCmd("diff", "support-agent", "2", "2")
	if r.code != exitOK || !strings.HasSuffix(r.stdout, "\nNo differences.\n") {
		t.Errorf("diff 2 2: got exit %d, stdout %q", r.code, r.stdout)
	}
	r = pactCmd("diff", "support-agent", "--json")
	if d := decode[client.PactDiff](t, r.stdout); r.code != exitOK || d.From != 1 || d.To != 2 || d.Diff == "" {
		t.Errorf("diff --json: got exit %d, %+v", r.code, d)
	}
	r = pactCmd("diff", "nosuch")
	if r.code != exitError || !strings.Contains(r.stderr, "not_found") {
		t.Errorf("diff nosuch: got exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestPactLintPrintable(t *testing.T) {
	path := writeFile(t, "esc.yaml", "apiVersion: probity/v1\nkind: Pact\nid: x\n\"a\\e[31mb\": 1\n")
	r := cli(t, "pact", "lint", path)
	if want := path + ":4:1: a?[31mb: unknown field"; r.code != exitError || !strings.HasPrefix(r.stdout, want) {
		t.Errorf("got exit %d, stdout %q; want exit 1 and %q", r.code, r.stdout, want)
	}
}
