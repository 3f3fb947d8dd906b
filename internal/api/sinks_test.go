package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/notify"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

// fastDelivery retries within milliseconds.
func fastDelivery(c *app.Config) {
	c.Delivery.BackoffBase, c.Delivery.BackoffMax, c.Delivery.Poll = 5*time.Millisecond, 50*time.Millisecond, 20*time.Millisecond
}

// hook is a webhook receiver that verifies signatures and keeps what it
// took by Probity-Delivery. While down is set it answers 503.
type hook struct {
	*httptest.Server
	secret atomic.Pointer[string]
	down   atomic.Bool

	mu   sync.Mutex
	got  map[string]notify.Event
	bad  []string
	hits int
}

func newHook(t *testing.T) *hook {
	h := &hook{got: map[string]notify.Event{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.hits++
		if h.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		secret := h.secret.Load()
		if secret == nil || notify.Verify([]byte(*secret), r.Header.Get("Probity-Signature"), body, time.Now(), 5*time.Minute) != nil {
			h.bad = append(h.bad, "a request with a bad signature: "+r.Header.Get("Probity-Signature"))
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev notify.Event
		if err := json.Unmarshal(body, &ev); err != nil || r.Header.Get("Probity-Event") != ev.Type {
			h.bad = append(h.bad, fmt.Sprintf("a bad event %s (%v)", body, err))
		}
		h.got[r.Header.Get("Probity-Delivery")] = ev
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) events() map[string]notify.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]notify.Event{}
	for k, v := range h.got {
		out[k] = v
	}
	return out
}

func (h *hook) check(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bad {
		t.Error(b)
	}
}

// until polls cond until it holds, failing after a deadline.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

type deliveryList struct {
	Items []struct {
		ID, Status, EventType, LastError string
		Attempts                         int
		LastStatusCode                   int
		Log                              []struct {
			Seq        int
			StatusCode int
			Error      string
		}
		Event notify.Event
	}
	NextCursor string
}

func (f *fixture) deliveries(sink, query string) deliveryList {
	f.t.Helper()
	var l deliveryList
	if err := json.Unmarshal(f.client.must200raw("GET", "/v1/sinks/"+sink+"/deliveries"+query, f.read), &l); err != nil {
		f.t.Fatal(err)
	}
	return l
}

func TestSinks(t *testing.T) {
	f := newFixture(t)
	created := f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"name": "soar", "kind": "webhook", "url": "https://soar.example.com/hook",
		"minSeverity": "high", "eventTypes": []string{"incident.opened", "agent.suspended"}})
	id, _ := created["id"].(string)
	secret, _ := created["secret"].(string)
	if !strings.HasPrefix(id, "snk_") || !strings.HasPrefix(secret, notify.SecretPrefix) || created["format"] != "json" || created["kind"] != "webhook" {
		t.Fatalf("created: %v", created)
	}
	hec := f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"kind": "splunk_hec", "format": "ocsf", "url": "https://splunk.example.com:8088",
		"token": "hec-token-0000"})
	if _, ok := hec["secret"]; ok || hec["url"] != "https://splunk.example.com:8088/services/collector/event" {
		t.Errorf("HEC sink: %v", hec)
	}
	f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"kind": "syslog", "network": "udp", "address": "127.0.0.1:514"})

	got := f.must(200, "GET", "/v1/sinks/"+id, f.read, nil)
	if _, ok := got["secret"]; ok || got["url"] != "https://soar.example.com/hook" || got["minSeverity"] != "high" {
		t.Errorf("GET: %v", got)
	}
	list := f.must(200, "GET", "/v1/sinks?limit=2", f.read, nil)
	if items, _ := list["items"].([]any); len(items) != 2 || list["nextCursor"] == nil {
		t.Errorf("first page of two: %v", list)
	}
	// Secrets and tokens appear nowhere but in the creation answer.
	for _, path := range []string{"/v1/sinks", "/v1/sinks/" + id, "/v1/audit?action=sink.create"} {
		body := string(f.client.must200raw("GET", path, f.admin))
		if strings.Contains(body, secret) || strings.Contains(body, "hec-token-0000") {
			t.Errorf("GET %s shows a secret: %s", path, body)
		}
	}
	audit := f.must(200, "GET", "/v1/audit?action=sink.create", f.read, nil)
	if items, _ := audit["items"].([]any); len(items) != 3 {
		t.Errorf("sink.create audit entries: got %v, want 3", audit)
	}
	// Another org sees none of it.
	f.must(404, "GET", "/v1/sinks/"+id, f.otherAdmin, nil)
	f.must(404, "DELETE", "/v1/sinks/"+id, f.otherAdmin, nil)
	if l := f.must(200, "GET", "/v1/sinks", f.otherAdmin, nil); len(l["items"].([]any)) != 0 {
		t.Errorf("another org's sinks: %v", l)
	}
	f.must(204, "DELETE", "/v1/sinks/"+id, f.admin, nil)
	f.must(404, "GET", "/v1/sinks/"+id, f.read, nil)
	f.must(404, "GET", "/v1/sinks/"+id+"/deliveries", f.read, nil)
	if a := f.must(200, "GET", "/v1/audit?action=sink.delete&target=sink:"+id, f.read, nil); len(a["items"].([]any)) != 1 {
		t.Errorf("sink.delete audit entry: %v", a)
	}
}

