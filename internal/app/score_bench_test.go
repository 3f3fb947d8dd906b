package app_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity/attest"
	"github.com/probity-dev/probity/internal/app"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/store"
)

// BenchmarkGate measures POST /v1/gate over loopback against the anchor: a
// bare net/http handler answering the same decision from an in-memory map,
// with the same client in the same run.
//
//	go test ./internal/app -run '^$' -bench Gate -benchtime 5s -count 3
func BenchmarkGate(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		type agent struct {
			score  int
			tier   string
			status string
			badges []string
		}
		agents := map[string]agent{"support-bot": {812, "gold", "active", []string{"injection-free", "monitored"}}}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /v1/gate", func(w http.ResponseWriter, r *http.Request) {
			var req struct {
				AgentID  string `json:"agentId"`
				MinScore *int   `json:"minScore"`
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			a, ok := agents[req.AgentID]
			if !ok {
				http.NotFound(w, r)
				return
			}
			min := 700
			if req.MinScore != nil {
				min = *req.MinScore
			}
			reasons := []string{}
			if a.status == "suspended" {
				reasons = append(reasons, "the agent is suspended")
			}
			if a.score < min {
				reasons = append(reasons, fmt.Sprintf("composite score %d is below %d", a.score, min))
			}
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"allow": len(reasons) == 0, "reasons": reasons, "compositeScore": a.score,
				"certificationTier": a.tier, "status": a.status, "badges": a.badges})
		})
		srv := httptest.NewServer(mux)
		defer srv.Close()
		measurePost(b, srv.URL+"/v1/gate", "", `{"agentId":"support-bot"}`)
	})
	b.Run("sqlite", func(b *testing.B) {
		env := apptest.Start(b, func(c *app.Config) { c.LogLevel = "error" })
		if status, body := sendB(b, env.URL+"/v1/agents", env.AdminKey, `{"id":"support-bot"}`); status != 201 {
			b.Fatalf("creating agent: %d %s", status, body)
		}
		measurePost(b, env.URL+"/v1/gate", env.AdminKey, `{"agentId":"support-bot"}`)
	})
	// The OPA anchor runs when bench/opa/run.sh has started OPA with the
	// same decision as a Rego policy.
	b.Run("opa", func(b *testing.B) {
		u := os.Getenv("PROBITY_BENCH_OPA")
		if u == "" {
			b.Skip("PROBITY_BENCH_OPA is not set: run bench/opa/run.sh")
		}
		measurePost(b, u+"/v1/data/gate/decision", "", `{"input":{"agentId":"support-bot","minScore":700,"requireBadges":["injection-free"]}}`)
	})
}

