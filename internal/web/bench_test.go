package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/client"
	"github.com/probity-dev/probity/internal/apptest"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
)

// The dashboard's speed targets (docs/benchmarks.md): the fleet page of
// 1,000 agents in at most 200 ms and the agent page with 30 days of
// history in at most 300 ms, at the median, rendered on the server. Run:
//
//	go test ./internal/web -run '^$' -bench . -benchtime 20x -count 5
//
// Each iteration is one whole request through a signed-in session: the
// session and key check, every read, the template, and the bytes on the
// wire.

// BenchmarkFleetPage renders the fleet of 1,000 scored agents, 50 to a
// page (the default) and 200 to a page, and filtered and sorted.
func BenchmarkFleetPage(b *testing.B) {
	env := apptest.Start(b)
	ctx := context.Background()
	admin := client.New(env.URL, env.AdminKey)
	const agents = 1000
	owners := []string{"payments", "support", "growth", "platform", "data"}
	for i := range agents {
		a := probity.Agent{ID: fmt.Sprintf("agent-%04d", i), Name: fmt.Sprintf("Agent %d", i), Owner: owners[i%len(owners)] + "-team",
			Model: probity.Model{Provider: "acme", Name: "m", Version: "1"},
			Access: probity.Access{Production: i%2 == 0, Financial: i%3 == 0, DataClasses: []string{[]string{"public", "pii", "financial"}[i%3]},
				Actions: []string{"refund", "send_email", "lookup"}[:1+i%3]}}
		if _, err := admin.CreateAgent(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	if err := env.API().RecordScores(ctx); err != nil {
		b.Fatal(err)
	}
	br := signedIn(b, env.URL, env.AdminKey)
	for _, bc := range []struct{ name, path string }{
		{"1000agents/page50", "/"},
		{"1000agents/page200", "/?per=200"},
		{"1000agents/filtered-sorted", "/?owner=support-team&sort=composite&risk=high"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				p := br.get(bc.path)
				lat = append(lat, time.Since(start))
				if p.status != http.StatusOK || !strings.Contains(p.body, `id="fleet"`) {
					b.Fatalf("GET %s: %d", bc.path, p.status)
				}
			}
			reportMedian(b, lat)
		})
	}
}

// BenchmarkAgentPage renders agents with 30 days of history: hourly score
// snapshots, completed eval runs, and records over the 30 days (a pact
// violation every 500 sessions): support-bot with 100,000 records,
// docs-bot with 10,000. "cold" sends one new record before each request,
// so the page computes the score afresh from all the evidence, as after
// any new evidence; "warm" reloads with no new evidence, and reuses the
// score computed within the minute. The first page of all 100,000 records
// and one session show that records are paged, never read whole.
func BenchmarkAgentPage(b *testing.B) {
	env := apptest.Start(b)
	ctx := context.Background()
	admin := client.New(env.URL, env.AdminKey)
	ingestKey, _, err := admin.CreateKey(ctx, "bench ingest", []probity.Scope{probity.ScopeIngest})
	if err != nil {
		b.Fatal(err)
	}
	ingest := client.New(env.URL, ingestKey)
	now := time.Now().UTC().Truncate(time.Second)
	for _, a := range []struct {
		id      string
		records int
	}{{"support-bot", 100000}, {"docs-bot", 10000}} {
		if _, err := admin.CreateAgent(ctx, probity.Agent{ID: a.id, Owner: "payments-team",
			Model:  probity.Model{Provider: "acme", Name: "m", Version: "1"},
			Access: probity.Access{Production: true, Financial: true, DataClasses: []string{"pii"}}}); err != nil {
			b.Fatal(err)
		}
		history(b, env, ctx, a.id, now, a.records, ingest)
	}
	if _, _, err := admin.ApplyPact(ctx, []byte(strings.Replace(supportPact, "agents: [support-bot]", "agents: [support-bot, docs-bot]", 1)), "application/yaml"); err != nil {
		b.Fatal(err)
	}
	br := signedIn(b, env.URL, env.AdminKey)
	fresh := 0
	for _, bc := range []struct {
		name, path, want string
		cold             bool
	}{
		{"30days-10k-records/cold", "/agents/docs-bot", `class="line s-composite"`, true},
		{"30days-10k-records/warm", "/agents/docs-bot", `class="line s-composite"`, false},
		{"30days-100k-records/cold", "/agents/support-bot", `class="line s-composite"`, true},
		{"30days-100k-records/warm", "/agents/support-bot", `class="line s-composite"`, false},
		{"100k-records/all-records-first-page", "/agents/support-bot?rwin=all", "where is order 0?", false},
		{"100k-records/session", "/agents/support-bot/session?id=s-19999", "r-99999", false},
	} {
		agent := strings.TrimPrefix(strings.SplitN(bc.path, "?", 2)[0], "/agents/")
		agent, _, _ = strings.Cut(agent, "/")
		b.Run(bc.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				if bc.cold {
					fresh++
					ev := fmt.Sprintf(`{"id":"fresh-%d","agentId":%q,"sessionId":"live","time":%q,"type":"user_input","content":"hello"}`,
						fresh, agent, time.Now().UTC().Format(time.RFC3339Nano))
					if _, err := ingest.SendEvents(ctx, []json.RawMessage{json.RawMessage(ev)}); err != nil {
						b.Fatal(err)
					}
				}
				t0 := time.Now()
				p := br.get(bc.path)
				lat = append(lat, time.Since(t0))
				if p.status != http.StatusOK || !strings.Contains(p.body, bc.want) {
					b.Fatalf("GET %s: %d", bc.path, p.status)
				}
			}
			reportMedian(b, lat)
		})
	}
}