func TestSinkInvalid(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot()
	for _, tc := range []struct {
		name  string
		body  string
		field string
	}{
		{"bad url", `{"kind":"webhook","url":"not a url"}`, "url"},
		{"no url", `{"kind":"webhook"}`, "url"},
		{"unknown kind", `{"kind":"pagerduty","url":"https://x.example"}`, "kind"},
		{"unknown format", `{"kind":"webhook","format":"xml","url":"https://x.example"}`, "format"},
		{"cef to a webhook", `{"kind":"webhook","format":"cef","url":"https://x.example"}`, "format"},
		{"json to syslog", `{"kind":"syslog","format":"json","address":"x:514"}`, "format"},
		{"HEC without a token", `{"kind":"splunk_hec","url":"https://x.example"}`, "token"},
		{"a short secret", `{"kind":"webhook","url":"https://x.example","secret":"abc"}`, "secret"},
		{"syslog without a port", `{"kind":"syslog","address":"siem.example.com"}`, "address"},
		{"unknown severity", `{"kind":"webhook","url":"https://x.example","minSeverity":"urgent"}`, "minSeverity"},
		{"unknown event type", `{"kind":"webhook","url":"https://x.example","eventTypes":["agent.exploded"]}`, "eventTypes[0]"},
		{"unknown field", `{"kind":"webhook","url":"https://x.example","retries":3}`, "retries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do("POST", "/v1/sinks", f.admin, tc.body)
			if r.status != 400 {
				t.Fatalf("got status %d, want 400: %s", r.status, r.body)
			}
			if code, field := r.errorOf(t); code != "invalid_argument" || field != tc.field {
				t.Errorf("got %s on %q, want invalid_argument on %q: %s", code, field, tc.field, r.body)
			}
		})
	}
	if after := f.snapshot(); after != before {
		t.Errorf("bad sinks changed state")
	}
	if l := f.must(200, "GET", "/v1/sinks", f.admin, nil); len(l["items"].([]any)) != 0 {
		t.Errorf("bad sinks were stored: %v", l)
	}
}

// TestSinkDeliversAgentEvents: suspending and reactivating an agent reach
// a webhook, signed with the secret shown at creation; the delivery log
// and the metrics say so.
func TestSinkDeliversAgentEvents(t *testing.T) { stores(t, testSinkDeliversAgentEvents) }

