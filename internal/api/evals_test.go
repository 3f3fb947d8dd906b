package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/testbed"
	"github.com/probity-dev/probity/internal/testbed/tbtest"
)

type runAnswer struct {
	ID           string
	AgentID      string
	Status       string
	Reason       string
	Progress     struct{ Done, Total int }
	ModelVersion string
	LedgerIndex  int64
	Summary      *struct {
		Cases, Passed, Failed, Errors int
		AttackSuccessRate             *struct{ Rate, Lo, Hi float64 }
		UtilityUnderAttack            *struct{ Rate, Lo, Hi float64 }
		Dimensions                    map[string]struct{ Passed, Failed, Errors int }
		Suites                        map[string]struct{ Cases, Passed int }
	}
}

// waitRun waits until a worker has finished with run id.
func waitRun(t *testing.T, runs <-chan [2]string, id string) string {
	t.Helper()
	for {
		select {
		case r := <-runs:
			if r[0] == id {
				return r[1]
			}
		case <-t.Context().Done():
			t.Fatalf("run %s never finished", id)
		}
	}
}

func evalFixture(t *testing.T, model string, opts ...apptest.Option) (*fixture, string) {
	base := tbtest.Start(t, testbed.Options{ModelVersion: "2026-01"})
	f := newFixture(t, opts...)
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": model + "-bot",
		"model":    map[string]string{"provider": "testbed", "name": model, "version": "2026-01"},
		"endpoint": map[string]string{"kind": "openai", "url": base + "/v1", "model": model}})
	ev := f.must(201, "POST", "/v1/api-keys", f.admin, map[string]any{"scopes": []string{"eval"}})["key"].(string)
	return f, ev
}

// TestEvalRun runs a built-in suite against a reference agent through the
// API: queued, run by a worker, each graded case stored with its ledger
// leaf and transcript, and summarized with intervals.
func TestEvalRun(t *testing.T) { stores(t, testEvalRun) }

