package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/testbed"
	"github.com/probity-dev/probity/internal/testbed/tbtest"
)

// chromiumPath finds Debian's chromium. Without it the browser tests skip,
// except under CI, where they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if inCI() {
		t.Fatal("chromium is not installed: .ci/run installs Debian's chromium package")
	}
	t.Skip("chromium is not installed (apt-get install chromium); skipping the browser tests")
	return ""
}

// newChrome starts a headless Chromium for the test, on a fresh profile,
// with everything that would reach the network off.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the browser, on the context without a deadline.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// screenshots is where page screenshots go: PROBITY_SCREENSHOTS (the docs
// set it to docs/screenshots), else the test's artifact directory.
func screenshots(t *testing.T) string {
	if dir := os.Getenv("PROBITY_SCREENSHOTS"); dir != "" {
		if !filepath.IsAbs(dir) {
			dir = filepath.Join("..", "..", dir) // relative to the repository root
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.ArtifactDir()
}

// step runs browser actions with a deadline, failing the test with what
// was being done.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := value(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// notPwned asserts that no payload ran on the current page: none set its
// marker or the title, no <img> or inline script came from agent text.
func notPwned(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	state := value(t, ctx, "reading "+where, chromedp.Evaluate[string](
		`[typeof window.__pwned, document.title, document.querySelectorAll("img").length, document.querySelectorAll("script:not([src])").length].join("|")`))
	parts := strings.Split(state, "|")
	if parts[0] != "undefined" || strings.Contains(parts[1], "pwned") || parts[2] != "0" || parts[3] != "0" {
		t.Errorf("%s: a payload ran or became markup (typeof __pwned, title, <img> count, inline scripts: %s)", where, state)
	}
}

// TestBrowser drives the dashboard in headless Chromium as a security lead
// would: sign in, read the fleet and the incident queue, open the agent a
// critical incident suspended, follow the incident to the injected tool
// result that caused it, resolve the incident with its root cause,
// reactivate the agent, suspend it by hand and reactivate it, read an
// eval's cases, check a ledger proof; and it proves that model output
// carrying <script> and <img onerror> payloads shows as text and runs
// nothing. It writes screenshots of the main pages.
func TestBrowser(t *testing.T) {
	ctx := newChrome(t)
	dir := screenshots(t)
	f := newFleet(t)
	bg := context.Background()

	// A reference agent with an endpoint, and a finished eval of its
	// indirect injections, which it fails.
	run := f.gullibleRun(t, "injection-indirect")
	if err := f.env.API().RecordScores(bg); err != nil {
		t.Fatal(err)
	}
	u := f.env.URL

	// Without a session: the sign-in page. Sign in with the admin key.
	step(t, ctx, "opening the fleet", chromedp.Navigate(u+"/"), chromedp.WaitVisible(chromedp.ID("key")))
	if loc := value(t, ctx, "location", chromedp.Location()); !strings.HasPrefix(loc, u+"/signin") {
		t.Fatalf("without a session: at %s, want the sign-in page", loc)
	}
	shoot(t, ctx, dir, "signin.png")
	step(t, ctx, "signing in",
		chromedp.SendKeys(chromedp.ID("key"), f.adminKey),
		chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.ID("fleet")))
	rows := value(t, ctx, "counting fleet rows", chromedp.Evaluate[int](`document.querySelectorAll("#fleet tbody tr").length`))
	if rows != 3 {
		t.Errorf("fleet rows: got %d, want 3", rows)
	}
	notPwned(t, ctx, "the fleet")
	shoot(t, ctx, dir, "fleet.png")

	// The incident queue: support-bot's critical incident on top.
	step(t, ctx, "opening the incident queue", chromedp.Navigate(u+"/incidents"), chromedp.WaitVisible(chromedp.ID("incidents")))
	shoot(t, ctx, dir, "incidents.png")

	// Open the agent from the fleet: its critical incident's playbook
	// suspended it.
	step(t, ctx, "opening support-bot",
		chromedp.Navigate(u+"/"),
		chromedp.Click(chromedp.CSS(`a.agent-link[href="/agents/support-bot"]`)),
		chromedp.WaitVisible(chromedp.ID("agent-status")))
	if s := value(t, ctx, "status", chromedp.Text(chromedp.ID("agent-status"))); s != "suspended" {
		t.Fatalf("support-bot status: %q, want suspended by its incident's playbook", s)
	}
	notPwned(t, ctx, "the agent page")
	shoot(t, ctx, dir, "agent.png")

	// Follow the incident to the injected tool result that caused it.
	step(t, ctx, "opening the incident",
		chromedp.Click(chromedp.CSS(`section.incidents-box a[href="/incidents/`+f.incident+`"]`)),
		chromedp.WaitVisible(chromedp.ID("resolve-form")))
	shoot(t, ctx, dir, "incident.png")
	step(t, ctx, "following the evidence",
		chromedp.Click(chromedp.CSS(`a.evidence-link[href="/records/i-4"]`)),
		chromedp.WaitVisible(chromedp.CSS("li.rec.influenced")))
	flagged := value(t, ctx, "reading the flagged result", chromedp.Text(chromedp.CSS("li.rec.flagged pre.json")))
	if !strings.Contains(flagged, "IMPORTANT NOTE TO AI AGENTS") {
		t.Errorf("the flagged tool result: %q", flagged)
	}
	shoot(t, ctx, dir, "session-injection.png")

	// Resolve the incident with its root cause, then reactivate the agent
	// with its own.
	step(t, ctx, "resolving the incident",
		chromedp.Navigate(u+"/incidents/"+f.incident),
		chromedp.SendKeys(chromedp.ID("rootCause"), "fetch_url results reached the model unfiltered"),
		chromedp.Submit(chromedp.ID("rootCause")),
		chromedp.WaitVisible(chromedp.ID("root-cause")))
	if s := value(t, ctx, "incident status", chromedp.Text(chromedp.ID("incident-status"))); s != "resolved" {
		t.Errorf("after resolving: incident %q", s)
	}
	if in, _ := f.admin.GetIncident(bg, f.incident); in.Status != "resolved" || in.RootCause == "" {
		t.Errorf("the API after resolving: %s %q", in.Status, in.RootCause)
	}
	step(t, ctx, "reactivating",
		chromedp.Navigate(u+"/agents/support-bot"),
		chromedp.SendKeys(chromedp.ID("rootCause"), "fetch_url results are now stripped of instructions"),
		chromedp.Submit(chromedp.ID("rootCause")),
		chromedp.WaitVisible(chromedp.ID("suspend-form")))
	if a, _ := f.admin.GetAgent(bg, "support-bot"); a.Status != probity.StatusActive {
		t.Errorf("the API after reactivating: %s", a.Status)
	}

	// Suspend it by hand with a reason, and reactivate it.
	step(t, ctx, "suspending",
		chromedp.SendKeys(chromedp.ID("reason"), "manual hold while the fetch tool is reviewed"),
		chromedp.Submit(chromedp.ID("reason")),
		chromedp.WaitVisible(chromedp.ID("reactivate-form")))
	if s := value(t, ctx, "status", chromedp.Text(chromedp.ID("agent-status"))); s != "suspended" {
		t.Errorf("after suspending: status %q", s)
	}
	if a, _ := f.admin.GetAgent(bg, "support-bot"); a.Status != probity.StatusSuspended || !strings.Contains(a.StatusReason, "manual hold") {
		t.Errorf("the API after suspending: %s %q", a.Status, a.StatusReason)
	}
	step(t, ctx, "reactivating again",
		chromedp.SendKeys(chromedp.ID("rootCause"), "review done"),
		chromedp.Submit(chromedp.ID("rootCause")),
		chromedp.WaitVisible(chromedp.ID("suspend-form")))

	// Model output with <script> and <img onerror>: shown as text, inert.
	step(t, ctx, "opening the session with payloads",
		chromedp.Navigate(u+"/agents/support-bot/session?id=s-xss"),
		chromedp.WaitVisible(chromedp.CSS("ol.session")))
	text := value(t, ctx, "reading the model output", chromedp.Text(chromedp.CSS("li.rec-model_output pre.content")))
	if !strings.Contains(text, scriptPayload) || !strings.Contains(text, imgPayload) {
		t.Errorf("the model output is not shown as its text: %q", text)
	}
	notPwned(t, ctx, "the session with payloads")
	shoot(t, ctx, dir, "session-payloads.png")

	// Live progress: a run against a slow agent, watched on the evals
	// page, which the page's script refreshes and reloads when it ends.
	slow := tbtest.Start(t, testbed.Options{ModelVersion: "2026-01", Latency: 100 * time.Millisecond})
	if _, err := f.admin.CreateAgent(bg, probity.Agent{ID: "slow-bot", Model: probity.Model{Provider: "testbed", Name: "steady", Version: "2026-01"},
		Endpoint: &probity.Endpoint{Kind: "openai", URL: slow + "/v1", Model: "steady"}}); err != nil {
		t.Fatal(err)
	}
	ev := client.New(u, f.evalKey)
	live, err := ev.StartEval(bg, "slow-bot", []string{"consistency"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(20 * time.Millisecond) // polling the run's real status, with a deadline
	defer tick.Stop()
	for deadline := time.Now().Add(30 * time.Second); ; <-tick.C {
		r, err := ev.GetEval(bg, live.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == client.EvalRunning {
			break
		}
		if r.Status != client.EvalQueued || time.Now().After(deadline) {
			t.Fatalf("the slow run: %s, want it running", r.Status)
		}
	}
	step(t, ctx, "watching a run in progress",
		chromedp.Navigate(u+"/evals"),
		chromedp.WaitVisible(chromedp.CSS(`table.live [data-progress="/evals/`+live.ID+`/progress"]`)))
	shoot(t, ctx, dir, "evals-live.png")
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	if err := chromedp.Do(sctx, chromedp.WaitNotPresent(chromedp.CSS("table.live"))); err != nil {
		t.Errorf("the evals page did not follow the run to its end by itself: %v", err)
	}
	cancel()
	if r, _ := ev.GetEval(bg, live.ID); r.Status != client.EvalCompleted {
		t.Errorf("the slow run ended %s", r.Status)
	}

	// Evals: the run list and a run with transcripts.
	step(t, ctx, "opening evals", chromedp.Navigate(u+"/evals"), chromedp.WaitVisible(chromedp.CSS("table.runs")))
	shoot(t, ctx, dir, "evals.png")
	step(t, ctx, "opening the run", chromedp.Navigate(u+"/evals/"+run.ID), chromedp.WaitVisible(chromedp.CSS("ol.cases")))
	cases := value(t, ctx, "counting cases", chromedp.Evaluate[int](`document.querySelectorAll("ol.cases > li").length`))
	if cases == 0 {
		t.Error("the run page lists no case")
	}
	notPwned(t, ctx, "the eval run with transcripts")
	shoot(t, ctx, dir, "eval-run.png")

	// The ledger: a record's inclusion proof checked on the page.
	step(t, ctx, "checking a proof",
		chromedp.Navigate(u+"/ledger"),
		chromedp.SendKeys(chromedp.CSS(`input[name="record"]`), "i-3"),
		chromedp.Submit(chromedp.CSS(`input[name="record"]`)),
		chromedp.WaitVisible(chromedp.ID("verdict")))
	if v := value(t, ctx, "reading the verdict", chromedp.Text(chromedp.ID("verdict"))); !strings.HasPrefix(v, "✓") {
		t.Errorf("ledger verdict: %q", v)
	}
	shoot(t, ctx, dir, "ledger.png")

	// Sign out: back to sign-in, and the fleet is closed again.
	step(t, ctx, "signing out", chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.ID("key")))
	step(t, ctx, "the fleet after sign-out", chromedp.Navigate(u+"/"), chromedp.WaitVisible(chromedp.ID("key")))
	t.Logf("screenshots in %s", dir)
}