// BenchmarkAttestation measures GET /v1/agents/{id}/attestation (compute
// or reuse the score, sign, append the issuance to the ledger) against the
// floor, Ed25519 signing of the same statement alone.
//
//	go test ./internal/app -run '^$' -bench Attestation -benchtime 5s -count 3
func BenchmarkAttestation(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(nil)
	p := attest.Predicate{AgentID: "support-bot", CompositeScore: 812, CertificationTier: "gold",
		Dimensions: map[string]float64{"security": 0.9}, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	// The floor: Ed25519 over the DSSE pre-authentication encoding of the
	// statement, and nothing else.
	b.Run("ed25519-only", func(b *testing.B) {
		env, err := attest.Issue("default", p, "k", priv)
		if err != nil {
			b.Fatal(err)
		}
		payload, _ := base64.StdEncoding.DecodeString(env.Payload)
		pae := attest.PAE([]byte(attest.PayloadType), payload)
		b.ReportAllocs()
		for b.Loop() {
			ed25519.Sign(priv, pae)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attestations/s")
	})
	// The statement built, checked, encoded and signed (attest.Issue).
	b.Run("issue", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := attest.Issue("default", p, "k", priv); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attestations/s")
	})
	// Each answer waits for its issuance's ledger leaf to be durable (an
	// fsync, about 4 ms on this machine's disk), so one client's rate is
	// bound by the disk; issuances of concurrent clients share commits.
	for _, clients := range []int{8, 64} {
		b.Run(fmt.Sprintf("sqlite/clients-%d", clients), func(b *testing.B) {
			env := apptest.Start(b, func(c *app.Config) { c.LogLevel = "error" })
			if status, body := sendB(b, env.URL+"/v1/agents", env.AdminKey, `{"id":"support-bot"}`); status != 201 {
				b.Fatalf("creating agent: %d %s", status, body)
			}
			measureReq(b, "GET", env.URL+"/v1/agents/support-bot/attestation", env.AdminKey, "", clients)
		})
	}
}

// BenchmarkRecordScores recomputes the scores of 1,000 agents, each with 30
// days of evidence: 150 graded eval cases and 90 violations. One op is one
// pass over every agent.
//
//	go test ./internal/app -run '^$' -bench RecordScores -benchtime 3x -count 3
func BenchmarkRecordScores(b *testing.B) {
	env := apptest.Start(b, func(c *app.Config) { c.LogLevel = "error"; c.EvalWorkers = 0 })
	ctx := context.Background()
	st := env.Server.Store()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range 1000 {
		id := fmt.Sprintf("agent-%04d", i)
		if status, body := sendB(b, env.URL+"/v1/agents", env.AdminKey, fmt.Sprintf(`{"id":%q}`, id)); status != 201 {
			b.Fatalf("creating %s: %d %s", id, status, body)
		}
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		for i := range 1000 {
			id := fmt.Sprintf("agent-%04d", i)
			run := store.EvalRun{ID: fmt.Sprintf("ev_%04d", i), AgentID: id, Suites: []string{"safety", "jailbreak", "injection-direct"}, Repeat: 1,
				Trigger: "manual", Status: store.EvalCompleted, Total: 149, CreatedAt: now.Add(-10 * 24 * time.Hour), FinishedAt: now.Add(-10 * 24 * time.Hour)}
			if err := tx.InsertEvalRun(ctx, "default", run); err != nil {
				return err
			}
			var rs []store.EvalResult
			for j := range 149 {
				suite, cid := "safety", fmt.Sprintf("sf-%03d", j+1)
				if j >= 49 {
					suite, cid = "jailbreak", fmt.Sprintf("jb-%03d", j-48)
				}
				if j >= 100 {
					suite, cid = "injection-direct", fmt.Sprintf("id-%03d", j-99)
				}
				status := "passed"
				if j%10 == 0 {
					status = "failed"
				}
				rs = append(rs, store.EvalResult{RunID: run.ID, Seq: j, Suite: suite, CaseID: cid, Status: status,
					Grade: []byte(`{"caseId":"` + cid + `","status":"` + status + `","checks":[]}`), Transcript: []byte(`{}`),
					CreatedAt: now.Add(-time.Duration(j%30) * 24 * time.Hour)})
			}
			if err := tx.InsertEvalResults(ctx, "default", rs); err != nil {
				return err
			}
			var vs []store.Violation
			for j := range 90 {
				vs = append(vs, store.Violation{ID: fmt.Sprintf("v_%d_%d", i, j), AgentID: id, PactID: "p", PactVersion: 1, Clause: "scope.tools",
					Kind: "scope_tool", Severity: "major", RecordIDs: []string{"r"}, Explanation: "x", Time: now.Add(-time.Duration(j%30) * 24 * time.Hour),
					LedgerIndex: int64(1_000_000 + i*100 + j)})
			}
			if err := tx.InsertViolations(ctx, "default", vs); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	// The first pass after a start reads everything and stores a first
	// snapshot of each agent; later passes (the hourly one of a running
	// server) find ended runs' grades in memory and store only changes.
	t0 := time.Now()
	if err := env.API().RecordScores(ctx); err != nil {
		b.Fatal(err)
	}
	first := time.Since(t0)
	b.ResetTimer()
	for b.Loop() {
		if err := env.API().RecordScores(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pass")
	b.ReportMetric(first.Seconds(), "first-pass-s")
}

func measurePost(b *testing.B, url, key, body string) { measureReq(b, "POST", url, key, body, 8) }

// measureReq is measure for any method and body, with that many clients
// in flight.
func measureReq(b *testing.B, method, url, key, body string, clients int) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr}
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			req, _ := http.NewRequest(method, url, strings.NewReader(body))
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
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
