package api

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/probity-dev/probity/internal/store/sqlite"
)

// openAPIDoc is the part of openapi.yaml the tests read.
type openAPIDoc struct {
	OpenAPI string                          `yaml:"openapi"`
	Paths   map[string]map[string]yaml.Node `yaml:"paths"` // path → method or "parameters" → value
}

// openAPIOperation is the part of one operation the tests read.
type openAPIOperation struct {
	Description string                 `yaml:"description"`
	Scope       string                 `yaml:"x-probity-scope"`
	Security    *[]map[string][]string `yaml:"security"`
	Parameters  []yaml.Node            `yaml:"parameters"`
	RequestBody yaml.Node              `yaml:"requestBody"`
	Responses   map[string]yaml.Node   `yaml:"responses"`
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations returns the document's operations by "METHOD /path".
func (d openAPIDoc) operations(t *testing.T) map[string]openAPIOperation {
	t.Helper()
	ops := map[string]openAPIOperation{}
	for path, item := range d.Paths {
		for key, node := range item {
			if !slices.Contains(openAPIMethods, key) {
				continue
			}
			var op openAPIOperation
			if err := node.Decode(&op); err != nil {
				t.Fatalf("decoding operation %s %s: %v", key, path, err)
			}
			ops[strings.ToUpper(key)+" "+path] = op
		}
	}
	return ops
}

func parseOpenAPI(t *testing.T, b []byte) openAPIDoc {
	t.Helper()
	var d openAPIDoc
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatalf("parsing openapi.yaml: %v", err)
	}
	return d
}

// newOpenAPITestServer builds a Server on a real SQLite store.
func newOpenAPITestServer(t *testing.T) *Server {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "probity.db"))
	if err != nil {
		t.Fatalf("opening sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(Options{Store: db, Config: DefaultConfig()})
	if err != nil {
		t.Fatalf("building server: %v", err)
	}
	return s
}

// TestOpenAPIMatchesRoutes keeps openapi.yaml and the route table in step:
// the same operations, the same scopes, and the statuses each can answer.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newOpenAPITestServer(t)
	ops := parseOpenAPI(t, openAPI).operations(t)

	registered := map[string]route{}
	for _, rt := range s.routes {
		method, path, ok := strings.Cut(rt.pattern, " ")
		if !ok || !slices.Contains(openAPIMethods, strings.ToLower(method)) {
			t.Fatalf("route pattern %q has no method", rt.pattern)
		}
		registered[method+" "+path] = rt
	}
	var missing, extra []string
	for op := range registered {
		if _, ok := ops[op]; !ok {
			missing = append(missing, op)
		}
	}
	for op := range ops {
		if _, ok := registered[op]; !ok {
			extra = append(extra, op)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("openapi.yaml does not match the route table:\nregistered but not documented: %q\ndocumented but not registered: %q\ngot %d documented operations, want the %d registered",
			missing, extra, len(ops), len(registered))
	}

	for _, rt := range s.routes {
		op := ops[rt.pattern]
		t.Run(rt.pattern, func(t *testing.T) {
			if len(op.Responses) == 0 {
				t.Fatalf("got no responses, want every status the operation can answer")
			}
			var want []string // statuses the route must document
			if rt.scope == "" {
				if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("got security %v, want security: [] on a public route", op.Security)
				}
				if op.Scope != "" {
					t.Errorf("got x-probity-scope %q, want none on a public route", op.Scope)
				}
				want = append(want, "200")
			} else {
				if op.Security != nil && len(*op.Security) == 0 {
					t.Errorf("got security: [], want the bearer scheme on a route that needs scope %q", rt.scope)
				}
				if op.Scope != string(rt.scope) {
					t.Errorf("got x-probity-scope %q, want %q", op.Scope, rt.scope)
				}
				if note := "Requires scope `" + string(rt.scope) + "`"; !strings.Contains(op.Description, note) {
					t.Errorf("got description %q, want it to say %q", op.Description, note)
				}
				want = append(want, "401", "403", "429", "500")
			}
			if strings.Contains(rt.pattern, "{") {
				want = append(want, "400", "404")
			}
			if op.RequestBody.Kind != 0 {
				want = append(want, "400", "413", "415")
			}
			if len(op.Parameters) > 0 && !strings.Contains(rt.pattern, "{") {
				want = append(want, "400") // query parameters such as limit and cursor
			}
			success := false
			for code := range op.Responses {
				success = success || strings.HasPrefix(code, "2")
			}
			if !success {
				t.Errorf("got responses %v, want a 2xx among them", slices.Sorted(maps.Keys(op.Responses)))
			}
			for _, code := range want {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("got responses %v, want %s among them", slices.Sorted(maps.Keys(op.Responses)), code)
				}
			}
		})
	}
}

// TestServeOpenAPI fetches the document the way a client does.
func TestServeOpenAPI(t *testing.T) {
	s := newOpenAPITestServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/openapi.yaml")
	if err != nil {
		t.Fatalf("GET /openapi.yaml: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got status %d, want %d", resp.StatusCode, http.StatusOK)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("got Content-Type %q, want application/yaml", ct)
	}
	var d openAPIDoc
	if err := yaml.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("parsing the served document: %v", err)
	}
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(d.OpenAPI) {
		t.Errorf("got openapi %q, want 3.1.x", d.OpenAPI)
	}
	if len(d.Paths) == 0 {
		t.Errorf("got no paths, want the API's")
	}
}
