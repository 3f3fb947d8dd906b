package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

// result is what one run of the command did.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs the command in-process, as main would.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr strings.Builder
	code := run(t.Context(), args, &stdout, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

// ok runs the command and fails the test unless it exits 0.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := cli(t, args...)
	if r.code != exitOK {
		t.Fatalf("probity %s: got exit %d, want 0; stderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// isolate clears the environment variables the CLI reads, so that the
// developer's own settings cannot leak into a test.
func isolate(t *testing.T) {
	for _, v := range []string{"PROBITY_SERVER", "PROBITY_KEY", "PROBITY_DATA", "PROBITY_DB"} {
		t.Setenv(v, "")
	}
}

// table splits tabwriter output into rows of cells.
func table(s string) [][]string {
	var rows [][]string
	for line := range strings.Lines(strings.TrimRight(s, "\n")) {
		rows = append(rows, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1))
	}
	return rows
}

// withAPI puts the flags api right after the command words of args, so that
// flags in args come later and win.
func withAPI(args, api []string) []string {
	n := 2
	if args[0] == "inventory" {
		n = 1
	}
	if len(args) < n {
		return args
	}
	return slices.Concat(args[:n], api, args[n:])
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("output is not JSON for %T: %v\n%s", v, err, s)
	}
	return v
}

func TestAgentLifecycleSQLite(t *testing.T) {
	isolate(t)
	lifecycle(t, apptest.Start(t))
}

func TestAgentLifecyclePostgres(t *testing.T) {
	isolate(t)
	lifecycle(t, apptest.Start(t, apptest.WithPostgres(pgtest.TempDSN(t))))
}

func lifecycle(t *testing.T, env *apptest.Env) {
	api := []string{"--server", env.URL, "--key", env.AdminKey}
	agent := func(args ...string) string {
		t.Helper()
		return ok(t, append(append([]string{"agent"}, args...), api...)...)
	}

	out := agent("create", "--id", "support-bot", "--name", "Support bot", "--owner", "team-cx",
		"--description", "answers tickets", "--model-provider", "openai", "--model-name", "gpt-4o",
		"--model-version", "2024-08-06", "--endpoint-url", "http://127.0.0.1:9/v1", "--endpoint-model", "gpt-4o",
		"--endpoint-key-env", "SUPPORT_KEY", "--data-classes", "pii, financial,", "--systems", "zendesk",
		"--actions", "refund,send_email", "--production", "--risk-tier", "high")
	if out != "Created agent support-bot.\n" {
		t.Errorf("create: got %q, want %q", out, "Created agent support-bot.\n")
	}

	rows := table(agent("list"))
	want := [][]string{
		{"ID", "NAME", "OWNER", "STATUS", "MODEL", "RISK TIER"},
		{"support-bot", "Support bot", "team-cx", "active", "openai/gpt-4o 2024-08-06", "high"},
	}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("list: got %q, want %q", rows, want)
	}

	before := decode[probity.Agent](t, agent("get", "support-bot", "--json"))
	wantBefore := probity.Agent{
		ID: "support-bot", Name: "Support bot", Owner: "team-cx", Description: "answers tickets",
		Model:    probity.Model{Provider: "openai", Name: "gpt-4o", Version: "2024-08-06"},
		Endpoint: &probity.Endpoint{URL: "http://127.0.0.1:9/v1", Model: "gpt-4o", APIKeyEnv: "SUPPORT_KEY"},
		Access: probity.Access{DataClasses: []string{"pii", "financial"}, Systems: []string{"zendesk"},
			Actions: []string{"refund", "send_email"}, Production: true},
		RiskTier: "high", Status: "active", CreatedAt: before.CreatedAt, UpdatedAt: before.UpdatedAt,
	}
	if !agentsEqual(before, wantBefore) {
		t.Errorf("get --json: got %+v, want %+v", before, wantBefore)
	}

	// Flags before the id work too.
	out = ok(t, append(append([]string{"agent", "update"}, api...), "support-bot", "--model-version", "2025-01-01", "--owner", "team-ops")...)
	if !strings.Contains(out, "Model changed from openai/gpt-4o 2024-08-06 to openai/gpt-4o 2025-01-01") {
		t.Errorf("update: got %q, want it to report the model change", out)
	}
	after := decode[probity.Agent](t, agent("get", "support-bot", "--json"))
	wantAfter := before
	wantAfter.Owner, wantAfter.Model.Version, wantAfter.UpdatedAt = "team-ops", "2025-01-01", after.UpdatedAt
	if !agentsEqual(after, wantAfter) {
		t.Errorf("after update: got %+v, want only owner and model version changed: %+v", after, wantAfter)
	}
	// An update of a bool to false is sent, not dropped.
	after = decode[probity.Agent](t, agent("update", "support-bot", "--production=false", "--json"))
	if after.Access.Production || after.Access.Actions == nil {
		t.Errorf("update --production=false: got access %+v, want production false and the rest kept", after.Access)
	}

	detail := agent("get", "support-bot")
	for _, line := range []string{
		"Name:", "Support bot", "Owner:", "team-ops", "Status:", "active", "Model:", "openai/gpt-4o 2025-01-01",
		"Endpoint key from:", "$SUPPORT_KEY", "Data classes:", "pii, financial", "Production:", "no",
	} {
		if !strings.Contains(detail, line) {
			t.Errorf("get: output lacks %q:\n%s", line, detail)
		}
	}
	_, hist, found := strings.Cut(detail, "Model history:\n")
	if !found {
		t.Fatalf("get: no model history in\n%s", detail)
	}
	var models []string
	for _, row := range table(hist)[1:] {
		models = append(models, row[1])
	}
	if wantModels := []string{"openai/gpt-4o 2024-08-06", "openai/gpt-4o 2025-01-01"}; !slices.Equal(models, wantModels) {
		t.Errorf("get: model history got %q, want %q", models, wantModels)
	}

	if out := agent("suspend", "support-bot", "--reason", "refunded twice"); out != "Suspended agent support-bot.\n" {
		t.Errorf("suspend: got %q", out)
	}
	got := decode[probity.Agent](t, agent("get", "support-bot", "--json"))
	if got.Status != "suspended" || got.StatusReason != "refunded twice" {
		t.Errorf("after suspend: got %q (%q), want suspended (refunded twice)", got.Status, got.StatusReason)
	}
	if detail := agent("get", "support-bot"); !strings.Contains(detail, "suspended (refunded twice)") {
		t.Errorf("get of a suspended agent: got\n%s\nwant the status with its reason", detail)
	}
	got = decode[probity.Agent](t, agent("reactivate", "support-bot", "--root-cause", "idempotency keys", "--json"))
	if got.Status != "active" || got.StatusReason != "" {
		t.Errorf("reactivate --json: got %q (%q), want active", got.Status, got.StatusReason)
	}

	inv := table(ok(t, append([]string{"inventory"}, api...)...))
	if len(inv) != 2 || inv[1][0] != "support-bot" || inv[1][5] != "high" || inv[1][6] != "0%" {
		t.Errorf("inventory: got %q, want support-bot, tier high, 0%% verified", inv)
	}
}