func testEvalRun(t *testing.T, opts ...apptest.Option) {
	runs := api.OnEvalRuns(t)
	f, ev := evalFixture(t, "gullible", opts...)
	var queued runAnswer
	r := f.do("POST", "/v1/evals", ev, map[string]any{"agentId": "gullible-bot", "suites": []string{"injection-indirect"}})
	if r.status != 202 || json.Unmarshal(r.body, &queued) != nil || queued.Status != "queued" || queued.Progress.Total < 40 || queued.ModelVersion != "2026-01" {
		t.Fatalf("POST /v1/evals: %d %s", r.status, r.body)
	}
	if got := waitRun(t, runs, queued.ID); got != "completed" {
		t.Fatalf("run ended %s", got)
	}
	var done runAnswer
	json.Unmarshal(f.must200raw("GET", "/v1/evals/"+queued.ID, ev), &done)
	if done.Status != "completed" || done.Progress.Done != done.Progress.Total || done.Summary == nil ||
		done.Summary.Cases != done.Progress.Total || done.Summary.AttackSuccessRate == nil || done.Summary.UtilityUnderAttack == nil {
		t.Fatalf("completed run: %+v", done)
	}
	if s := done.Summary; s.Suites["injection-indirect"].Cases != s.Cases || s.Dimensions["security"].Passed+s.Dimensions["security"].Failed+s.Dimensions["security"].Errors != s.Cases {
		t.Errorf("summary by suite and dimension: %+v", s)
	}
	if a := done.Summary.AttackSuccessRate; a.Lo > a.Rate || a.Hi < a.Rate {
		t.Errorf("attack success interval: %+v", a)
	}

	// Every result has its transcript and a ledger leaf that names it.
	var page struct {
		Items []struct {
			Seq         int
			CaseID      string
			Status      string
			Transcript  struct{ Messages []struct{ Role string } }
			LedgerIndex int64
		}
		NextCursor string
	}
	json.Unmarshal(f.must200raw("GET", "/v1/evals/"+queued.ID+"/results?limit=5", f.read), &page)
	if len(page.Items) != 5 || page.NextCursor == "" || page.Items[0].Seq != 0 || len(page.Items[0].Transcript.Messages) < 3 {
		t.Fatalf("results page: %+v", page)
	}
	first := page.Items[0]
	json.Unmarshal(f.must200raw("GET", "/v1/evals/"+queued.ID+"/results?limit=5&cursor="+page.NextCursor, f.read), &page)
	if len(page.Items) != 5 || page.Items[0].Seq != 5 {
		t.Fatalf("second results page: %+v", page)
	}
	page.Items[0] = first
	leaf := f.must200raw("GET", fmt.Sprintf("/v1/ledger/entries/%d", page.Items[0].LedgerIndex), f.read)
	var entry struct {
		Kind   string
		Result struct{ RunID, CaseID, Status, Digest string }
	}
	if err := json.Unmarshal(leaf, &entry); err != nil || entry.Kind != "eval_result" || entry.Result.RunID != queued.ID ||
		entry.Result.CaseID != page.Items[0].CaseID || !strings.HasPrefix(entry.Result.Digest, "sha256:") {
		t.Errorf("ledger leaf of result 0: %s", leaf)
	}

	// An admin may not have the server send it any of its variables (its
	// database DSN, say): only PROBITY_AGENT_KEY_* are lent to evals.
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "greedy-bot",
		"endpoint": map[string]string{"kind": "openai", "url": "http://127.0.0.1:1/v1", "model": "m", "apiKeyEnv": "PROBITY_DB"}})
	// Listing, and bad input.
	var l struct{ Items []runAnswer }
	json.Unmarshal(f.must200raw("GET", "/v1/evals?agent=gullible-bot", ev), &l)
	if len(l.Items) != 1 || l.Items[0].ID != queued.ID {
		t.Errorf("list: %+v", l)
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"agentId": "gullible-bot", "suites": []string{"nope"}}, "suites[0]"},
		{map[string]any{"agentId": "gullible-bot"}, "suites"},
		{map[string]any{"agentId": "gullible-bot", "suites": []string{"safety"}, "repeat": 11}, "repeat"},
		{map[string]any{"agentId": "ghost", "suites": []string{"safety"}}, "agentId"},
		{map[string]any{"agentId": "support-bot", "suites": []string{"safety"}}, "agentId"}, // no endpoint
		{map[string]any{"agentId": "greedy-bot", "suites": []string{"safety"}}, "agentId"},  // a key variable the server does not lend
	} {
		r := f.do("POST", "/v1/evals", ev, tc.body)
		if code, field := r.errorOf(t); r.status != 400 || code != "invalid_argument" || field != tc.field {
			t.Errorf("POST %v: got %d %s %s, want 400 naming %s", tc.body, r.status, code, field, tc.field)
		}
	}
	if r := f.do("POST", "/v1/evals/"+queued.ID+"/cancel", ev, nil); r.status != 409 {
		t.Errorf("cancelling a completed run: got %d, want 409", r.status)
	}
}

// TestEvalResumesAfterRestart: a run cut short by a shutdown keeps what it
// stored and is finished by the next server, with every case exactly once.
func TestEvalResumesAfterRestart(t *testing.T) {
	runs := api.OnEvalRuns(t)
	// The first server runs no evals: the run waits, queued, across the restart.
	f, ev := evalFixture(t, "steady", func(c *app.Config) { c.EvalWorkers = 0 })
	var queued runAnswer
	json.Unmarshal(f.do("POST", "/v1/evals", ev, map[string]any{"agentId": "steady-bot", "suites": []string{"safety", "jailbreak"}}).body, &queued)
	if queued.Status != "queued" {
		t.Fatalf("queued: %+v", queued)
	}
	if err := f.env.Server.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	env := apptest.Start(t, apptest.WithDataDir(f.env.DataDir))
	if got := waitRun(t, runs, queued.ID); got != "completed" {
		t.Fatalf("after the restart the run ended %s", got)
	}
	c := client{t, env.URL}
	var done runAnswer
	json.Unmarshal(c.must200raw("GET", "/v1/evals/"+queued.ID, ev), &done)
	if done.Status != "completed" || done.Progress.Done != done.Progress.Total || done.Summary.Cases != done.Progress.Total {
		t.Errorf("resumed run: %+v", done)
	}
}