func testSinkDeliversAgentEvents(t *testing.T, opts ...apptest.Option) {
	f := newFixture(t, append(opts, fastDelivery)...)
	h := newHook(t)
	created := f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"kind": "webhook", "url": h.URL,
		"eventTypes": []string{"agent.suspended", "agent.reactivated"}})
	secret := created["secret"].(string)
	h.secret.Store(&secret)
	sink := created["id"].(string)
	f.must(200, "POST", "/v1/agents/"+f.agentID+"/suspend", f.admin, map[string]any{"reason": "odd refunds\nCEF:0|forged"})
	f.must(200, "POST", "/v1/agents/"+f.agentID+"/reactivate", f.admin, map[string]any{"rootCause": "a bad prompt, fixed"})
	until(t, "both events delivered", func() bool { return len(h.events()) == 2 })
	h.check(t)
	byType := map[string]notify.Event{}
	for _, ev := range h.events() {
		byType[ev.Type] = ev
	}
	if s := byType["agent.suspended"]; s.AgentID != f.agentID || s.Severity != "high" || s.Detail != "odd refunds\nCEF:0|forged" || s.Org != "default" {
		t.Errorf("agent.suspended: %+v", s)
	}
	if r := byType["agent.reactivated"]; r.AgentID != f.agentID || r.Severity != "info" {
		t.Errorf("agent.reactivated: %+v", r)
	}
	until(t, "the log to show both sent", func() bool { return len(f.deliveries(sink, "?status=sent").Items) == 2 })
	for _, d := range f.deliveries(sink, "").Items {
		if _, ok := h.events()[d.ID]; !ok || d.Attempts != 1 || len(d.Log) != 1 || d.Log[0].StatusCode != 200 || d.Event.Type != d.EventType {
			t.Errorf("delivery %+v", d)
		}
	}
	metrics := string(f.client.must200raw("GET", "/metrics", ""))
	if !strings.Contains(metrics, `probity_deliveries_total{kind="webhook",outcome="sent"} 2`) || !strings.Contains(metrics, "probity_outbox_backlog") {
		t.Errorf("metrics lack the deliveries: %s", grepLines(metrics, "deliver", "outbox"))
	}
	// Events of other types (the agent's score, say) are not the sink's.
	if l := f.deliveries(sink, ""); len(l.Items) != 2 {
		t.Errorf("deliveries: got %d, want 2", len(l.Items))
	}
}

func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

func TestSinkDeadLettersAndReplay(t *testing.T) {
	f := newFixture(t, fastDelivery, func(c *app.Config) { c.Delivery.MaxAttempts = 2 })
	h := newHook(t)
	h.down.Store(true)
	created := f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"kind": "webhook", "url": h.URL, "secret": "a-secret-of-our-own-choosing"})
	secret := "a-secret-of-our-own-choosing"
	h.secret.Store(&secret)
	if _, ok := created["secret"]; !ok {
		t.Errorf("a given secret is shown back once too: %v", created)
	}
	sink := created["id"].(string)
	f.must(200, "POST", "/v1/agents/"+f.agentID+"/suspend", f.admin, map[string]any{"reason": "x"})
	until(t, "a dead letter", func() bool { return len(f.deliveries(sink, "?status=dead").Items) == 1 })
	dead := f.deliveries(sink, "?status=dead").Items[0]
	if dead.Attempts != 2 || dead.LastStatusCode != 503 || len(dead.Log) != 2 || !strings.Contains(dead.LastError, "HTTP 503") {
		t.Errorf("dead letter: %+v", dead)
	}
	// Bad replays change nothing.
	for _, tc := range []struct {
		body   any
		status int
		field  string
	}{
		{map[string]any{}, 400, "deliveryIds"},
		{map[string]any{"dead": true, "deliveryIds": []string{dead.ID}}, 400, "dead"},
		{map[string]any{"deliveryIds": []string{"Not Valid"}}, 400, "deliveryIds[0]"},
		{map[string]any{"deliveryIds": []string{"dl_nope"}}, 404, ""},
	} {
		r := f.do("POST", "/v1/sinks/"+sink+"/replay", f.admin, tc.body)
		if _, field := r.errorOf(t); r.status != tc.status || field != tc.field {
			t.Errorf("replay %v: got %d %q, want %d %q: %s", tc.body, r.status, field, tc.status, tc.field, r.body)
		}
	}
	f.must(403, "POST", "/v1/sinks/"+sink+"/replay", f.read, map[string]any{"dead": true})
	h.down.Store(false)
	if r := f.must(200, "POST", "/v1/sinks/"+sink+"/replay", f.admin, map[string]any{"dead": true}); r["replayed"] != float64(1) {
		t.Fatalf("replay: %v", r)
	}
	until(t, "the replayed delivery sent", func() bool { return len(f.deliveries(sink, "?status=sent").Items) == 1 })
	if _, ok := h.events()[dead.ID]; !ok {
		t.Errorf("the receiver did not get delivery %s under its id: %v", dead.ID, h.events())
	}
	sent := f.deliveries(sink, "").Items[0]
	if len(sent.Log) != 3 || sent.Log[2].StatusCode != 200 || sent.Attempts != 1 {
		t.Errorf("after the replay: %+v", sent)
	}
	// A sent one may be sent again by name; a pending one may not.
	h.down.Store(true)
	f.must(200, "POST", "/v1/sinks/"+sink+"/replay", f.admin, map[string]any{"deliveryIds": []string{dead.ID}})
	r := f.do("POST", "/v1/sinks/"+sink+"/replay", f.admin, map[string]any{"deliveryIds": []string{dead.ID}})
	if r.status != 409 {
		t.Errorf("replaying a pending delivery: got %d, want 409: %s", r.status, r.body)
	}
	if a := f.must(200, "GET", "/v1/audit?action=sink.replay", f.read, nil); len(a["items"].([]any)) != 2 {
		t.Errorf("sink.replay audit entries: %v", a)
	}
	h.check(t)
}