// agentsEqual compares agents field by field, times to the microsecond.
func agentsEqual(a, b probity.Agent) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestAgentJSON(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	api := []string{"--server", env.URL, "--key", env.AdminKey, "--json"}
	a := decode[probity.Agent](t, ok(t, append([]string{"agent", "create", "--id", "a1", "--financial"}, api...)...))
	if a.ID != "a1" || !a.Access.Financial || a.Status != "active" || a.CreatedAt.IsZero() {
		t.Errorf("create --json: got %+v, want a1, financial, active, with createdAt", a)
	}
	ok(t, append([]string{"agent", "create", "--id", "a2"}, api...)...)
	list := decode[[]probity.Agent](t, ok(t, append([]string{"agent", "list"}, api...)...))
	if len(list) != 2 || list[0].ID != "a1" || list[1].ID != "a2" {
		t.Errorf("list --json: got %+v, want a1 and a2", list)
	}
	list = decode[[]probity.Agent](t, ok(t, append([]string{"agent", "list", "--limit", "1"}, api...)...))
	if len(list) != 1 || list[0].ID != "a1" {
		t.Errorf("list --limit 1 --json: got %+v, want a1 alone", list)
	}
	inv := decode[[]probity.InventoryItem](t, ok(t, append([]string{"inventory"}, api...)...))
	if len(inv) != 2 || inv[0].AgentID != "a1" || inv[0].Risk.Score != 20 {
		t.Errorf("inventory --json: got %+v, want a1 first with risk 20", inv)
	}
	// An empty list is an empty array, not null.
	env2 := apptest.Start(t)
	if out := ok(t, "agent", "list", "--json", "--server", env2.URL, "--key", env2.AdminKey); strings.TrimSpace(out) != "[]" {
		t.Errorf("list --json of no agents: got %q, want []", out)
	}
}

