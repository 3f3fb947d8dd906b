package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
)

// TestSinkCommands drives probity sink through every subcommand against a
// real server, with a webhook receiver that is down until the test brings
// it up, so that there is a dead letter to replay.
func TestSinkCommands(t *testing.T) {
	isolate(t)
	env := apptest.Start(t, func(c *app.Config) {
		c.Delivery.BackoffBase, c.Delivery.BackoffMax, c.Delivery.Poll, c.Delivery.MaxAttempts = time.Millisecond, 5*time.Millisecond, 10*time.Millisecond, 1
	})
	api := []string{"--server", env.URL, "--key", env.AdminKey}
	sink := func(args ...string) string {
		t.Helper()
		return ok(t, append(append([]string{"sink"}, args...), api...)...)
	}
	var mu sync.Mutex
	var secret string
	up := false
	arrived := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !up {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		if err := client.VerifyWebhook(secret, r.Header.Get("Probity-Signature"), body, time.Now(), time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
		}
		arrived <- r.Header.Get("Probity-Delivery")
	}))
	defer srv.Close()

	out := sink("create", "--kind", "webhook", "--url", srv.URL+"/hook", "--name", "soar", "--event-types", "agent.suspended")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "Created sink snk_") || !strings.Contains(lines[0], "(webhook, json) to "+srv.URL+"/hook") ||
		!strings.HasPrefix(lines[2], "pbwhsec_") {
		t.Fatalf("create: got %q", out)
	}
	mu.Lock()
	secret = lines[2]
	mu.Unlock()
	id := strings.Fields(lines[0])[2]

	t.Setenv("PROBITY_TEST_HEC_TOKEN", "hec-token-1234")
	hec := decode[map[string]any](t, sink("create", "--kind", "splunk_hec", "--url", "https://splunk.example.com:8088", "--token-env", "PROBITY_TEST_HEC_TOKEN",
		"--format", "ocsf", "--index", "security", "--json"))
	if hec["url"] != "https://splunk.example.com:8088/services/collector/event" || hec["secret"] != nil || strings.Contains(sink("list", "--json"), "hec-token-1234") {
		t.Errorf("HEC sink: %v", hec)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, []byte("not a certificate"), 0o600)
	r := cli(t, append([]string{"sink", "create", "--kind", "syslog", "--network", "tls", "--address", "siem.example.com:6514", "--ca-file", caFile}, api...)...)
	if r.code != exitError || !strings.Contains(r.stderr, "caPem: holds no PEM certificate") {
		t.Errorf("a bad CA file: got exit %d, stderr %q", r.code, r.stderr)
	}
	for _, bad := range [][]string{
		{"sink", "create", "--url", "https://x.example"}, // no kind
		{"sink", "create", "--kind", "webhook", "stray"}, // an argument
		{"sink", "replay", id},                           // neither --dead nor ids
		{"sink", "replay", id, "--dead", "dl_1"},         // both
		{"sink", "create", "--kind", "splunk_hec", "--token-env", "PROBITY_TEST_UNSET_VARIABLE"},
		{"sink", "launch"},
	} {
		if r := cli(t, append(bad, api...)...); r.code != exitUsage {
			t.Errorf("probity %s: got exit %d, want 2; stderr %q", strings.Join(bad, " "), r.code, r.stderr)
		}
	}
	if r := cli(t, append([]string{"sink", "create", "--kind", "webhook", "--url", "ftp://x.example"}, api...)...); r.code != exitError || !strings.Contains(r.stderr, "url:") {
		t.Errorf("a bad URL: got exit %d, stderr %q", r.code, r.stderr)
	}

	rows := table(sink("list"))
	if len(rows) != 3 || rows[0][0] != "ID" {
		t.Fatalf("list: got %q", rows)
	}
	if show := sink("show", id); !strings.Contains(show, "event types   agent.suspended") || !strings.Contains(show, srv.URL+"/hook") {
		t.Errorf("show: got %q", show)
	}

	ok(t, "agent", "create", "--id", "bot", "--server", env.URL, "--key", env.AdminKey)
	ok(t, "agent", "suspend", "bot", "--reason", "testing", "--server", env.URL, "--key", env.AdminKey)
	var dead []client.Delivery
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for len(dead) == 0 {
		select {
		case <-deadline:
			t.Fatal("timed out waiting for a dead letter")
		case <-tick.C:
		}
		dead = decode[[]client.Delivery](t, sink("deliveries", id, "--status", "dead", "--json"))
	}
	rows = table(sink("deliveries", id))
	if len(rows) != 2 || rows[1][0] != dead[0].ID || rows[1][1] != "agent.suspended" || rows[1][4] != "dead" || !strings.Contains(rows[1][6], "HTTP 503: maintenance") {
		t.Errorf("deliveries: got %q", rows)
	}
	mu.Lock()
	up = true
	mu.Unlock()
	if out := sink("replay", id, "--dead"); out != "Queued 1 deliveries again.\n" {
		t.Errorf("replay: got %q", out)
	}
	select {
	case got := <-arrived:
		if got != dead[0].ID {
			t.Errorf("the receiver got delivery %s, want %s", got, dead[0].ID)
		}
	case <-deadline:
		t.Fatal("timed out waiting for the replayed delivery")
	}
	if out := sink("delete", id); out != "Deleted sink "+id+" and its deliveries.\n" {
		t.Errorf("delete: got %q", out)
	}
	if r := cli(t, append([]string{"sink", "show", id}, api...)...); r.code != exitError || !strings.Contains(r.stderr, "not_found") {
		t.Errorf("show after delete: got exit %d, stderr %q", r.code, r.stderr)
	}
}