// TestSinkRestart: a server stopped while its sends hang, and one stopped
// with deliveries waiting to be retried, lose nothing: the next server on
// the same data sends each at least once, under the same id.
func TestSinkRestart(t *testing.T) { stores(t, testSinkRestart) }

func testSinkRestart(t *testing.T, opts ...apptest.Option) {
	f := newFixture(t, append(opts, fastDelivery)...)
	h := newHook(t)
	hang := make(chan struct{})
	var arrived atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		select {
		case <-hang:
		case <-r.Context().Done():
			return
		}
		h.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	created := f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"kind": "webhook", "url": front.URL})
	secret := created["secret"].(string)
	h.secret.Store(&secret)
	sink := created["id"].(string)
	for i := range 5 {
		f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": fmt.Sprintf("bot-%d", i)})
		f.must(200, "POST", fmt.Sprintf("/v1/agents/bot-%d/suspend", i), f.admin, map[string]any{"reason": "x"})
	}
	until(t, "sends in flight", func() bool { return arrived.Load() >= 2 })
	if err := f.env.Server.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	close(hang)
	env := apptest.Start(t, append(opts, apptest.WithDataDir(f.env.DataDir), fastDelivery)...)
	g := &fixture{client: client{t, env.URL}, env: env, admin: env.AdminKey, read: env.AdminKey}
	until(t, "every delivery sent after the restart", func() bool { return len(g.deliveries(sink, "?status=sent").Items) == 5 })
	got := h.events()
	for _, d := range g.deliveries(sink, "").Items {
		if _, ok := got[d.ID]; !ok {
			t.Errorf("delivery %s never reached the receiver", d.ID)
		}
	}
	if len(got) != 5 {
		t.Errorf("receiver took %d distinct deliveries, want 5", len(got))
	}
	h.check(t)
}

// TestSinkReplicas: two servers on one PostgreSQL database share the
// outbox, and claiming with SKIP LOCKED, never send a delivery twice.
func TestSinkReplicas(t *testing.T) {
	dsn := pgtest.TempDSN(t)
	f := newFixture(t, apptest.WithPostgres(dsn), fastDelivery)
	apptest.Start(t, apptest.WithPostgres(dsn), fastDelivery)
	h := newHook(t)
	created := f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"kind": "webhook", "url": h.URL})
	secret := created["secret"].(string)
	h.secret.Store(&secret)
	const n = 60
	for i := range n {
		f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": fmt.Sprintf("bot-%d", i)})
		f.must(200, "POST", fmt.Sprintf("/v1/agents/bot-%d/suspend", i), f.admin, map[string]any{"reason": "x"})
	}
	until(t, "every delivery taken", func() bool { return len(h.events()) == n })
	h.check(t)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hits != n {
		t.Errorf("the receiver was called %d times for %d deliveries: a delivery was sent twice", h.hits, n)
	}
}

