package api_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
)

func TestAgentLifecycle(t *testing.T) {
	f := newFixture(t)
	a := f.must(201, "POST", "/v1/agents", f.admin, map[string]any{
		"id": "payments-agent", "name": "Payments", "owner": "finance", "description": "pays invoices",
		"model":    map[string]string{"provider": "acme", "name": "large", "version": "2026-01"},
		"endpoint": map[string]string{"kind": "openai", "url": "http://127.0.0.1:9/v1", "model": "large", "apiKeyEnv": "PAY_KEY"},
		"access":   map[string]any{"dataClasses": []string{"pci"}, "production": true, "financial": true, "actions": []string{"payment"}},
		"riskTier": "critical",
	})
	if a["status"] != "active" || a["createdAt"] != a["updatedAt"] {
		t.Errorf("new agent: got status %v createdAt %v updatedAt %v, want active and equal times", a["status"], a["createdAt"], a["updatedAt"])
	}
	if _, err := time.Parse(time.RFC3339, a["createdAt"].(string)); err != nil || !strings.HasSuffix(a["createdAt"].(string), "Z") {
		t.Errorf("createdAt %v: want RFC 3339 UTC", a["createdAt"])
	}
	r := f.do("POST", "/v1/agents", f.admin, `{"id":"payments-agent"}`)
	if r.status != 409 {
		t.Errorf("duplicate create: got %d, want 409", r.status)
	}
	got := f.must(200, "GET", "/v1/agents/payments-agent", f.read, nil)
	if got["owner"] != "finance" || got["endpoint"].(map[string]any)["apiKeyEnv"] != "PAY_KEY" {
		t.Errorf("read back: got %v", got)
	}

	// A merge patch changes only what it names; a model change enters history.
	p := f.must(200, "PATCH", "/v1/agents/payments-agent", f.admin, map[string]any{"model": map[string]string{"version": "2026-02"}, "description": nil})
	m := p["model"].(map[string]any)
	if m["version"] != "2026-02" || m["provider"] != "acme" || p["owner"] != "finance" || p["description"] != nil {
		t.Errorf("after patch: got model %v owner %v description %v", m, p["owner"], p["description"])
	}
	f.must(200, "PATCH", "/v1/agents/payments-agent", f.admin, map[string]any{"owner": "treasury"})
	hist := f.must(200, "GET", "/v1/agents/payments-agent/models", f.read, nil)["items"].([]any)
	if len(hist) != 2 {
		t.Fatalf("model history: got %d entries, want 2 (create, model update; an owner change is no model change)", len(hist))
	}
	if v := hist[1].(map[string]any)["model"].(map[string]any)["version"]; v != "2026-02" {
		t.Errorf("latest model in history: got %v, want 2026-02", v)
	}
	for _, bad := range []struct{ body, field string }{
		{`{"status":"suspended"}`, "status"},
		{`{"id":"renamed"}`, "id"},
		{`{"riskTier":"extreme"}`, "riskTier"},
		{`{"endpoint":{"url":"ftp://x"}}`, "endpoint.url"},
		{`{}`, ""},
		{`{"surprise":null}`, "surprise"},
		{`{"model":{"flavour":null}}`, "model.flavour"},
	} {
		r := f.do("PATCH", "/v1/agents/payments-agent", f.admin, bad.body)
		if r.status != 400 {
			t.Errorf("patch %s: got %d, want 400", bad.body, r.status)
			continue
		}
		if _, field := r.errorOf(t); field != bad.field {
			t.Errorf("patch %s: got field %q, want %q", bad.body, field, bad.field)
		}
	}

	// A patch that changes nothing writes nothing.
	auditLen := func() int { return len(f.must(200, "GET", "/v1/audit?limit=1000", f.admin, nil)["items"].([]any)) }
	n := auditLen()
	same := f.must(200, "PATCH", "/v1/agents/payments-agent", f.admin, map[string]any{"owner": "treasury"})
	if auditLen() != n || same["updatedAt"] == p["updatedAt"] && false {
		t.Errorf("a no-op patch wrote an audit entry")
	}

	// Suspension needs a reason, reactivation a root cause.
	if r := f.do("POST", "/v1/agents/payments-agent/suspend", f.admin, `{"reason":"  "}`); r.status != 400 {
		t.Errorf("suspend without reason: got %d, want 400", r.status)
	}
	s := f.must(200, "POST", "/v1/agents/payments-agent/suspend", f.admin, map[string]string{"reason": "paid a fraudulent invoice"})
	if s["status"] != "suspended" || s["statusReason"] != "paid a fraudulent invoice" {
		t.Errorf("suspended agent: got %v / %v", s["status"], s["statusReason"])
	}
	if r := f.do("POST", "/v1/agents/payments-agent/suspend", f.admin, `{"reason":"again"}`); r.status != 409 {
		t.Errorf("suspend twice: got %d, want 409", r.status)
	}
	if r := f.do("POST", "/v1/agents/payments-agent/reactivate", f.admin, `{}`); r.status != 400 {
		t.Errorf("reactivate without root cause: got %d, want 400", r.status)
	}
	ra := f.must(200, "POST", "/v1/agents/payments-agent/reactivate", f.admin, map[string]string{"rootCause": "vendor allow-list fixed"})
	if ra["status"] != "active" || ra["statusReason"] != nil {
		t.Errorf("reactivated agent: got %v / %v", ra["status"], ra["statusReason"])
	}

	// Every admin action is in the audit log with its actor.
	audit := f.must(200, "GET", "/v1/audit?target=agent:payments-agent", f.read, nil)["items"].([]any)
	var actions []string
	for _, e := range audit {
		e := e.(map[string]any)
		actions = append(actions, e["action"].(string))
		if !strings.HasPrefix(e["actor"].(string), "k_") {
			t.Errorf("audit actor: got %v, want a key id", e["actor"])
		}
	}
	want := "agent.create agent.update agent.update agent.suspend agent.reactivate"
	if strings.Join(actions, " ") != want {
		t.Errorf("audit actions: got %q, want %q", strings.Join(actions, " "), want)
	}
}

