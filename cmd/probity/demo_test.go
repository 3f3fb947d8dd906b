package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDemo plays the whole demo on a fresh data directory and checks the
// story it tells: the fleet registered, every baseline run, the injected
// web page leading the inbox assistant to a confirmed injection-influenced
// e-mail, a critical incident and the agent's suspension, the billing
// agent's model update with its new baseline and a high incident, every
// incident delivered to the signed webhook (and to rsyslog as CEF), the
// audit failing on critical, and where things are.
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
		"critical inbox-assistant  confirmed injection-influenced action",
		"high     billing-agent    model update 2026-01 → 2026-04 moved",
		"inbox-assistant is suspended: suspended by incident",
		"the gate: allow=false (the agent is suspended)",
		"probity audit --fail-on critical exits 8",
		"Admin key:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
	// What the webhook received, whatever else (score and tier changes)
	// arrived by then.
	for event, least := range map[string]int{"incident.opened": 2, "agent.suspended": 1} {
		m := regexp.MustCompile(`(?m)^  webhook\s+` + regexp.QuoteMeta(event) + `\s+(\d+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Errorf("the webhook received no %s:\n%s", event, out)
		} else if n, _ := strconv.Atoi(m[1]); n < least {
			t.Errorf("the webhook received %d %s, want at least %d", n, event, least)
		}
	}
	if strings.Contains(out, "rsyslogd is not installed") {
		if os.Getenv("CI") == "true" {
			t.Error("rsyslogd is not installed, and CI must show CEF delivery (apt-get install rsyslog)")
		}
	} else if m := regexp.MustCompile(`rsyslog wrote (\d+) CEF messages`).FindStringSubmatch(out); m == nil || m[1] == "0" ||
		!strings.Contains(out, "CEF:0|Probity|Probity|") {
		t.Errorf("no CEF delivered to rsyslog:\n%s", out)
	}
	if strings.Contains(out, "bad signature were refused") {
		t.Errorf("the webhook refused deliveries:\n%s", out)
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
