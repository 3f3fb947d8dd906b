package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

func TestHappyPathSQLite(t *testing.T) {
	happyPath(t, apptest.Start(t))
}

func TestHappyPathPostgres(t *testing.T) {
	happyPath(t, apptest.Start(t, apptest.WithPostgres(pgtest.TempDSN(t))))
}

// happyPath calls every method of the SDK once against a fresh server.
func happyPath(t *testing.T, env *apptest.Env) {
	ctx := t.Context()
	c := client.New(env.URL, env.AdminKey)

	in := probity.Agent{
		ID: "support-bot", Name: "Support bot", Owner: "team-cx", Description: "answers tickets",
		Model:    probity.Model{Provider: "openai", Name: "gpt-4o", Version: "2024-08-06"},
		Endpoint: &probity.Endpoint{URL: "http://127.0.0.1:9/v1", Model: "gpt-4o", APIKeyEnv: "SUPPORT_KEY"},
		Access:   probity.Access{DataClasses: []string{"pii"}, Systems: []string{"zendesk"}, Actions: []string{"refund"}, Production: true},
		RiskTier: "high",
		// Server fields: the SDK must not send them, or the server would refuse.
		Status: probity.StatusSuspended, StatusReason: "x", CreatedAt: time.Unix(1, 0),
	}
	a, err := c.CreateAgent(ctx, in)
	if err != nil {
		t.Fatalf("CreateAgent: %v", err)
	}
	if a.ID != in.ID || a.Name != in.Name || a.Model != in.Model || a.RiskTier != "high" {
		t.Errorf("CreateAgent returned %+v, want the fields of %+v", a, in)
	}
	if a.Status != probity.StatusActive || a.CreatedAt.IsZero() {
		t.Errorf("CreateAgent: got status %q, createdAt %v; want active and a time", a.Status, a.CreatedAt)
	}
	if a.Endpoint == nil || *a.Endpoint != *in.Endpoint {
		t.Errorf("CreateAgent: got endpoint %+v, want %+v", a.Endpoint, in.Endpoint)
	}

	got, err := c.GetAgent(ctx, "support-bot")
	if err != nil {
		t.Fatalf("GetAgent: %v", err)
	}
	if got.Owner != "team-cx" || !slices.Equal(got.Access.Systems, []string{"zendesk"}) || !got.Access.Production {
		t.Errorf("GetAgent: got %+v, want the created agent", got)
	}

	up, err := c.UpdateAgent(ctx, "support-bot", map[string]any{
		"model": map[string]any{"version": "2025-01-01"}, "description": nil,
	})
	if err != nil {
		t.Fatalf("UpdateAgent: %v", err)
	}
	wantModel := probity.Model{Provider: "openai", Name: "gpt-4o", Version: "2025-01-01"}
	if up.Model != wantModel || up.Description != "" || up.Name != "Support bot" {
		t.Errorf("UpdateAgent: got model %+v, description %q, name %q; want %+v, empty, unchanged",
			up.Model, up.Description, up.Name, wantModel)
	}
	hist, err := c.ModelHistory(ctx, "support-bot")
	if err != nil {
		t.Fatalf("ModelHistory: %v", err)
	}
	if len(hist) != 2 || hist[0].Model != in.Model || hist[1].Model != wantModel {
		t.Errorf("ModelHistory: got %+v, want %v then %v", hist, in.Model, wantModel)
	}

	s, err := c.SuspendAgent(ctx, "support-bot", "refunded twice")
	if err != nil {
		t.Fatalf("SuspendAgent: %v", err)
	}
	if s.Status != probity.StatusSuspended || s.StatusReason != "refunded twice" {
		t.Errorf("SuspendAgent: got %q (%q), want suspended (refunded twice)", s.Status, s.StatusReason)
	}
	if _, err := c.SuspendAgent(ctx, "support-bot", "again"); !errors.Is(err, probity.ErrConflict) {
		t.Errorf("SuspendAgent twice: got %v, want ErrConflict", err)
	}
	r, err := c.ReactivateAgent(ctx, "support-bot", "idempotency key added")
	if err != nil {
		t.Fatalf("ReactivateAgent: %v", err)
	}
	if r.Status != probity.StatusActive || r.StatusReason != "" {
		t.Errorf("ReactivateAgent: got %q (%q), want active and no reason", r.Status, r.StatusReason)
	}

	// Paging: five agents in pages of two.
	for i := range 4 {
		if _, err := c.CreateAgent(ctx, probity.Agent{ID: fmt.Sprintf("bot-%d", i)}); err != nil {
			t.Fatalf("CreateAgent bot-%d: %v", i, err)
		}
	}
	wantIDs := []string{"bot-0", "bot-1", "bot-2", "bot-3", "support-bot"}
	var ids []string
	pages := 0
	for opts := (client.ListOptions{Limit: 2}); ; pages++ {
		p, err := c.ListAgents(ctx, opts)
		if err != nil {
			t.Fatalf("ListAgents %+v: %v", opts, err)
		}
		if len(p.Items) > 2 {
			t.Fatalf("ListAgents limit 2: got %d items", len(p.Items))
		}
		for _, a := range p.Items {
			ids = append(ids, a.ID)
		}
		if p.NextCursor == "" {
			break
		}
		opts.Cursor = p.NextCursor
	}
	if !slices.Equal(ids, wantIDs) || pages != 2 {
		t.Errorf("ListAgents by 2: got %v after %d more pages, want %v after 2", ids, pages, wantIDs)
	}
	ids = nil
	for a, err := range c.AllAgents(ctx) {
		if err != nil {
			t.Fatalf("AllAgents: %v", err)
		}
		ids = append(ids, a.ID)
	}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("AllAgents: got %v, want %v", ids, wantIDs)
	}
	// Stopping early must not fetch further.
	n := 0
	for range c.AllAgents(ctx) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("AllAgents with break: got %d items, want 1", n)
	}

	inv, err := c.Inventory(ctx, client.ListOptions{Limit: 3})
	if err != nil {
		t.Fatalf("Inventory: %v", err)
	}
	if len(inv.Items) != 3 || inv.Items[0].AgentID != "support-bot" || inv.NextCursor == "" {
		t.Fatalf("Inventory first page: got %d items starting %+v, cursor %q; want 3 starting support-bot and a cursor",
			len(inv.Items), inv.Items[0], inv.NextCursor)
	}
	if it := inv.Items[0]; it.Risk.Tier != "high" || it.Risk.Score == 0 || it.Gap == 0 {
		t.Errorf("Inventory support-bot: got tier %q score %d gap %d, want high and nonzero", it.Risk.Tier, it.Risk.Score, it.Gap)
	}
	var all []string
	for it, err := range client.All(ctx, c.Inventory) {
		if err != nil {
			t.Fatalf("All(Inventory): %v", err)
		}
		all = append(all, it.AgentID)
	}
	if len(all) != 5 || all[0] != "support-bot" {
		t.Errorf("All(Inventory): got %v, want 5 agents, support-bot first", all)
	}

	secret, k, err := c.CreateKey(ctx, "ci reader", []probity.Scope{probity.ScopeRead})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if !strings.HasPrefix(secret, probity.KeyPrefix) || !strings.HasPrefix(secret, k.Prefix) || k.ID == "" ||
		k.Name != "ci reader" || !slices.Equal(k.Scopes, []probity.Scope{probity.ScopeRead}) {
		t.Errorf("CreateKey: got secret %.6s… and %+v, want a pb_ key with prefix, id, name and read scope", secret, k)
	}
	reader := client.New(env.URL, secret)
	if _, err := reader.GetAgent(ctx, "support-bot"); err != nil {
		t.Errorf("GetAgent with the new read key: %v", err)
	}
	keys, err := c.ListKeys(ctx, client.ListOptions{})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if !slices.ContainsFunc(keys.Items, func(x probity.APIKey) bool { return x.ID == k.ID }) || len(keys.Items) != 2 {
		t.Errorf("ListKeys: got %+v, want the bootstrap key and %s", keys.Items, k.ID)
	}
	rk, err := c.RevokeKey(ctx, k.ID)
	if err != nil {
		t.Fatalf("RevokeKey: %v", err)
	}
	if rk.ID != k.ID || rk.RevokedAt == nil {
		t.Errorf("RevokeKey: got %+v, want %s with revokedAt", rk, k.ID)
	}
	var ce *client.Error
	if _, err := reader.GetAgent(ctx, "support-bot"); !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
		t.Errorf("GetAgent with the revoked key: got %v, want a 401 *client.Error", err)
	}

	aud, err := c.Audit(ctx, client.AuditOptions{Target: "agent:support-bot"})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	var actions []string
	for _, e := range aud.Items {
		actions = append(actions, e.Action)
	}
	wantActions := []string{"agent.create", "agent.update", "agent.suspend", "agent.reactivate"}
	if !slices.Equal(actions, wantActions) {
		t.Errorf("Audit of agent:support-bot: got %v, want %v", actions, wantActions)
	}
	aud, err = c.Audit(ctx, client.AuditOptions{Action: "agent.create", Limit: 3})
	if err != nil {
		t.Fatalf("Audit agent.create: %v", err)
	}
	if len(aud.Items) != 3 || aud.NextCursor == "" {
		t.Fatalf("Audit agent.create limit 3: got %d entries, cursor %q; want 3 and a cursor", len(aud.Items), aud.NextCursor)
	}
	aud2, err := c.Audit(ctx, client.AuditOptions{Action: "agent.create", Limit: 3, Cursor: aud.NextCursor})
	if err != nil {
		t.Fatalf("Audit agent.create page 2: %v", err)
	}
	if len(aud2.Items) != 2 || aud2.Items[0].Seq <= aud.Items[2].Seq || aud2.Items[1].Target != "agent:bot-3" {
		t.Errorf("Audit agent.create page 2: got %+v, want bot-2 and bot-3 after seq %d", aud2.Items, aud.Items[2].Seq)
	}
}