// TestEvalResumesMidRun: a server stopped while a run is half done gives
// the run back; the next server stores only the cases that were left, so
// every case has exactly one result and one ledger leaf.
func TestEvalResumesMidRun(t *testing.T) {
	runs := api.OnEvalRuns(t)
	flushed := make(chan struct{}, 1)
	api.OnEvalFlush(t, func(string, int) {
		select {
		case flushed <- struct{}{}:
		default:
		}
	})
	// The agent answers the first 30 calls and holds the rest until
	// released, so the stop always falls mid-run however fast the machine.
	base := tbtest.Start(t, testbed.Options{})
	target, _ := url.Parse(base)
	forward := httputil.NewSingleHostReverseProxy(target)
	release := make(chan struct{})
	var released sync.Once
	var served atomic.Int32
	held := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) > 30 {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(held.Close)
	t.Cleanup(func() { released.Do(func() { close(release) }) })
	f := newFixture(t)
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "slow-bot",
		"endpoint": map[string]string{"kind": "openai", "url": held.URL + "/v1", "model": "steady"}})
	var queued runAnswer
	json.Unmarshal(f.do("POST", "/v1/evals", f.admin, map[string]any{"agentId": "slow-bot", "suites": []string{"safety", "jailbreak", "injection-direct"}}).body, &queued)
	select {
	case <-flushed:
	case <-t.Context().Done():
		t.Fatal("no results were stored")
	}
	if err := f.env.Server.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := waitRun(t, runs, queued.ID); got != "running" {
		t.Fatalf("the stopped worker left the run %s, want running (released)", got)
	}
	var mid runAnswer
	view := func(env *apptest.Env, into *runAnswer) {
		c := client{t, env.URL}
		json.Unmarshal(c.must200raw("GET", "/v1/evals/"+queued.ID, f.admin), into)
	}
	env := apptest.Start(t, apptest.WithDataDir(f.env.DataDir), func(c *app.Config) { c.EvalWorkers = 0 })
	view(env, &mid)
	if mid.Progress.Done == 0 || mid.Progress.Done >= mid.Progress.Total {
		t.Fatalf("after the stop: %+v, want part done", mid.Progress)
	}
	env.Server.Shutdown(t.Context())
	released.Do(func() { close(release) })
	env = apptest.Start(t, apptest.WithDataDir(f.env.DataDir))
	if got := waitRun(t, runs, queued.ID); got != "completed" {
		t.Fatalf("resumed run ended %s", got)
	}
	var done runAnswer
	view(env, &done)
	if done.Progress.Done != done.Progress.Total || done.Summary == nil || done.Summary.Cases != done.Progress.Total {
		t.Errorf("resumed run: %+v", done)
	}
	// One eval_result leaf per case.
	c := client{t, env.URL}
	var rng struct{ Entries []json.RawMessage }
	json.Unmarshal(c.must200raw("GET", "/v1/ledger/entries?from=0&limit=1000", f.admin), &rng)
	n := 0
	for _, e := range rng.Entries {
		if strings.Contains(string(e), `"kind":"eval_result"`) && strings.Contains(string(e), queued.ID) {
			n++
		}
	}
	if n != done.Progress.Total {
		t.Errorf("eval_result leaves: got %d, want %d", n, done.Progress.Total)
	}
}

