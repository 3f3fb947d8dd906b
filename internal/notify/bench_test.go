package notify

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/postgres"
	"github.com/probity-dev/probity/internal/store/postgres/pgtest"
)

// BenchmarkWebhookDelivery measures the outbox end to end: b.N events
// queued for one webhook on a local receiver, then the time until the
// receiver has all of them, each signed, sent and recorded as sent. The
// figure to read is deliveries/s (docs/benchmarks.md); "anchor" is the
// same receiver taking signed POSTs from 8 clients with no outbox, the
// loopback's limit in the same run:
//
//	go test ./internal/notify -run '^$' -bench WebhookDelivery -benchtime 20000x
func BenchmarkWebhookDelivery(b *testing.B) {
	b.Run("anchor", benchAnchor)
	b.Run("sqlite", func(b *testing.B) { benchDelivery(b, openStore(b)) })
	b.Run("postgres", func(b *testing.B) {
		st, err := postgres.Open(context.Background(), pgtest.TempDSN(b))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		if err := st.Update(context.Background(), func(tx store.Tx) error {
			return tx.CreateOrg(context.Background(), probity.Org{ID: org, CreatedAt: store.Now()})
		}); err != nil {
			b.Fatal(err)
		}
		benchDelivery(b, st)
	})
}

// benchAnchor posts b.N signed events from 8 goroutines (the default
// per-sink concurrency) straight to a local receiver.
func benchAnchor(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	client := newHTTPClient(nil, 8)
	body := []byte(`{"id":"evt_1","type":"incident.opened","severity":"high","title":"incident 1"}`)
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
				req.Header.Set("Probity-Signature", Sign([]byte("secret"), time.Now(), body))
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deliveries/s")
}

func benchDelivery(b *testing.B, st store.Store) {
	n := int64(b.N)
	var got atomic.Int64
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
		if got.Add(1) == n {
			close(all)
		}
	}))
	b.Cleanup(srv.Close)
	addSink(b, st, Spec{Kind: KindWebhook, URL: srv.URL})
	queue(b, st, b.N, incident)
	b.ResetTimer()
	start := time.Now()
	stop := run(b, st, DefaultConfig(), nil)
	select {
	case <-all:
	case <-time.After(10 * time.Minute):
		b.Fatalf("the receiver got %d of %d", got.Load(), n)
	}
	// Sent means recorded as sent: wait for the last results to be stored.
	waitFor(b, "every delivery recorded", func() bool {
		var backlog int64
		st.View(context.Background(), func(tx store.Tx) error {
			var err error
			backlog, err = tx.OutboxBacklog(context.Background())
			return err
		})
		return backlog == 0
	})
	elapsed := time.Since(start)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(n)/elapsed.Seconds(), "deliveries/s")
	if got.Load() != n {
		b.Errorf("the receiver got %d requests for %d deliveries", got.Load(), n)
	}
}