func TestPaging(t *testing.T) {
	f := newFixture(t)
	for i := range 7 {
		f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": fmt.Sprintf("pg-%02d", i)})
	}
	for _, path := range []string{"/v1/agents", "/v1/inventory"} {
		seen := map[string]bool{}
		cursor := ""
		pages := 0
		for {
			q := path + "?limit=3"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			page := f.must(200, "GET", q, f.read, nil)
			pages++
			for _, it := range page["items"].([]any) {
				it := it.(map[string]any)
				id, _ := it["id"].(string)
				if id == "" {
					id, _ = it["agentId"].(string)
				}
				if seen[id] {
					t.Fatalf("%s: %s seen twice", path, id)
				}
				seen[id] = true
			}
			next, _ := page["nextCursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != 8 || pages != 3 {
			t.Errorf("%s: got %d agents in %d pages, want 8 in 3", path, len(seen), pages)
		}
	}
}

func TestInventoryWidestGapFirst(t *testing.T) {
	f := newFixture(t)
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "harmless", "access": map[string]any{"dataClasses": []string{"public"}}})
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "treasurer",
		"access": map[string]any{"dataClasses": []string{"pci"}, "production": true, "financial": true, "actions": []string{"transfer", "refund"}}})
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": "declared-high", "riskTier": "high"})
	items := f.must(200, "GET", "/v1/inventory", f.read, nil)["items"].([]any)
	var order []string
	gaps := map[string]float64{}
	for _, it := range items {
		it := it.(map[string]any)
		order = append(order, it["agentId"].(string))
		gaps[it["agentId"].(string)] = it["gap"].(float64)
	}
	if order[0] != "treasurer" || order[1] != "declared-high" {
		t.Errorf("inventory order: got %v, want treasurer, then declared-high first", order)
	}
	if gaps["treasurer"] != 76 || gaps["declared-high"] != 50 || gaps["harmless"] != 0 {
		t.Errorf("gaps: got %v, want treasurer 76, declared-high 50 (tier floor), harmless 0", gaps)
	}
	for i := 1; i < len(items); i++ {
		if items[i-1].(map[string]any)["gap"].(float64) < items[i].(map[string]any)["gap"].(float64) {
			t.Fatalf("inventory not sorted by gap: %v", items)
		}
	}
}

