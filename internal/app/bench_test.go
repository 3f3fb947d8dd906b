package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

// BenchmarkGetAgent measures the hot read path, GET /v1/agents/{id}, through
// the real HTTP stack on loopback with parallel keep-alive clients in the
// same process (they share the 2 cores with the server). It reports
// requests/s and the 99th-percentile latency.
//
//	go test ./internal/app -run '^$' -bench GetAgent -benchtime 5s -count 5
//
// The "bare" case is the anchor: a plain net/http handler answering the same
// JSON from memory, measured with the same client in the same run, so that
// Probity's figure can be read as a ratio of what the machine allows.
func BenchmarkGetAgent(b *testing.B) {
	b.Run("bare", benchBare)
	b.Run("sqlite", func(b *testing.B) { benchGetAgent(b) })
	b.Run("postgres", func(b *testing.B) { benchGetAgent(b, apptest.WithPostgres(pgtest.TempDSN(b))) })
}

func benchBare(b *testing.B) {
	agents := map[string][]byte{"support-bot": []byte(`{"id":"support-bot","name":"Support","owner":"cx","model":{"provider":"acme","name":"m","version":"1"},"access":{"dataClasses":["pii"],"production":true,"financial":false},"status":"active","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"}`)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/agents/{id}", func(w http.ResponseWriter, r *http.Request) {
		doc, ok := agents[r.PathValue("id")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(doc)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	measure(b, srv.URL+"/v1/agents/support-bot", "")
}

func benchGetAgent(b *testing.B, opts ...apptest.Option) {
	opts = append(opts, func(c *app.Config) { c.LogLevel = "error" })
	env := apptest.Start(b, opts...)
	status, body := sendB(b, env.URL+"/v1/agents", env.AdminKey,
		`{"id":"support-bot","name":"Support","owner":"cx","model":{"provider":"acme","name":"m","version":"1"},"access":{"dataClasses":["pii"],"production":true}}`)
	if status != 201 {
		b.Fatalf("creating agent: %d %s", status, body)
	}
	measure(b, env.URL+"/v1/agents/support-bot", env.AdminKey)
}

// measure runs parallel keep-alive GETs of url and reports req/s and latency
// percentiles.
func measure(b *testing.B, url, key string) { measureReq(b, "GET", url, key, "", 8) }

func sendB(b *testing.B, url, key, body string) (int, string) {
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