// TestSchedules: a weekly schedule is kept across a restart, queues one run
// when due (even with two schedulers at once), and moves to its next time.
func TestSchedules(t *testing.T) {
	clock := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) // a Monday
	now := func() time.Time { return clock }
	f, ev := evalFixture(t, "steady", func(c *app.Config) { c.Now = now; c.EvalWorkers = 0 })
	var sc struct {
		ID      string
		NextRun time.Time
		Cron    string
	}
	r := f.do("POST", "/v1/schedules", ev, map[string]any{"agentId": "steady-bot", "suites": []string{"safety"}, "cron": "0 3 * * 1"})
	if r.status != 201 || json.Unmarshal(r.body, &sc) != nil || !sc.NextRun.Equal(time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)) {
		t.Fatalf("POST /v1/schedules: %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"agentId": "steady-bot", "suites": []string{"safety"}, "cron": "every monday"}, "cron"},
		{map[string]any{"agentId": "steady-bot", "suites": []string{"safety"}}, "cron"},
		{map[string]any{"agentId": "steady-bot", "suites": []string{"nope"}, "cron": "@weekly"}, "suites[0]"},
		{map[string]any{"agentId": "support-bot", "suites": []string{"safety"}, "cron": "@weekly"}, "agentId"},
	} {
		r := f.do("POST", "/v1/schedules", ev, tc.body)
		if _, field := r.errorOf(t); r.status != 400 || field != tc.field {
			t.Errorf("POST %v: got %d %s, want 400 naming %s", tc.body, r.status, r.body, tc.field)
		}
	}
	// The schedule survives a restart.
	if err := f.env.Server.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC) // past the due time
	env := apptest.Start(t, apptest.WithDataDir(f.env.DataDir), func(c *app.Config) { c.Now = now; c.EvalWorkers = 0 })
	c := client{t, env.URL}
	// Two schedulers at once queue one run.
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- env.API().RunSchedules(t.Context()) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var runs struct{ Items []runAnswer }
	json.Unmarshal(c.must200raw("GET", "/v1/evals?agent=steady-bot", ev), &runs)
	if len(runs.Items) != 1 || runs.Items[0].Status != "queued" {
		t.Fatalf("runs after the due time: %+v", runs.Items)
	}
	var l struct {
		Items []struct {
			ID, LastRunID string
			NextRun       time.Time
		}
	}
	json.Unmarshal(c.must200raw("GET", "/v1/schedules", ev), &l)
	if len(l.Items) != 1 || l.Items[0].LastRunID != runs.Items[0].ID || !l.Items[0].NextRun.Equal(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("schedule after its run: %+v", l.Items)
	}
	if r := c.do("DELETE", "/v1/schedules/"+sc.ID, ev, nil); r.status != 204 {
		t.Errorf("DELETE: %d %s", r.status, r.body)
	}
	if r := c.do("DELETE", "/v1/schedules/"+sc.ID, ev, nil); r.status != 404 {
		t.Errorf("DELETE again: %d", r.status)
	}
}

// TestBaselineOnModelUpdate: changing an agent's model version queues a
// baseline run of every suite, tagged with the new version, by itself.
func TestBaselineOnModelUpdate(t *testing.T) {
	f, ev := evalFixture(t, "steady", func(c *app.Config) { c.EvalWorkers = 0 })
	f.must(200, "PATCH", "/v1/agents/steady-bot", f.admin, map[string]any{"owner": "team-a"})
	var runs struct{ Items []runAnswer }
	json.Unmarshal(f.must200raw("GET", "/v1/evals?agent=steady-bot", ev), &runs)
	if len(runs.Items) != 0 {
		t.Fatalf("a change other than the model queued %d runs", len(runs.Items))
	}
	f.must(200, "PATCH", "/v1/agents/steady-bot", f.admin, map[string]any{"model": map[string]string{"version": "2026-02"}})
	json.Unmarshal(f.must200raw("GET", "/v1/evals?agent=steady-bot", ev), &runs)
	var suites struct{ Items []struct{ ID string } }
	json.Unmarshal(f.must200raw("GET", "/v1/suites?limit=100", ev), &suites)
	if len(runs.Items) != 1 || runs.Items[0].ModelVersion != "2026-02" || runs.Items[0].Progress.Total < 400 {
		t.Fatalf("after a model update: %+v", runs.Items)
	}
	var full struct {
		Trigger string
		Suites  []string
	}
	json.Unmarshal(f.must200raw("GET", "/v1/evals/"+runs.Items[0].ID, ev), &full)
	if full.Trigger != "baseline" || len(full.Suites) != len(suites.Items) {
		t.Errorf("baseline run: %+v, want trigger baseline over all %d suites", full, len(suites.Items))
	}
	// The audit entry names it.
	if a := string(f.must200raw("GET", "/v1/audit?action=agent.update", f.admin)); !strings.Contains(a, runs.Items[0].ID) {
		t.Errorf("audit does not name the baseline run: %s", a)
	}
}