func TestAgentFromFile(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	api := []string{"--server", env.URL, "--key", env.AdminKey, "--json"}
	dir := t.TempDir()

	// The output of get --json is valid input, server fields and all.
	file := filepath.Join(dir, "agent.json")
	os.WriteFile(file, []byte(`{"id":"from-file","name":"File","model":{"provider":"anthropic","name":"claude"},
		"access":{"systems":["crm"]},"status":"suspended","createdAt":"2020-01-01T00:00:00Z"}`), 0o600)
	a := decode[probity.Agent](t, ok(t, append([]string{"agent", "create", "-f", file, "--model-version", "4", "--name", "Flag"}, api...)...))
	wantModel := probity.Model{Provider: "anthropic", Name: "claude", Version: "4"}
	if a.ID != "from-file" || a.Name != "Flag" || a.Model != wantModel || !slices.Equal(a.Access.Systems, []string{"crm"}) || a.Status != "active" {
		t.Errorf("create -f with flags: got %+v, want the file's fields, name and version from flags, active", a)
	}

	stdin, err := os.CreateTemp(dir, "stdin")
	if err != nil {
		t.Fatal(err)
	}
	stdin.WriteString(`{"id":"from-stdin","owner":"ops"}`)
	stdin.Seek(0, 0)
	old := os.Stdin
	os.Stdin = stdin
	t.Cleanup(func() { os.Stdin = old })
	a = decode[probity.Agent](t, ok(t, append([]string{"agent", "create", "-f", "-"}, api...)...))
	if a.ID != "from-stdin" || a.Owner != "ops" {
		t.Errorf("create -f -: got %+v, want from-stdin owned by ops", a)
	}

	patch := filepath.Join(dir, "patch.json")
	os.WriteFile(patch, []byte(`{"name":null,"access":{"production":true}}`), 0o600)
	a = decode[probity.Agent](t, ok(t, append([]string{"agent", "update", "from-file", "-f", patch, "--owner", "me"}, api...)...))
	if a.Name != "" || !a.Access.Production || a.Owner != "me" || !slices.Equal(a.Access.Systems, []string{"crm"}) {
		t.Errorf("update -f: got %+v, want name removed, production, owner me, systems kept", a)
	}

	bad := filepath.Join(dir, "bad.json")
	for _, tc := range []struct{ content, want string }{
		{`{"id":"x","nmae":"typo"}`, `unknown field "nmae"`},
		{`[1]`, "reading " + bad},
		{`{"id":`, "reading " + bad},
	} {
		os.WriteFile(bad, []byte(tc.content), 0o600)
		r := cli(t, append([]string{"agent", "create", "-f", bad}, api...)...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("create -f with %s: got exit %d, stderr %q; want 1 and %q", tc.content, r.code, r.stderr, tc.want)
		}
	}
}

