package api

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/record"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/postgres"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
	"github.com/probity-dev/probity/internal/store/sqlite"
)

// BenchmarkIncidentBacklog offers committed ingest batches to what ingest
// hands incidents and anomalies (afterIngest) at 50,000 events/s — a batch
// of 1,000 records every 20 ms, over 100 agents, 10 tools, 5% failures, a
// violation per 100 records and a confirmed injection-influenced action per
// 2,000 — while the server's jobs run as probity serve runs them: the
// rollups flushed every second, due agents evaluated for incidents as they
// are marked, anomalies detected (every 2 s here, hourly in serve). Each
// iteration is one batch, paced; the backlog is sampled every 100 ms:
// records folded and not yet stored, and agents waiting for incident
// evaluation. It keeps up when the backlog stays bounded (about a second
// of events at most) and ends near zero.
//
//	go test ./internal/api -run '^$' -bench IncidentBacklog -benchtime 1000x -count 3
func BenchmarkIncidentBacklog(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "probity.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		benchBacklog(b, db)
	})
	b.Run("postgres", func(b *testing.B) {
		db, err := postgres.Open(b.Context(), pgtest.TempDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		benchBacklog(b, db)
	})
}

const (
	benchRate    = 50000 // events offered per second
	benchBatch   = 1000
	benchAgents  = 100
	benchTools   = 10
	benchPeriod  = time.Second * benchBatch / benchRate
	benchSamples = 100 * time.Millisecond
)