func TestErrors(t *testing.T) {
	env := apptest.Start(t)
	ctx := t.Context()
	admin := client.New(env.URL, env.AdminKey)
	if _, err := admin.CreateAgent(ctx, probity.Agent{ID: "bot"}); err != nil {
		t.Fatalf("CreateAgent: %v", err)
	}
	secret, _, err := admin.CreateKey(ctx, "reader", []probity.Scope{probity.ScopeRead})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	reader := client.New(env.URL, secret)
	stranger := client.New(env.URL, probity.KeyPrefix+"not-a-key")

	for _, tc := range []struct {
		name     string
		call     func() error
		status   int
		code     string
		field    string
		sentinel error // nil: none of probity's sentinels matches
	}{
		{"missing agent", func() error { _, err := admin.GetAgent(ctx, "nobody"); return err },
			404, "not_found", "", probity.ErrNotFound},
		{"bad risk tier", func() error {
			_, err := admin.CreateAgent(ctx, probity.Agent{ID: "x", RiskTier: "extreme"})
			return err
		}, 400, "invalid_argument", "riskTier", probity.ErrInvalid},
		{"wrong type in patch", func() error {
			_, err := admin.UpdateAgent(ctx, "bot", map[string]any{"model": map[string]any{"version": 5}})
			return err
		}, 400, "invalid_argument", "model.version", probity.ErrInvalid},
		{"server field in patch", func() error {
			_, err := admin.UpdateAgent(ctx, "bot", map[string]any{"status": "suspended"})
			return err
		}, 400, "invalid_argument", "status", probity.ErrInvalid},
		{"duplicate agent", func() error { _, err := admin.CreateAgent(ctx, probity.Agent{ID: "bot"}); return err },
			409, "conflict", "", probity.ErrConflict},
		{"unknown key", func() error { _, err := stranger.ListAgents(ctx, client.ListOptions{}); return err },
			401, "unauthenticated", "", nil},
		{"read key creates", func() error { _, err := reader.CreateAgent(ctx, probity.Agent{ID: "y"}); return err },
			403, "permission_denied", "", probity.ErrForbidden},
		{"read key lists keys", func() error { _, err := reader.ListKeys(ctx, client.ListOptions{}); return err },
			403, "permission_denied", "", probity.ErrForbidden},
		{"bad cursor", func() error { _, err := admin.ListAgents(ctx, client.ListOptions{Cursor: "!!"}); return err },
			400, "invalid_argument", "cursor", probity.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ce *client.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v (%T), want a *client.Error", err, err)
			}
			if ce.Status != tc.status || ce.Code != tc.code || ce.Field != tc.field || ce.Message == "" {
				t.Errorf("got status %d code %q field %q message %q, want %d %q %q and a message",
					ce.Status, ce.Code, ce.Field, ce.Message, tc.status, tc.code, tc.field)
			}
			for _, s := range []error{probity.ErrNotFound, probity.ErrInvalid, probity.ErrConflict, probity.ErrForbidden} {
				if got, want := errors.Is(err, s), s == tc.sentinel; got != want {
					t.Errorf("errors.Is(err, %v): got %v, want %v", s, got, want)
				}
			}
			wrapped := fmt.Errorf("doing something: %w", err)
			if tc.sentinel != nil && !errors.Is(wrapped, tc.sentinel) {
				t.Errorf("errors.Is through a wrap: got false, want true for %v", tc.sentinel)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	for _, tc := range []struct {
		err  client.Error
		want string
	}{
		{client.Error{Status: 400, Code: "invalid_argument", Field: "model.version", Message: "must be a string, not number"},
			"invalid_argument: model.version: must be a string, not number"},
		{client.Error{Status: 404, Code: "not_found", Message: "agent x not found"}, "not_found: agent x not found"},
		{client.Error{Status: 502, Message: "Bad Gateway"}, "HTTP 502: Bad Gateway"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestRateLimited(t *testing.T) {
	env := apptest.Start(t, func(c *app.Config) { c.API.RateLimit, c.API.RateBurst = 0.001, 1 })
	c := client.New(env.URL, env.AdminKey)
	if _, err := c.ListAgents(t.Context(), client.ListOptions{}); err != nil {
		t.Fatalf("first call: %v", err)
	}
	_, err := c.ListAgents(t.Context(), client.ListOptions{})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusTooManyRequests || ce.Code != "rate_limited" {
		t.Fatalf("second call: got %v, want a 429 rate_limited *client.Error", err)
	}
	// One request per 1000 s: the next token is about 1000 s away.
	if ce.RetryAfter < 900*time.Second || ce.RetryAfter > 1001*time.Second {
		t.Errorf("RetryAfter: got %v, want about 1000s", ce.RetryAfter)
	}
}

// recorder is a RoundTripper that keeps the requests it forwards.
type recorder struct {
	reqs []*http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	return http.DefaultTransport.RoundTrip(req)
}

func TestRequestHeaders(t *testing.T) {
	env := apptest.Start(t)
	rec := &recorder{}
	c := client.New(env.URL+"/", env.AdminKey, client.WithHTTPClient(&http.Client{Transport: rec}))
	ctx := t.Context()
	if _, err := c.CreateAgent(ctx, probity.Agent{ID: "bot"}); err != nil {
		t.Fatalf("CreateAgent: %v", err)
	}
	if _, err := c.UpdateAgent(ctx, "bot", map[string]any{"name": "Bot"}); err != nil {
		t.Fatalf("UpdateAgent: %v", err)
	}
	if _, err := c.ListAgents(ctx, client.ListOptions{Limit: 7, Cursor: "Ym90"}); err != nil {
		t.Fatalf("ListAgents: %v", err)
	}
	if len(rec.reqs) != 3 {
		t.Fatalf("got %d requests through the custom HTTP client, want 3", len(rec.reqs))
	}
	for i, want := range []struct{ method, path, query, contentType string }{
		{"POST", "/v1/agents", "", "application/json"},
		{"PATCH", "/v1/agents/bot", "", "application/merge-patch+json"},
		{"GET", "/v1/agents", "cursor=Ym90&limit=7", ""},
	} {
		r := rec.reqs[i]
		if r.Method != want.method || r.URL.Path != want.path || r.URL.RawQuery != want.query {
			t.Errorf("request %d: got %s %s?%s, want %s %s?%s", i, r.Method, r.URL.Path, r.URL.RawQuery, want.method, want.path, want.query)
		}
		if got := r.Header.Get("Content-Type"); got != want.contentType {
			t.Errorf("request %d Content-Type: got %q, want %q", i, got, want.contentType)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+env.AdminKey {
			t.Errorf("request %d Authorization: got %q, want Bearer and the key", i, got)
		}
		if got := r.Header.Get("User-Agent"); !strings.HasPrefix(got, "probity-go/") || len(got) == len("probity-go/") {
			t.Errorf("request %d User-Agent: got %q, want probity-go/<version>", i, got)
		}
	}
}

// The API never answers like this, but a proxy in front of it may.
func TestForeignAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/agents/proxy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "<html>\x1b[31mupstream down</html>\nmore")
		case "/v1/agents/huge":
			w.Write([]byte(`{"id":"`))
			w.Write([]byte(strings.Repeat("a", client.MaxResponse)))
			w.Write([]byte(`"}`))
		case "/v1/agents/garbled":
			fmt.Fprint(w, "{not json")
		}
	}))
	defer srv.Close()
	c := client.New(srv.URL, "pb_x")

	_, err := c.GetAgent(t.Context(), "proxy")
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("proxy error: got %v, want a *client.Error", err)
	}
	if ce.Status != 503 || ce.Code != "" || ce.Message != "<html>[31mupstream down</html>" || ce.RetryAfter != 7*time.Second {
		t.Errorf("proxy error: got %+v, want 503, no code, the first line without control characters, RetryAfter 7s", *ce)
	}
	if _, err := c.GetAgent(t.Context(), "huge"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized answer: got %v, want an error about its size", err)
	}
	if _, err := c.GetAgent(t.Context(), "garbled"); err == nil || !strings.Contains(err.Error(), "decoding response") {
		t.Errorf("malformed answer: got %v, want a decoding error", err)
	}
}

