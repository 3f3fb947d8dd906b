package app_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
func BenchmarkGetAgent(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchGetAgent(b) })
	b.Run("postgres", func(b *testing.B) { benchGetAgent(b, apptest.WithPostgres(pgtest.TempDSN(b))) })
}

func benchGetAgent(b *testing.B, opts ...apptest.Option) {
	opts = append(opts, func(c *app.Config) { c.LogLevel = "error" })
	env := apptest.Start(b, opts...)
	status, body := sendB(b, env.URL+"/v1/agents", env.AdminKey,
		`{"id":"support-bot","name":"Support","owner":"cx","model":{"provider":"acme","name":"m","version":"1"},"access":{"dataClasses":["pii"],"production":true}}`)
	if status != 201 {
		b.Fatalf("creating agent: %d %s", status, body)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	url := env.URL + "/v1/agents/support-bot"

	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(4) // 8 client goroutines on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+env.AdminKey)
		for pb.Next() {
			t0 := time.Now()
			resp, err := cl.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			lat = append(lat, time.Since(t0))
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
}

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