func TestKeys(t *testing.T) {
	f := newFixture(t)
	k := f.must(201, "POST", "/v1/api-keys", f.admin, map[string]any{"name": "ci", "scopes": []string{"read", "eval"}})
	secret, id := k["key"].(string), k["id"].(string)
	if !strings.HasPrefix(secret, "pb_") || !strings.HasPrefix(secret, k["prefix"].(string)) {
		t.Errorf("new key: got %q with prefix %q", secret, k["prefix"])
	}
	list := f.must(200, "GET", "/v1/api-keys", f.admin, nil)
	for _, it := range list["items"].([]any) {
		if _, leaked := it.(map[string]any)["key"]; leaked {
			t.Fatalf("key list shows a secret: %v", it)
		}
	}
	if strings.Contains(fmt.Sprint(list), secret) {
		t.Fatal("key list contains the secret")
	}
	if r := f.do("POST", "/v1/api-keys", f.admin, `{"scopes":["root"]}`); r.status != 400 {
		t.Errorf("unknown scope: got %d, want 400", r.status)
	}
	if r := f.do("POST", "/v1/api-keys", f.admin, `{"scopes":[]}`); r.status != 400 {
		t.Errorf("no scope: got %d, want 400", r.status)
	}
	f.must(200, "GET", "/v1/agents", secret, nil)
	f.must(200, "POST", "/v1/api-keys/"+id+"/revoke", f.admin, nil)
	// Revocation applies at once on the server that revoked, cache or not.
	if r := f.do("GET", "/v1/agents", secret, nil); r.status != 401 {
		t.Errorf("revoked key: got %d, want 401", r.status)
	}
	if r := f.do("POST", "/v1/api-keys/"+id+"/revoke", f.admin, nil); r.status != 409 {
		t.Errorf("revoke twice: got %d, want 409", r.status)
	}
}

func TestRateLimit(t *testing.T) {
	env := apptest.Start(t, func(c *app.Config) { c.API.RateLimit, c.API.RateBurst = 0.01, 4 })
	cl := client{t, env.URL}
	other := cl.must(201, "POST", "/v1/api-keys", env.AdminKey, map[string]any{"scopes": []string{"read"}})["key"].(string)
	var last reply
	n := 0
	for ; n < 10; n++ {
		last = cl.do("GET", "/v1/agents", env.AdminKey, nil)
		if last.status != 200 {
			break
		}
	}
	if last.status != 429 || n != 3 {
		t.Fatalf("got status %d after %d requests, want 429 after the burst of 3", last.status, n)
	}
	if code, _ := last.errorOf(t); code != "rate_limited" {
		t.Errorf("got code %q, want rate_limited", code)
	}
	if ra, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After: got %q, want whole seconds ≥ 1", last.header.Get("Retry-After"))
	}
	// Buckets are per key: another key is not limited by the first one.
	cl.must(200, "GET", "/v1/agents", other, nil)
}

// TestConcurrentAgentWrites: a suspension racing a PATCH of the same agent
// is never undone by it (on PostgreSQL each reads the agent only after
// taking the org's lock), and of two suspensions racing, one is a 409.
func TestConcurrentAgentWrites(t *testing.T) { stores(t, testConcurrentAgentWrites) }

func testConcurrentAgentWrites(t *testing.T, opts ...apptest.Option) {
	f := newFixture(t, opts...)
	for i := range 20 {
		id := fmt.Sprintf("race-%d", i)
		f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": id})
		codes := make(chan int, 3)
		var wg sync.WaitGroup
		wg.Go(func() {
			codes <- f.do("POST", "/v1/agents/"+id+"/suspend", f.admin, map[string]any{"reason": "investigation"}).status
		})
		wg.Go(func() {
			codes <- f.do("PATCH", "/v1/agents/"+id, f.admin, map[string]any{"description": fmt.Sprint("edit ", i)}).status
		})
		wg.Go(func() {
			codes <- f.do("POST", "/v1/agents/"+id+"/suspend", f.admin, map[string]any{"reason": "a second look"}).status
		})
		wg.Wait()
		close(codes)
		var got []int
		for c := range codes {
			got = append(got, c)
		}
		slices.Sort(got)
		if !slices.Equal(got, []int{200, 200, 409}) {
			t.Errorf("%s: suspend, patch, suspend answered %v, want two 200s and a 409", id, got)
		}
		a := f.must(200, "GET", "/v1/agents/"+id, f.read, nil)
		if a["status"] != "suspended" || a["description"] != fmt.Sprint("edit ", i) {
			t.Errorf("%s after the race: status %v, description %v; want suspended and the edit", id, a["status"], a["description"])
		}
	}
}