func TestAgentUsageErrors(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	api := []string{"--server", env.URL, "--key", env.AdminKey}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent"}, "usage: probity agent"},
		{[]string{"agent", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"agent", "create"}, "--id is required"},
		{[]string{"agent", "create", "extra", "--id", "x"}, "takes no arguments"},
		{[]string{"agent", "create", "--id", "x", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"agent", "create", "--id", "x", "--server", "ftp://example"}, "want an http:// or https:// URL"},
		{[]string{"agent", "list", "--limit", "-1"}, "--limit must not be negative"},
		{[]string{"agent", "list", "--limit", "many"}, "invalid value"},
		{[]string{"agent", "list", "extra"}, "takes no arguments"},
		{[]string{"agent", "get"}, "missing agent ID"},
		{[]string{"agent", "get", "a", "b"}, "unexpected arguments"},
		{[]string{"agent", "update", "a"}, "name at least one field"},
		{[]string{"agent", "suspend", "a"}, "--reason is required"},
		{[]string{"agent", "suspend", "a", "--reason", "  "}, "--reason is required"},
		{[]string{"agent", "suspend"}, "missing agent ID"},
		{[]string{"agent", "reactivate", "a"}, "--root-cause is required"},
		{[]string{"inventory", "x"}, "takes no arguments"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := cli(t, withAPI(tc.args, api)...)
			if r.code != exitUsage {
				t.Errorf("got exit %d, want %d; stderr %q", r.code, exitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("got stderr %q, want it to contain %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("got stdout %q, want none", r.stdout)
			}
		})
	}
	if r := cli(t, "agent", "create", "-h"); r.code != exitOK || !strings.Contains(r.stderr, "-model-version") {
		t.Errorf("agent create -h: got exit %d, stderr %q; want 0 and the flags", r.code, r.stderr)
	}
}

func TestAgentServerErrors(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	api := []string{"--server", env.URL, "--key", env.AdminKey}
	ok(t, append([]string{"agent", "create", "--id", "bot"}, api...)...)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"agent", "get", "nobody"}, []string{"getting agent nobody: not_found:", "not found"}},
		{[]string{"agent", "create", "--id", "x", "--risk-tier", "extreme"},
			[]string{"invalid_argument: riskTier: must be one of low, medium, high, critical"}},
		{[]string{"agent", "create", "--id", "Bad ID"}, []string{"invalid_argument: id: must be 1-64 characters"}},
		{[]string{"agent", "create", "--id", "bot"}, []string{"conflict"}},
		{[]string{"agent", "update", "bot", "--endpoint-url", "ftp://x"}, []string{"endpoint.url: must be an http:// or https:// URL"}},
		{[]string{"agent", "update", "nobody", "--name", "n"}, []string{"updating agent nobody: not_found"}},
		{[]string{"agent", "reactivate", "bot", "--root-cause", "x"}, []string{"conflict: agent bot is already active"}},
		{[]string{"agent", "list", "--server", "http://127.0.0.1:1"}, []string{"connection refused", "is a server running at http://127.0.0.1:1?"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := cli(t, withAPI(tc.args, api)...)
			if r.code != exitError {
				t.Errorf("got exit %d, want %d; stderr %q", r.code, exitError, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("got stderr %q, want it to contain %q", r.stderr, w)
				}
			}
		})
	}
}