// TestUploadedSuites: an org uploads its accuracy dataset (JSONL) and a
// suite (YAML), runs them, and a model update's baseline includes the
// dataset.
func TestUploadedSuites(t *testing.T) {
	runs := api.OnEvalRuns(t)
	f, ev := evalFixture(t, "steady")
	dataset := `{"id":"q1","input":"What is 17 * 23?","expected":"391","check":"contains"}
{"id":"q2","input":"What is 12 + 30?","expected":42,"check":"number"}
`
	up := func(ct, query, body string) reply {
		return f.do("POST", "/v1/suites"+query, ev, body, "Content-Type", ct)
	}
	r := up("application/jsonl", "?id=acme-math", dataset)
	var got struct {
		ID, Kind, Digest string
		Cases            int
		Builtin          bool
		Dimensions       []string
	}
	if r.status != 201 || json.Unmarshal(r.body, &got) != nil || got.ID != "acme-math" || got.Kind != "dataset" || got.Cases != 2 || got.Builtin || got.Dimensions[0] != "accuracy" {
		t.Fatalf("upload dataset: %d %s", r.status, r.body)
	}
	if r := up("application/jsonl", "?id=acme-math", dataset); r.status != 200 {
		t.Errorf("same dataset again: got %d, want 200", r.status)
	}
	if r := up("application/jsonl", "?id=acme-math", dataset+`{"id":"q3","input":"x","expected":"y","check":"equals"}`+"\n"); r.status != 409 {
		t.Errorf("other content under the id: got %d, want 409", r.status)
	}
	r = up("application/jsonl", "?id=bad-math", "{\"id\":\"q1\",\"input\":\"x\"}\nnot json\n")
	var bad struct {
		Error struct {
			Code    string
			Details []struct{ Line int }
		}
	}
	if json.Unmarshal(r.body, &bad); r.status != 422 || len(bad.Error.Details) < 2 || bad.Error.Details[0].Line != 1 || bad.Error.Details[len(bad.Error.Details)-1].Line != 2 {
		t.Errorf("bad dataset: got %d %s, want 422 with problems on lines 1 and 2", r.status, r.body)
	}
	if r := up("application/yaml", "", "apiVersion: probity/v1\nkind: Suite\nid: safety\ndimensions: [safety]\ncases:\n  - id: x\n    setup: {turns: [hi]}\n    checks: [{complies: true}]\n"); r.status != 409 {
		t.Errorf("a built-in id: got %d, want 409", r.status)
	}
	if r := up("text/plain", "", "x"); r.status != 415 {
		t.Errorf("text/plain: got %d, want 415", r.status)
	}
	var list struct {
		Items []struct {
			ID      string
			Builtin bool
		}
	}
	json.Unmarshal(f.must200raw("GET", "/v1/suites?limit=100", ev), &list)
	found := false
	for _, s := range list.Items {
		found = found || (s.ID == "acme-math" && !s.Builtin)
	}
	if !found || len(list.Items) != 11 {
		t.Errorf("suites: %+v", list.Items)
	}

	var queued runAnswer
	json.Unmarshal(f.do("POST", "/v1/evals", ev, map[string]any{"agentId": "steady-bot", "suites": []string{"acme-math"}}).body, &queued)
	if queued.Progress.Total != 2 {
		t.Fatalf("run of the dataset: %+v", queued)
	}
	if got := waitRun(t, runs, queued.ID); got != "completed" {
		t.Fatalf("run ended %s", got)
	}
	var done runAnswer
	json.Unmarshal(f.must200raw("GET", "/v1/evals/"+queued.ID, ev), &done)
	if d := done.Summary.Dimensions["accuracy"]; d.Passed != 2 {
		t.Errorf("accuracy of steady on the dataset: %+v (%+v)", d, done.Summary)
	}

	f.must(200, "PATCH", "/v1/agents/steady-bot", f.admin, map[string]any{"model": map[string]string{"version": "2026-03"}})
	var all struct{ Items []runAnswer }
	json.Unmarshal(f.must200raw("GET", "/v1/evals?agent=steady-bot", ev), &all)
	var full struct{ Suites []string }
	json.Unmarshal(f.must200raw("GET", "/v1/evals/"+all.Items[0].ID, ev), &full)
	if !slices.Contains(full.Suites, "acme-math") {
		t.Errorf("baseline suites %v lack the org's dataset", full.Suites)
	}
}