func TestCanceled(t *testing.T) {
	env := apptest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := client.New(env.URL, env.AdminKey).GetAgent(ctx, "bot")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// "." and ".." are valid ids; the router would clean them out of a path.
func TestDotIDs(t *testing.T) {
	env := apptest.Start(t)
	c := client.New(env.URL, env.AdminKey)
	ctx := t.Context()
	for _, id := range []string{".", "..", ".hidden"} {
		_, err := c.CreateAgent(ctx, probity.Agent{ID: id})
		var e *client.Error
		if !errors.As(err, &e) || e.Status != 400 || e.Field != "id" {
			t.Errorf("CreateAgent %q: got %v, want a 400 naming the id", id, err)
		}
		if _, err := c.GetAgent(ctx, id); !errors.Is(err, probity.ErrInvalid) {
			t.Errorf("GetAgent %q: got %v, want invalid (never a redirect to the list)", id, err)
		}
	}
	if _, err := c.CreateAgent(ctx, probity.Agent{ID: "v1.2-bot"}); err != nil {
		t.Fatal(err)
	}
	if a, err := c.GetAgent(ctx, "v1.2-bot"); err != nil || a.ID != "v1.2-bot" {
		t.Errorf("GetAgent with inner dots: got %q, %v", a.ID, err)
	}
}