// --key beats PROBITY_KEY, which beats <--data>/admin.key.
func TestAgentKeyResolution(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	admin := client.New(env.URL, env.AdminKey)
	readKey, _, err := admin.CreateKey(t.Context(), "reader", []probity.Scope{probity.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	const unknown = probity.KeyPrefix + "unknown-key-0123456789"
	t.Setenv("PROBITY_SERVER", env.URL)
	t.Setenv("PROBITY_DATA", env.DataDir)

	// admin.key alone: an admin may create.
	ok(t, "agent", "create", "--id", "by-file")

	// PROBITY_KEY (read-only) beats admin.key: listing works, creating is forbidden.
	t.Setenv("PROBITY_KEY", readKey)
	ok(t, "agent", "list")
	if r := cli(t, "agent", "create", "--id", "by-env"); r.code != exitError || !strings.Contains(r.stderr, "permission_denied") {
		t.Errorf("create with a read key in PROBITY_KEY: got exit %d, stderr %q; want 1 and permission_denied", r.code, r.stderr)
	}

	// --key beats PROBITY_KEY.
	r := cli(t, "agent", "list", "--key", unknown)
	if r.code != exitError || !strings.Contains(r.stderr, "unauthenticated: unknown API key") {
		t.Errorf("list --key unknown: got exit %d, stderr %q; want 1 and unknown API key", r.code, r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, unknown) {
		t.Errorf("list --key unknown: the key appears in the output: %q", r.stderr)
	}
	ok(t, "agent", "create", "--id", "by-flag", "--key", env.AdminKey)

	// None of them: a clear error.
	t.Setenv("PROBITY_KEY", "")
	empty := t.TempDir()
	r = cli(t, "agent", "list", "--data", empty)
	if r.code != exitError || !strings.Contains(r.stderr, "no API key: pass --key, set PROBITY_KEY") ||
		!strings.Contains(r.stderr, filepath.Join(empty, "admin.key")) {
		t.Errorf("list without a key: got exit %d, stderr %q; want 1, the three ways and the path looked at", r.code, r.stderr)
	}

	// Help shows no key from the environment.
	t.Setenv("PROBITY_KEY", readKey)
	if r := cli(t, "agent", "list", "-h"); strings.Contains(r.stderr, readKey) {
		t.Errorf("list -h prints PROBITY_KEY: %q", r.stderr)
	}
}

// Agent text is untrusted: the server allows tabs, newlines and C1 controls,
// which must not reach the terminal or break the table.
func TestAgentUntrustedText(t *testing.T) {
	isolate(t)
	env := apptest.Start(t)
	api := []string{"--server", env.URL, "--key", env.AdminKey}
	// The server refuses terminal escapes outright …
	var stdout, stderr bytes.Buffer
	args := append([]string{"agent", "create", "--id", "evil", "--name", "a\u009b31m"}, api...)
	if code := run(t.Context(), args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "U+009B") {
		t.Errorf("create with an escape sequence: got exit %d %q, want 1 naming U+009B", code, stderr.String())
	}
	// … and tabs and newlines, which it accepts, never reach a table raw.
	ok(t, append([]string{"agent", "create", "--id", "evil", "--name", "a\tb\t31m", "--owner", "x\ny",
		"--description", "one\ntwo"}, api...)...)
	for _, args := range [][]string{{"agent", "list"}, {"agent", "get", "evil"}, {"inventory"}} {
		out := ok(t, append(args, api...)...)
		if strings.ContainsAny(out, "\t") || strings.Contains(out, "x\ny") {
			t.Errorf("%s: control characters reach the output: %q", args, out)
		}
		if !strings.Contains(out, "a?b?31m") {
			t.Errorf("%s: got %q, want the name as a?b?31m", args, out)
		}
	}
	if rows := table(ok(t, append([]string{"agent", "list"}, api...)...)); len(rows) != 2 || len(rows[1]) != 6 {
		t.Errorf("list: got rows %q, want a header and one row of 6 cells", rows)
	}
}

func TestCollect(t *testing.T) {
	// A fake list of 7 items in pages of at most 3 (or the limit asked).
	list := func(_ context.Context, o client.ListOptions) (client.Page[int], error) {
		start := 0
		if o.Cursor != "" {
			fmt.Sscan(o.Cursor, &start)
		}
		size := 3
		if o.Limit > 0 {
			size = min(o.Limit, 3)
		}
		var p client.Page[int]
		for i := start; i < min(start+size, 7); i++ {
			p.Items = append(p.Items, i)
		}
		if start+size < 7 {
			p.NextCursor = fmt.Sprint(start + size)
		}
		return p, nil
	}
	for _, tc := range []struct {
		limit int
		want  []int
	}{
		{0, []int{0, 1, 2, 3, 4, 5, 6}},
		{2, []int{0, 1}},
		{5, []int{0, 1, 2, 3, 4}},
		{9, []int{0, 1, 2, 3, 4, 5, 6}},
	} {
		got, err := collect(t.Context(), list, tc.limit)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("collect limit %d: got %v, %v; want %v", tc.limit, got, err, tc.want)
		}
	}
}