// TestSinkPactViolations: violations found at ingest reach a sink that
// takes them, severe enough, with the clause as the rule; the score change
// that follows reaches a sink of every type and severity.
func TestSinkPactViolations(t *testing.T) {
	f := newFixture(t, fastDelivery)
	f.postPact(201, f.admin, yamlType, supportAgentPact)
	h, all := newHook(t), newHook(t)
	created := f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"kind": "webhook", "url": h.URL,
		"eventTypes": []string{"pact.violated", "score.changed"}, "minSeverity": "high"})
	secret := created["secret"].(string)
	h.secret.Store(&secret)
	secret2 := f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"kind": "webhook", "url": all.URL})["secret"].(string)
	all.secret.Store(&secret2)
	got := ingestViolations(f.client, f.ingest, batch(
		call("bad-1", "s-bad", 0, "delete_account", `{"customer":"c-9"}`), // major: high
		call("bad-2", "s-bad", 1, "issue_refund", `{"amount":250}`),       // critical
	))
	if len(got) != 2 {
		t.Fatalf("violations: got %v, want 2", brief(got))
	}
	until(t, "both violations delivered", func() bool { return len(h.events()) == 2 })
	bySubject := map[string]notify.Event{}
	for _, ev := range h.events() {
		bySubject[ev.Subject] = ev
	}
	for _, v := range got {
		ev, ok := bySubject[v.ID]
		if !ok {
			t.Errorf("violation %s was not delivered: %v", v.ID, h.events())
			continue
		}
		want := map[string]string{"major": "high", "critical": "critical"}[v.Severity]
		if ev.Type != "pact.violated" || ev.Rule != v.Clause || ev.Severity != want || ev.AgentID != "support-bot" || ev.Detail != v.Explanation {
			t.Errorf("violation %s delivered as %+v", v.ID, ev)
		}
	}
	// The score the new evidence moves is recorded, and its change sent
	// (as info: the agent's first score, which the first sink is above).
	if err := f.env.API().RecordDirtyScores(t.Context()); err != nil {
		t.Fatal(err)
	}
	until(t, "a score change", func() bool {
		for _, ev := range all.events() {
			if ev.Type == "score.changed" && ev.AgentID == "support-bot" && ev.Severity == "info" {
				return true
			}
		}
		return false
	})
	for _, ev := range h.events() {
		if ev.Type != "pact.violated" {
			t.Errorf("the first sink got %+v, which is below it", ev)
		}
	}
	h.check(t)
	all.check(t)
}

// TestSinkEvalEvents: a run that completes and one that fails (its
// agent's endpoint names a key variable the server lacks) each reach a
// sink.
func TestSinkEvalEvents(t *testing.T) {
	f, ev := evalFixture(t, "steady", fastDelivery)
	h := newHook(t)
	secret := f.must(201, "POST", "/v1/sinks", f.admin, map[string]any{"kind": "webhook", "url": h.URL,
		"eventTypes": []string{"eval.completed", "eval.failed"}})["secret"].(string)
	h.secret.Store(&secret)
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "gone-bot",
		"endpoint": map[string]string{"kind": "openai", "url": "http://127.0.0.1:9/v1", "model": "m", "apiKeyEnv": "PROBITY_AGENT_KEY_NEVER_SET_IN_TESTS"}})
	ok := f.must(202, "POST", "/v1/evals", ev, map[string]any{"agentId": "steady-bot", "suites": []string{"safety"}})["id"].(string)
	bad := f.must(202, "POST", "/v1/evals", ev, map[string]any{"agentId": "gone-bot", "suites": []string{"safety"}})["id"].(string)
	until(t, "both runs' events", func() bool { return len(h.events()) == 2 })
	for _, e := range h.events() {
		switch {
		case e.Subject == ok && e.Type == "eval.completed" && e.Severity == "info" && e.AgentID == "steady-bot":
		case e.Subject == bad && e.Type == "eval.failed" && e.Severity == "medium" && e.AgentID == "gone-bot" && e.Detail != "":
		default:
			t.Errorf("unexpected event %+v (runs %s and %s)", e, ok, bad)
		}
	}
	h.check(t)
}
