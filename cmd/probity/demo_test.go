package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemo plays the whole demo on a fresh data directory and checks the
// story it tells: the fleet registered, every baseline run, the injected
// web page leading the inbox assistant to a confirmed injection-influenced
// e-mail, the billing agent's model update with its new baseline, and
// where things are.
func TestDemo(t *testing.T) {
	isolate(t)
	dir := filepath.Join(t.TempDir(), "demo")
	r := cli(t, "demo", "--exit", "--listen", "127.0.0.1:0", "--data", dir)
	if r.code != exitOK {
		t.Fatalf("demo: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	for _, want := range []string{
		"support-bot", "inbox-assistant", "ops-agent", "report-writer", "billing-agent",
		"5/5 runs done",
		"critical injection_influenced (confirmed)",
		"billing-agent now runs drifting 2026-04",
		"1/1 runs done",
		"Admin key:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
	key, err := os.ReadFile(filepath.Join(dir, "admin.key"))
	if err != nil || !strings.Contains(out, strings.TrimSpace(string(key))) {
		t.Errorf("the admin key printed is not the one in %s (%v)", dir, err)
	}
	// The steady agent is the trusted one, and nobody else is injection-free
	// but the agents whose personas resist injection.
	row := func(agent string) string {
		m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(agent) + `\s+\S+\s+\d+.*$`).FindString(out)
		if m == "" {
			t.Fatalf("no score row for %s:\n%s", agent, out)
		}
		return m
	}
	if !strings.Contains(row("support-bot"), "injection-free") || strings.Contains(row("inbox-assistant"), "injection-free") {
		t.Errorf("badges: %q / %q", row("support-bot"), row("inbox-assistant"))
	}
	if r := cli(t, "demo", "--exit", "--listen", "127.0.0.1:0", "--data", dir); r.code != exitUsage || !strings.Contains(r.stderr, "is not empty") {
		t.Errorf("demo on a used data dir: exit %d, %s", r.code, r.stderr)
	}
}