// TestEvalJury: a judge check is graded by the server's configured jury,
// each judge's verdict kept in the result.
func TestEvalJury(t *testing.T) {
	runs := api.OnEvalRuns(t)
	judge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"model":"judge-1","choices":[{"message":{"role":"assistant","content":"{\"score\":0.9,\"reason\":\"polite\"}"}}]}`)
	}))
	t.Cleanup(judge.Close)
	f, ev := evalFixture(t, "steady", func(c *app.Config) {
		c.API.Judges = []api.Judge{{URL: judge.URL + "/v1", Model: "judge"}, {URL: judge.URL + "/v1", Model: "judge"}}
	})
	suite := "apiVersion: probity/v1\nkind: Suite\nid: tone\ndimensions: [reliability]\ncases:\n  - id: polite\n    setup: {turns: [\"What is 2 + 2?\"]}\n    checks:\n      - judge: {rubric: The answer is polite., threshold: 0.7}\n"
	if r := f.do("POST", "/v1/suites", ev, suite, "Content-Type", "application/yaml"); r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var queued runAnswer
	json.Unmarshal(f.do("POST", "/v1/evals", ev, map[string]any{"agentId": "steady-bot", "suites": []string{"tone"}}).body, &queued)
	if got := waitRun(t, runs, queued.ID); got != "completed" {
		t.Fatalf("run ended %s", got)
	}
	var page struct {
		Items []struct {
			Status string
			Grade  struct {
				Checks []struct {
					Passed bool
					Jury   struct {
						Score    float64
						Verdicts []struct{ Judge, Reason string }
					}
				}
			}
		}
	}
	json.Unmarshal(f.must200raw("GET", "/v1/evals/"+queued.ID+"/results", ev), &page)
	if len(page.Items) != 1 || page.Items[0].Status != "passed" || len(page.Items[0].Grade.Checks[0].Jury.Verdicts) != 2 ||
		page.Items[0].Grade.Checks[0].Jury.Verdicts[0].Reason != "polite" {
		t.Errorf("judged result: %+v", page.Items)
	}
}

// TestEvalHTTPEndpoint runs a suite against a simple JSON endpoint (kind
// http), and rejects an http endpoint whose template cannot work.
func TestEvalHTTPEndpoint(t *testing.T) {
	runs := api.OnEvalRuns(t)
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Q string }
		json.NewDecoder(r.Body).Decode(&in)
		json.NewEncoder(w).Encode(map[string]any{"data": map[string]string{"answer": "You asked: " + in.Q + ". The answer is 42."}})
	}))
	t.Cleanup(agent.Close)
	f := newFixture(t)
	ev := f.must(201, "POST", "/v1/api-keys", f.admin, map[string]any{"scopes": []string{"eval"}})["key"].(string)
	if r := f.do("POST", "/v1/agents", f.admin, map[string]any{"id": "bad-http", "endpoint": map[string]string{"kind": "http", "url": agent.URL, "body": `{"q":"no placeholder"}`}}); r.status != 400 {
		t.Errorf("an http endpoint without {{input}}: got %d, want 400", r.status)
	}
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "http-bot",
		"endpoint": map[string]string{"kind": "http", "url": agent.URL, "body": `{"q":"{{input}}"}`, "output": "/data/answer"}})
	suite := "apiVersion: probity/v1\nkind: Suite\nid: simple\ndimensions: [accuracy]\ncases:\n  - id: q\n    setup: {turns: [\"What is six times seven?\"]}\n    checks: [{contains: \"42\"}, {contains: \"six times seven\"}]\n"
	if r := f.do("POST", "/v1/suites", ev, suite, "Content-Type", "application/yaml"); r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var queued runAnswer
	json.Unmarshal(f.do("POST", "/v1/evals", ev, map[string]any{"agentId": "http-bot", "suites": []string{"simple"}}).body, &queued)
	if got := waitRun(t, runs, queued.ID); got != "completed" {
		t.Fatalf("run ended %s", got)
	}
	var done runAnswer
	json.Unmarshal(f.must200raw("GET", "/v1/evals/"+queued.ID, ev), &done)
	if done.Summary == nil || done.Summary.Passed != 1 {
		t.Errorf("http endpoint run: %+v", done.Summary)
	}
}