func benchBacklog(b *testing.B, db store.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	err := db.Update(ctx, func(tx store.Tx) error {
		if err := tx.CreateOrg(ctx, probity.Org{ID: "default", CreatedAt: now}); err != nil {
			return err
		}
		for i := range benchAgents {
			a := probity.Agent{ID: fmt.Sprintf("agent-%03d", i), Status: probity.StatusActive, CreatedAt: now, UpdatedAt: now}
			if err := tx.CreateAgent(ctx, "default", a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Store: db, Config: DefaultConfig()})
	if err != nil {
		b.Fatal(err)
	}

	// Batches as ingest commits them: each from one agent's exporter.
	type batch struct {
		recs []*record.Record
		vs   []violationView
	}
	batches := make([]batch, 64)
	n := 0
	for i := range batches {
		agent := fmt.Sprintf("agent-%03d", i%benchAgents)
		for j := range benchBatch {
			r := &record.Record{ID: fmt.Sprintf("r-%d", n), AgentID: agent, Time: now.Add(time.Duration(j) * time.Millisecond),
				Type: record.ToolCall, Tool: &record.Tool{Name: fmt.Sprintf("tool-%d", n%benchTools)}, Outcome: "success"}
			if n%20 == 0 {
				r.Outcome = "failure"
			}
			if n%2 == 1 {
				r.Type, r.Tool = record.ToolResult, nil
			}
			batches[i].recs = append(batches[i].recs, r)
			if n%100 == 0 {
				batches[i].vs = append(batches[i].vs, violationView{AgentID: agent, Time: r.Time, Confirmed: n%2000 == 0})
			}
			n++
		}
	}

	// The server's jobs, as app.Start runs them.
	jctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var flushMu sync.Mutex
	var flushMax time.Duration
	every := func(d time.Duration, job func(context.Context) error, what string) {
		wg.Go(func() {
			t := time.NewTicker(d)
			defer t.Stop()
			for {
				select {
				case <-jctx.Done():
					return
				case <-t.C:
				}
				start := time.Now()
				if err := job(jctx); err != nil && jctx.Err() == nil {
					b.Errorf("%s: %v", what, err)
				}
				if what == "flush" {
					flushMu.Lock()
					flushMax = max(flushMax, time.Since(start))
					flushMu.Unlock()
				}
			}
		})
	}
	every(time.Second, s.FlushActivity, "flush")
	every(2*time.Second, s.DetectAnomalies, "detect")
	wg.Go(func() { s.RunIncidents(jctx) })

	var samples []int64
	var maxDue int
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(benchSamples)
		defer t.Stop()
		for {
			select {
			case <-jctx.Done():
				return
			case <-t.C:
			}
			backlog, _ := s.ActivityBacklog()
			samples = append(samples, backlog)
			maxDue = max(maxDue, s.IncidentsDue())
		}
	}()

	b.ResetTimer()
	start := time.Now()
	pace := time.NewTicker(benchPeriod)
	for i := range b.N {
		<-pace.C
		bt := batches[i%len(batches)]
		s.afterIngest("default", bt.recs, bt.vs)
	}
	pace.Stop()
	offered := time.Since(start)
	// One more flush period, then the backlog must be gone.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if backlog, _ := s.ActivityBacklog(); backlog == 0 && s.IncidentsDue() == 0 {
			break
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-b.Context().Done():
		}
	}
	drained := time.Since(start)
	b.StopTimer()
	stop()
	wg.Wait()
	<-sampled
	end, dropped := s.ActivityBacklog()
	if dropped > 0 {
		b.Errorf("%d records dropped from the rollups", dropped)
	}
	if end != 0 {
		b.Errorf("backlog after draining: %d records", end)
	}

	// Every record offered is in the stored rollups.
	var stored int64
	err = db.View(ctx, func(tx store.Tx) error {
		for i := range benchAgents {
			as, err := tx.ListActivity(ctx, "default", fmt.Sprintf("agent-%03d", i), now.Add(-time.Hour), now.Add(2*time.Hour))
			if err != nil {
				return err
			}
			for _, a := range as {
				if a.Tool == "" {
					stored += a.Records
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if want := int64(b.N) * benchBatch; stored != want {
		b.Errorf("stored rollups count %d records, want %d", stored, want)
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var p50, peak int64
	if len(sorted) > 0 {
		p50, peak = sorted[len(sorted)/2], sorted[len(sorted)-1]
	}
	// Growth: the mean backlog of the last second sampled against the
	// first's, per second between them; near zero when it keeps up.
	growth := 0.0
	if k := int(time.Second / benchSamples); len(samples) >= 3*k {
		mean := func(xs []int64) float64 {
			var s float64
			for _, x := range xs {
				s += float64(x)
			}
			return s / float64(len(xs))
		}
		span := float64(len(samples)-k) * benchSamples.Seconds()
		growth = (mean(samples[len(samples)-k:]) - mean(samples[:k])) / span
	}
	b.ReportMetric(float64(b.N*benchBatch)/offered.Seconds(), "offered-events/s")
	b.ReportMetric(float64(peak), "max-backlog-events")
	b.ReportMetric(float64(p50), "p50-backlog-events")
	b.ReportMetric(growth, "backlog-growth-events/s")
	b.ReportMetric(float64(maxDue), "max-due-agents")
	b.ReportMetric(float64(flushMax.Milliseconds()), "max-flush-ms")
	b.ReportMetric((drained-offered).Seconds()*1000, "drain-ms")
}

// BenchmarkActivityFold is the ingest side alone: folding a committed batch
// of 1,000 records into the rollup counters, unpaced, with nothing
// flushing (a fresh queue every 64 batches). Its events/s is the most the
// fold can take on one core.
//
//	go test ./internal/api -run '^$' -bench ActivityFold -count 3
func BenchmarkActivityFold(b *testing.B) {
	now := time.Now().UTC()
	recs := make([]*record.Record, benchBatch)
	for j := range recs {
		recs[j] = &record.Record{ID: fmt.Sprint(j), AgentID: "agent-001", Time: now.Add(time.Duration(j) * time.Millisecond),
			Type: record.ToolCall, Tool: &record.Tool{Name: fmt.Sprintf("tool-%d", j%benchTools)}, Outcome: "success"}
	}
	vs := []violationView{{AgentID: "agent-001", Time: now}}
	s := &Server{}
	b.ResetTimer()
	for i := range b.N {
		if i%64 == 0 {
			s.inc.queue = activityQueue{}
		}
		s.afterIngest("default", recs, vs)
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}
