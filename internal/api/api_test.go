package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
)

// reply is a decoded API answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// errorOf returns the code and field of an error answer.
func (r reply) errorOf(t *testing.T) (code, field string) {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("answer has no error object: %s", r.body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("error without a message: %s", r.body)
	}
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

type client struct {
	t    *testing.T
	base string
}

func (c client) do(method, path, key string, body any, hdr ...string) reply {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// must performs a request that has to answer want.
func (c client) must(want int, method, path, key string, body any) map[string]any {
	c.t.Helper()
	r := c.do(method, path, key, body)
	if r.status != want {
		c.t.Fatalf("%s %s: got status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(c.t)
}

// fixture is a server with two orgs and keys of every scope in the first.
type fixture struct {
	client
	env                    *apptest.Env
	admin, read, ingest    string
	otherAdmin, otherKeyID string
	agentID, otherAgent    string
	readKeyID              string
}

func newFixture(t *testing.T, opts ...apptest.Option) *fixture {
	env := apptest.Start(t, opts...)
	f := &fixture{client: client{t, env.URL}, env: env, admin: env.AdminKey, agentID: "support-bot", otherAgent: "other-bot"}
	mk := func(scopes ...string) (string, string) {
		m := f.must(201, "POST", "/v1/api-keys", f.admin, map[string]any{"name": "t", "scopes": scopes})
		return m["key"].(string), m["id"].(string)
	}
	f.read, f.readKeyID = mk("read")
	f.ingest, _ = mk("ingest")
	f.must(201, "POST", "/v1/agents", f.admin, map[string]any{"id": f.agentID, "name": "Support",
		"model": map[string]string{"provider": "acme", "name": "m", "version": "1"}})

	var err error
	f.otherAdmin, err = app.CreateOrg(context.Background(), env.Server.Store(), "other-org")
	if err != nil {
		t.Fatal(err)
	}
	f.must(201, "POST", "/v1/agents", f.otherAdmin, map[string]any{"id": f.otherAgent})
	f.otherKeyID = f.must(201, "POST", "/v1/api-keys", f.otherAdmin, map[string]any{"scopes": []string{"read"}})["id"].(string)
	return f
}

// snapshot captures everything a bad request could have changed.
func (f *fixture) snapshot() string {
	var b strings.Builder
	for _, k := range []string{f.admin, f.otherAdmin} {
		for _, p := range []string{"/v1/agents?limit=1000", "/v1/api-keys?limit=1000", "/v1/audit?limit=1000"} {
			r := f.do("GET", p, k, nil)
			if r.status != 200 {
				f.t.Fatalf("snapshot %s: got status %d: %s", p, r.status, r.body)
			}
			b.Write(r.body)
		}
	}
	return b.String()
}

// endpoint describes a protected route for the bad-input table.
type endpoint struct {
	method, path string        // path with {id} where the route takes one
	scope        probity.Scope // the scope it needs
	idKind       string        // "agent", "key" or "pact" for routes with {id}
	body         string        // a valid body, for routes that read one
	wrongType    string        // a body with one wrongly typed field …
	wrongField   string        // … named here
	maxBody      int           // the route's body cap, if not the default 1 MiB
}

var endpoints = []endpoint{
	{method: "POST", path: "/v1/agents", scope: "admin", body: `{"id":"fresh-agent"}`, wrongType: `{"id":"x","access":{"production":"yes"}}`, wrongField: "access.production"},
	{method: "GET", path: "/v1/agents", scope: "read"},
	{method: "GET", path: "/v1/agents/{id}", scope: "read", idKind: "agent"},
	{method: "PATCH", path: "/v1/agents/{id}", scope: "admin", idKind: "agent", body: `{"owner":"new-owner"}`, wrongType: `{"model":{"version":3}}`, wrongField: "model.version"},
	{method: "POST", path: "/v1/agents/{id}/suspend", scope: "admin", idKind: "agent", body: `{"reason":"test"}`, wrongType: `{"reason":["a"]}`, wrongField: "reason"},
	{method: "POST", path: "/v1/agents/{id}/reactivate", scope: "admin", idKind: "agent", body: `{"rootCause":"test"}`, wrongType: `{"rootCause":1}`, wrongField: "rootCause"},
	{method: "GET", path: "/v1/agents/{id}/models", scope: "read", idKind: "agent"},
	{method: "GET", path: "/v1/inventory", scope: "read"},
	{method: "POST", path: "/v1/api-keys", scope: "admin", body: `{"scopes":["read"]}`, wrongType: `{"scopes":"read"}`, wrongField: "scopes"},
	{method: "GET", path: "/v1/api-keys", scope: "admin"},
	{method: "POST", path: "/v1/api-keys/{id}/revoke", scope: "admin", idKind: "key"},
	{method: "GET", path: "/v1/audit", scope: "read"},
	{method: "GET", path: "/v1/violations", scope: "read"},
	{method: "GET", path: "/v1/incidents", scope: "read"},
	{method: "GET", path: "/v1/incidents/{id}", scope: "read", idKind: "incident"},
	{method: "POST", path: "/v1/incidents/{id}/acknowledge", scope: "admin", idKind: "incident", body: `{"note":"on it"}`, wrongType: `{"note":5}`, wrongField: "note"},
	{method: "POST", path: "/v1/incidents/{id}/resolve", scope: "admin", idKind: "incident", body: `{"rootCause":"x"}`, wrongType: `{"rootCause":5}`, wrongField: "rootCause"},
	{method: "GET", path: "/v1/incidents/rules", scope: "read"},
	{method: "PUT", path: "/v1/incidents/rules", scope: "admin", body: `{"rules":{}}`, wrongType: `{"anomaly":{"threshold":"x"}}`, wrongField: "anomaly.threshold", maxBody: 64 << 10},
	{method: "GET", path: "/v1/agents/{id}/anomalies", scope: "read", idKind: "agent"},
	{method: "POST", path: "/v1/sinks", scope: "admin", body: `{"kind":"webhook","url":"ftp://x.example/hook"}`, wrongType: `{"kind":"webhook","eventTypes":"incident.opened"}`, wrongField: "eventTypes"},
	{method: "GET", path: "/v1/sinks", scope: "read"},
	{method: "GET", path: "/v1/sinks/{id}", scope: "read", idKind: "sink"},
	{method: "DELETE", path: "/v1/sinks/{id}", scope: "admin", idKind: "sink"},
	{method: "GET", path: "/v1/sinks/{id}/deliveries", scope: "read", idKind: "sink"},
	{method: "POST", path: "/v1/sinks/{id}/replay", scope: "admin", idKind: "sink", body: `{"dead":true}`, wrongType: `{"dead":"yes"}`, wrongField: "dead"},
	{method: "GET", path: "/v1/reports/board", scope: "read"},
	{method: "GET", path: "/v1/agents/{id}/records", scope: "read", idKind: "agent"},
	{method: "GET", path: "/v1/agents/{id}/score", scope: "read", idKind: "agent"},
	{method: "GET", path: "/v1/agents/{id}/score/history", scope: "read", idKind: "agent"},
	{method: "GET", path: "/v1/agents/{id}/attestation", scope: "read", idKind: "agent"},
	{method: "POST", path: "/v1/gate", scope: "read", body: `{"agentId":"support-bot","minScore":5000}`, wrongType: `{"agentId":"support-bot","minScore":"high"}`, wrongField: "minScore"},
	{method: "GET", path: "/v1/ledger/checkpoint", scope: "read"},
	{method: "GET", path: "/v1/ledger/entries/{index}", scope: "read"},
	{method: "GET", path: "/v1/ledger/entries", scope: "read"},
	{method: "GET", path: "/v1/ledger/proof", scope: "read"},
	{method: "GET", path: "/v1/ledger/consistency", scope: "read"},
	{method: "GET", path: "/v1/keys", scope: "read"},
	// A pact body is YAML or JSON and compile errors are 422, not 400: its
	// body cases are in TestPactBadInput.
	{method: "POST", path: "/v1/pacts", scope: "admin"},
	{method: "GET", path: "/v1/pacts", scope: "read"},
	{method: "GET", path: "/v1/pacts/{id}", scope: "read", idKind: "pact"},
	{method: "GET", path: "/v1/pacts/{id}/versions/{n}", scope: "read", idKind: "pact"},
	{method: "GET", path: "/v1/pacts/{id}/diff", scope: "read", idKind: "pact"},
	{method: "POST", path: "/v1/pacts/{id}/verify", scope: "eval", idKind: "pact", body: `{"agentId":"support-bot","input":"hi","toolCalls":[{"name":"lookup_order","arguments":{"id":1}}]}`, wrongType: `{"agentId":"support-bot","toolCalls":[{"name":7}]}`, wrongField: "toolCalls.name"},
	{method: "POST", path: "/v1/pacts/{id}/commitments/evaluate", scope: "eval", idKind: "pact"},
	{method: "GET", path: "/v1/suites", scope: "read"},
	// A suite body is YAML, JSON or JSONL and load errors are 422: its
	// cases are in TestUploadedSuites.
	{method: "POST", path: "/v1/suites", scope: "eval"},
	{method: "POST", path: "/v1/evals", scope: "eval", body: `{"agentId":"support-bot","suites":["nope"]}`, wrongType: `{"agentId":"support-bot","suites":"safety"}`, wrongField: "suites"},
	{method: "GET", path: "/v1/evals", scope: "read"},
	{method: "GET", path: "/v1/evals/{id}", scope: "read", idKind: "eval"},
	{method: "GET", path: "/v1/evals/{id}/results", scope: "read", idKind: "eval"},
	{method: "POST", path: "/v1/evals/{id}/cancel", scope: "eval", idKind: "eval"},
	{method: "POST", path: "/v1/schedules", scope: "eval", body: `{"agentId":"support-bot","suites":["safety"],"cron":"not a cron"}`, wrongType: `{"agentId":"support-bot","suites":["safety"],"cron":7}`, wrongField: "cron"},
	{method: "GET", path: "/v1/schedules", scope: "read"},
	{method: "DELETE", path: "/v1/schedules/{id}", scope: "eval", idKind: "schedule"},
	{method: "POST", path: "/otlp/v1/traces", scope: "ingest"},
	{method: "POST", path: "/v1/events", scope: "ingest", body: `{"events":[{"id":"x","agentId":"support-bot","time":"2026-01-01T00:00:00Z","type":"user_input"}]}`, wrongType: `{"events":{}}`, wrongField: "events", maxBody: 10 << 20},
}

// TestBadInput sends every protected endpoint every kind of bad request and
// checks the clear 4xx it answers, the field it names, and that nothing
// changed.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	before := f.snapshot()
	weaker := map[probity.Scope]string{"admin": f.read, "read": f.ingest, "ingest": f.read, "eval": f.read}
	for _, e := range endpoints {
		own, foreign := f.agentID, f.otherAgent
		if e.idKind == "key" {
			own, foreign = f.readKeyID, f.otherKeyID
		}
		path := strings.NewReplacer("{id}", own, "{index}", "0", "{n}", "1").Replace(e.path)
		type tc struct {
			name        string
			path, key   string
			body        string
			hdr         []string
			status      int
			code, field string
		}
		cases := []tc{
			{name: "no key", path: path, status: 401, code: "unauthenticated"},
			{name: "unknown key", path: path, key: "pb_not-a-real-key", status: 401, code: "unauthenticated"},
			{name: "not a bearer key", path: path, key: "-", hdr: []string{"Authorization", "Basic YWRtaW46YWRtaW4="}, status: 401, code: "unauthenticated"},
			{name: "wrong scope", path: path, key: weaker[e.scope], status: 403, code: "permission_denied"},
		}
		if e.idKind != "" {
			tmpl := strings.ReplaceAll(e.path, "{n}", "1")
			cases = append(cases,
				tc{name: "another org's id", path: strings.Replace(tmpl, "{id}", foreign, 1), key: f.admin, body: e.body, status: 404, code: "not_found"},
				tc{name: "invalid id", path: strings.Replace(tmpl, "{id}", "Not_Valid", 1), key: f.admin, body: e.body, status: 400, code: "invalid_argument", field: "id"},
				tc{name: "overlong id", path: strings.Replace(tmpl, "{id}", strings.Repeat("a", 65), 1), key: f.admin, body: e.body, status: 400, code: "invalid_argument", field: "id"},
			)
		}
		if e.method == "GET" && e.idKind == "" && !strings.HasPrefix(e.path, "/v1/ledger") && e.path != "/v1/keys" && e.path != "/v1/incidents/rules" {
			cases = append(cases,
				tc{name: "bad limit", path: path + "?limit=0", key: f.admin, status: 400, code: "invalid_argument", field: "limit"},
				tc{name: "huge limit", path: path + "?limit=5000", key: f.admin, status: 400, code: "invalid_argument", field: "limit"},
				tc{name: "bad cursor", path: path + "?cursor=!!!", key: f.admin, status: 400, code: "invalid_argument", field: "cursor"},
			)
		}
		if e.body != "" {
			cases = append(cases,
				tc{name: "malformed JSON", path: path, key: f.admin, body: `{"id":`, status: 400, code: "invalid_argument"},
				tc{name: "not an object", path: path, key: f.admin, body: `[1,2]`, status: 400, code: "invalid_argument"},
				tc{name: "empty body", path: path, key: f.admin, body: ` `, status: 400, code: "invalid_argument"},
				tc{name: "trailing data", path: path, key: f.admin, body: e.body + `{}`, status: 400, code: "invalid_argument"},
				tc{name: "unknown field", path: path, key: f.admin, body: `{"surprise":1,` + e.body[1:], status: 400, code: "invalid_argument", field: "surprise"},
				tc{name: "wrong type", path: path, key: f.admin, body: e.wrongType, status: 400, code: "invalid_argument", field: e.wrongField},
				tc{name: "oversized body", path: path, key: f.admin, body: `{"name":"` + strings.Repeat("x", max(2<<20, e.maxBody+1)) + `"}`, status: 413, code: "too_large"},
				tc{name: "wrong content type", path: path, key: f.admin, body: e.body, hdr: []string{"Content-Type", "text/plain"}, status: 415, code: "unsupported_media_type"},
			)
		}
		for _, c := range cases {
			t.Run(e.method+" "+e.path+"/"+c.name, func(t *testing.T) {
				var body any
				if c.body != "" {
					body = c.body
				}
				cl := client{t, f.env.URL}
				r := cl.do(e.method, c.path, c.key, body, c.hdr...)
				if r.status != c.status {
					t.Fatalf("got status %d, want %d: %s", r.status, c.status, r.body)
				}
				code, field := r.errorOf(t)
				if code != c.code || field != c.field {
					t.Errorf("got code %q field %q, want code %q field %q: %s", code, field, c.code, c.field, r.body)
				}
				if ct := r.header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("got Content-Type %q, want application/json", ct)
				}
			})
		}
	}
	if after := f.snapshot(); after != before {
		t.Errorf("bad requests changed state:\nbefore %s\nafter  %s", before, after)
	}
}

// TestEndpointTableIsComplete keeps TestBadInput honest: every protected
// operation in openapi.yaml has a row in the table, and every row is one.
func TestEndpointTableIsComplete(t *testing.T) {
	env := apptest.Start(t)
	r := client{t, env.URL}.do("GET", "/openapi.yaml", "", nil)
	var doc struct {
		Paths map[string]map[string]struct {
			Security *[]map[string][]string `yaml:"security"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("parsing openapi.yaml: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public
			}
			switch method {
			case "get", "post", "patch", "put", "delete":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	tabled := map[string]bool{}
	for _, e := range endpoints {
		tabled[e.method+" "+e.path] = true
	}
	for op := range documented {
		if !tabled[op] {
			t.Errorf("protected operation %s has no row in the bad-input table", op)
		}
	}
	for op := range tabled {
		if !documented[op] {
			t.Errorf("table row %s is not a protected operation of openapi.yaml", op)
		}
	}
}
