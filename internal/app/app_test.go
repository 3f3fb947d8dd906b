package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

func get(t *testing.T, url, key string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func send(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func testConfig(t *testing.T, dir string) app.Config {
	cfg := app.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.API.RateLimit = 0
	return cfg
}

func TestBootstrapPrintsTheAdminKeyOnce(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	var out bytes.Buffer
	s, err := app.Start(ctx, testConfig(t, dir), &out, log)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, app.AdminKeyFile)
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("admin.key: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.key mode: got %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(keyFile)
	key := strings.TrimSpace(string(b))
	if !strings.HasPrefix(key, "pb_") || !strings.Contains(out.String(), key) {
		t.Fatalf("first start: key %q not printed in %q", key, out.String())
	}
	if code, _ := get(t, "http://"+s.Addr()+"/v1/agents", key); code != 200 {
		t.Fatalf("admin key: got %d, want 200", code)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	out.Reset()
	s, err = app.Start(ctx, testConfig(t, dir), &out, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(ctx)
	if out.Len() != 0 {
		t.Errorf("second start printed %q, want nothing (the key is shown once)", out.String())
	}
	if code, _ := get(t, "http://"+s.Addr()+"/v1/agents", key); code != 200 {
		t.Errorf("admin key after restart: got %d, want 200", code)
	}
	var orgs []probity.Org
	s.Store().View(ctx, func(tx store.Tx) error { orgs, err = tx.ListOrgs(ctx); return err })
	if len(orgs) != 1 || orgs[0].ID != "default" {
		t.Errorf("orgs after two starts: got %+v, want just default", orgs)
	}
}

func TestSecondServerOnSameDataDirFailsFast(t *testing.T) {
	env := apptest.Start(t)
	_, err := app.Start(context.Background(), testConfig(t, env.DataDir), io.Discard, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "in use by another probity serve") {
		t.Fatalf("second server: got %v, want an 'in use' error", err)
	}
	// The first server is untouched.
	if code, _ := get(t, env.URL+"/readyz", ""); code != 200 {
		t.Errorf("first server after the attempt: readyz %d, want 200", code)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	env := apptest.Start(t)
	if code, _ := get(t, env.URL+"/healthz", ""); code != 200 {
		t.Errorf("healthz: got %d", code)
	}
	if code, b := get(t, env.URL+"/readyz", ""); code != 200 || !strings.Contains(string(b), "ready") {
		t.Errorf("readyz: got %d %s", code, b)
	}
	get(t, env.URL+"/v1/agents/nope", env.AdminKey)
	_, b := get(t, env.URL+"/metrics", "")
	for _, want := range []string{
		`probity_http_requests_total{code="404",route="GET /v1/agents/{id}"} 1`,
		`probity_http_request_duration_seconds_bucket{route="GET /v1/agents/{id}"`,
		`probity_store_transaction_duration_seconds_bucket{kind="view",op="GET /v1/agents/{id}"`,
		`probity_http_requests_in_flight`,
		`probity_activity_backlog_records 0`,
		`probity_activity_dropped_records_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestGracefulShutdown starts a request whose body is still arriving, shuts
// the server down, then finishes the body: the request completes, its write
// is stored, and new connections are refused meanwhile.
func TestGracefulShutdown(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := app.Start(ctx, testConfig(t, dir), io.Discard, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, app.AdminKeyFile))
	key := strings.TrimSpace(string(b))
	base := "http://" + s.Addr()

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/v1/agents", pr)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight request: %v", err)
		}
		done <- resp
	}()
	if _, err := pw.Write([]byte(`{"id":"slow-agent",`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the slow request to reach its handler", func() bool {
		_, m := get(t, base+"/metrics", "")
		return strings.Contains(string(m), "probity_http_requests_in_flight 2")
	})
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", s.Addr())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned (%v) while a request was in flight", err)
	default:
	}
	pw.Write([]byte(`"name":"finished after shutdown began"}`))
	pw.Close()
	resp := <-done
	if resp == nil || resp.StatusCode != 201 {
		t.Fatalf("in-flight request: got %v, want 201", resp)
	}
	resp.Body.Close()
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	st, err := app.OpenStore(ctx, testConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(ctx, func(tx store.Tx) error {
		a, err := tx.GetAgent(ctx, "default", "slow-agent")
		if err == nil && a.Name != "finished after shutdown began" {
			t.Errorf("stored agent name: got %q", a.Name)
		}
		return err
	})
	if err != nil {
		t.Fatalf("the acknowledged agent is not stored: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after 10 seconds. It
// synchronizes on an observable condition, not on elapsed time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// TestSecretsAreNotLogged runs a server on a DSN with a password: neither
// the password nor the admin key appears in its logs.
func TestSecretsAreNotLogged(t *testing.T) {
	dsn := pgtest.TempDSN(t)
	withPass := strings.Replace(dsn, "postgres://postgres@", "postgres://postgres:hunter2-secret@", 1)
	if withPass == dsn {
		t.Fatalf("test DSN %q has an unexpected form", dsn)
	}
	env := apptest.Start(t, apptest.WithPostgres(withPass))
	get(t, env.URL+"/v1/agents", env.AdminKey)
	logs := env.Logs.String()
	if !strings.Contains(logs, "probity serving") || !strings.Contains(logs, "xxxxx") {
		t.Fatalf("expected the startup line with a redacted DSN, got %s", logs)
	}
	for _, secret := range []string{"hunter2-secret", env.AdminKey} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret %q", secret[:6])
		}
	}
	bad := app.Default()
	bad.DB = "mysql://root:hunter2-secret@db/x"
	if err := bad.Validate(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("validation error leaks the password or is missing: %v", err)
	}
}

// TestTwoReplicasShareOnePostgres runs two servers on one database: what
// one writes, the other reads, revocations included.
func TestTwoReplicasShareOnePostgres(t *testing.T) {
	dsn := pgtest.TempDSN(t)
	a := apptest.Start(t, apptest.WithPostgres(dsn))
	b := apptest.Start(t, apptest.WithPostgres(dsn), func(c *app.Config) { c.API.AuthCacheTTL = 0 })
	if a.AdminKey == "" || b.AdminKey != "" {
		t.Fatalf("bootstrap: got keys %q / %q, want only the first replica to create one", a.AdminKey, b.AdminKey)
	}
	key := a.AdminKey
	if code, body := send(t, "POST", a.URL+"/v1/agents", key, `{"id":"shared-agent","owner":"sre"}`); code != 201 {
		t.Fatalf("create through A: %d %s", code, body)
	}
	code, body := get(t, b.URL+"/v1/agents/shared-agent", key)
	if code != 200 || !strings.Contains(string(body), `"owner":"sre"`) {
		t.Fatalf("read through B: got %d %s", code, body)
	}
	_, body = get(t, b.URL+"/v1/audit?action=agent.create", key)
	if !strings.Contains(string(body), "agent:shared-agent") {
		t.Errorf("audit through B lacks the create: %s", body)
	}
	code, body = send(t, "POST", a.URL+"/v1/api-keys", key, `{"name":"temp","scopes":["read"]}`)
	if code != 201 {
		t.Fatalf("key create: %d %s", code, body)
	}
	var k struct{ ID, Key string }
	json.Unmarshal(body, &k)
	if code, _ := get(t, b.URL+"/v1/agents", k.Key); code != 200 {
		t.Fatalf("new key through B: %d", code)
	}
	if code, body := send(t, "POST", a.URL+"/v1/api-keys/"+k.ID+"/revoke", key, ``); code != 200 {
		t.Fatalf("revoke through A: %d %s", code, body)
	}
	_, body = get(t, b.URL+"/v1/api-keys", key)
	if !strings.Contains(string(body), fmt.Sprintf(`"id":%q`, k.ID)) || !strings.Contains(string(body), `"revokedAt"`) {
		t.Errorf("B's key list does not show the revocation: %s", body)
	}
	if code, _ := get(t, b.URL+"/v1/agents", k.Key); code != 401 {
		t.Errorf("revoked key through B: got %d, want 401", code)
	}
}

func TestRedact(t *testing.T) {
	for _, dsn := range []string{
		"postgres://u:hunter2@db/x",
		"postgres://u:hunt@er2@db/x",
		"postgres://u@db/x?password=hunter2&sslmode=require",
		"postgres://u@db/x?sslpassword=hunter2",
		"postgres:// u:hunter2@%zz",
	} {
		if got := app.Redact(dsn); strings.Contains(got, "hunter2") || strings.Contains(got, "er2@") {
			t.Errorf("Redact(%q) = %q: the password shows", dsn, got)
		}
	}
	if got := app.Redact("postgres://u@db:5432/x?sslmode=disable"); got != "postgres://u@db:5432/x?sslmode=disable" {
		t.Errorf("Redact changed a DSN without secrets: %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*app.Config)
		want string
	}{
		{"listen", func(c *app.Config) { c.Listen = "7411" }, "--listen"},
		{"db", func(c *app.Config) { c.DB = "sqlite:///x" }, "--db"},
		{"tls", func(c *app.Config) { c.TLSCert = "c.pem" }, "--tls-key"},
		{"log format", func(c *app.Config) { c.LogFormat = "xml" }, "--log-format"},
		{"log level", func(c *app.Config) { c.LogLevel = "loud" }, "--log-level"},
		{"rate", func(c *app.Config) { c.API.RateLimit = -1 }, "rate limit"},
		{"commitment interval", func(c *app.Config) { c.CommitmentInterval = time.Millisecond }, "--commitment-interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := app.Default()
			tc.mut(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
	if err := app.Default().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

// TestCommitmentsOnSchedule: the server judges commitments by itself, on
// its interval, and records a breach as a violation.
func TestCommitmentsOnSchedule(t *testing.T) {
	jobs := app.OnJobs(t)
	env := apptest.Start(t, func(c *app.Config) { c.CommitmentInterval = time.Second })
	must := func(want int, method, path, body string) {
		t.Helper()
		if code, b := send(t, method, env.URL+path, env.AdminKey, body); code != want {
			t.Fatalf("%s %s: got %d, want %d: %s", method, path, code, want, b)
		}
	}
	must(201, "POST", "/v1/agents", `{"id":"bot"}`)
	must(201, "POST", "/v1/pacts", `{"apiVersion":"probity/v1","kind":"Pact","id":"p","agents":["bot"],
		"commitments":[{"id":"fast","severity":"major","metric":"latency_p95_ms","op":"<=","value":100,"window":"24h"}]}`)
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	must(200, "POST", "/v1/events", fmt.Sprintf(`{"events":[{"id":"slow","agentId":"bot","time":%q,"type":"model_output","latencyMs":900}]}`, at))
	// A job that ends after the ingest may have started before it; the
	// second one to end started after.
	for n := 0; n < 2; {
		select {
		case what := <-jobs:
			if what == "evaluating commitments" {
				n++
			}
		case <-t.Context().Done():
			t.Fatal("no commitment evaluation ran")
		}
	}
	code, b := get(t, env.URL+"/v1/violations?kind=commitment", env.AdminKey)
	var l struct {
		Items []struct {
			Clause    string
			RecordIDs []string
		}
	}
	if err := json.Unmarshal(b, &l); err != nil || code != 200 {
		t.Fatalf("violations: %d %s", code, b)
	}
	if len(l.Items) != 1 || l.Items[0].Clause != "fast" || len(l.Items[0].RecordIDs) != 1 || l.Items[0].RecordIDs[0] != "slow" {
		t.Errorf("violations after scheduled evaluation: got %s, want one of clause fast with evidence slow", b)
	}
}