// history gives agent 30 days of history up to now: records sessions of
// five (input, call, result, output, end) spread evenly, every 500th
// session's call outside the pact, and hourly score snapshots with their
// ledger leaves, as the server stores them.
func history(b *testing.B, env *apptest.Env, ctx context.Context, agent string, now time.Time, records int, ingest *client.Client) {
	start := now.Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / time.Duration(records)
	var batch []json.RawMessage
	for i := range records {
		s, k := i/5, i%5
		at := start.Add(time.Duration(i) * step).Format(time.RFC3339Nano)
		var ev string
		switch k {
		case 0:
			ev = fmt.Sprintf(`"type":"user_input","content":"where is order %d?"`, s)
		case 1:
			tool := "lookup_order"
			if s%500 == 0 {
				tool = "delete_account"
			}
			ev = fmt.Sprintf(`"type":"tool_call","tool":{"name":%q,"arguments":{"order_id":"AB-%06d"}}`, tool, s)
		case 2:
			ev = fmt.Sprintf(`"type":"tool_result","tool":{"name":"lookup_order","result":{"status":"shipped","order_id":"AB-%06d"}}`, s)
		case 3:
			ev = fmt.Sprintf(`"type":"model_output","content":"Order AB-%06d shipped yesterday and arrives within 3 days."`, s)
		default:
			ev = `"type":"session_end"`
		}
		batch = append(batch, json.RawMessage(fmt.Sprintf(`{"id":"%s-r-%d","agentId":%q,"sessionId":"s-%d","time":%q,%s}`,
			agent, i, agent, s, at, ev)))
		if len(batch) == 5000 || i == records-1 {
			if _, err := ingest.SendEvents(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	err := env.Server.Store().Update(ctx, func(tx store.Tx) error {
		if err := tx.LockLedger(ctx, "default"); err != nil {
			return err
		}
		for h := range 30 * 24 {
			at := start.Add(time.Duration(h) * time.Hour)
			var sc score.Score
			sc.AgentID, sc.ComputedAt, sc.CertificationTier = agent, at, "silver"
			for i, d := range score.DimensionNames() {
				sc.Dimensions.Set(d, 0.75+0.2*math.Sin(float64(h)/40+float64(i)))
			}
			sc.CompositeScore = 700 + int(150*math.Sin(float64(h)/60))
			body, _ := json.Marshal(sc)
			leaf, _ := json.Marshal(map[string]any{"kind": "score", "score": json.RawMessage(body)})
			idx, err := store.AppendLedger(ctx, tx, "default", [][]byte{leaf})
			if err != nil {
				return err
			}
			if err := tx.InsertScore(ctx, "default", store.ScoreSnapshot{AgentID: agent, ComputedAt: at,
				Composite: sc.CompositeScore, Tier: sc.CertificationTier, Score: body, LedgerIndex: idx}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// reportMedian adds the median request latency, in milliseconds, to the
// benchmark's figures.
func reportMedian(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	b.ReportMetric(float64(s[len(s)/2].Microseconds())/1000, "median-ms")
}
