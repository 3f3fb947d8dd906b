package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/sqlite"
)

const org = "acme"

// openStore is a fresh SQLite store with org acme.
func openStore(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "probity.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Update(context.Background(), func(tx store.Tx) error {
		return tx.CreateOrg(context.Background(), probity.Org{ID: org, CreatedAt: store.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	return st
}

// addSink stores the sink spec describes and returns it with its secret.
func addSink(t testing.TB, st store.Store, spec Spec) (store.Sink, string) {
	t.Helper()
	sk, secret, err := spec.Sink(NewID("snk_", time.Now()))
	if err != nil {
		t.Fatalf("sink: %v", err)
	}
	sk.CreatedAt = store.Now()
	if err := st.Update(context.Background(), func(tx store.Tx) error { return tx.InsertSink(context.Background(), org, sk) }); err != nil {
		t.Fatal(err)
	}
	return sk, secret
}

// queue puts n events in the outbox, as the server does when they happen.
func queue(t testing.TB, st store.Store, n int, mk func(i int) Event) {
	t.Helper()
	const batch = 500
	for from := 0; from < n; from += batch {
		var evs []Event
		for i := from; i < min(n, from+batch); i++ {
			evs = append(evs, mk(i))
		}
		err := st.Update(context.Background(), func(tx store.Tx) error {
			_, err := Queue(context.Background(), tx, org, store.Now(), evs...)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func incident(i int) Event {
	return Event{Type: IncidentOpened, Severity: SeverityHigh, AgentID: "support-bot", Title: fmt.Sprintf("incident %d", i),
		Rule: "composite.drop", Subject: fmt.Sprintf("inc_%d", i), Data: json.RawMessage(fmt.Sprintf(`{"id":"inc_%d"}`, i))}
}

// fastConfig retries within milliseconds, for tests.
func fastConfig() Config {
	c := DefaultConfig()
	c.BackoffBase, c.BackoffMax, c.Poll, c.AttemptTimeout = 5*time.Millisecond, 50*time.Millisecond, 20*time.Millisecond, 5*time.Second
	c.MaxAttempts = 100
	return c
}

// run starts a dispatcher; the function it returns stops it and waits.
func run(t testing.TB, st store.Store, cfg Config, reg prometheus.Registerer) func() {
	t.Helper()
	d, err := NewDispatcher(Options{Store: st, Config: cfg, Registry: reg, Version: "test", Hostname: "probity-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	d.Wake()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// deliveries returns every delivery of a sink with its log.
func deliveries(t testing.TB, st store.Store, sinkID string) ([]store.Delivery, map[string][]store.DeliveryAttempt) {
	t.Helper()
	var ds []store.Delivery
	log := map[string][]store.DeliveryAttempt{}
	err := st.View(context.Background(), func(tx store.Tx) error {
		var err error
		if ds, err = tx.ListDeliveries(context.Background(), org, store.DeliveryFilter{SinkID: sinkID, Page: store.Page{Limit: 100000}}); err != nil {
			return err
		}
		ids := make([]string, len(ds))
		for i, d := range ds {
			ids[i] = d.ID
		}
		as, err := tx.DeliveryAttempts(context.Background(), org, ids)
		for _, a := range as {
			log[a.DeliveryID] = append(log[a.DeliveryID], a)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ds, log
}

func countStatus(t testing.TB, st store.Store, sinkID, status string) int {
	ds, _ := deliveries(t, st, sinkID)
	n := 0
	for _, d := range ds {
		if d.Status == status {
			n++
		}
	}
	return n
}

// webhookReceiver checks every request's signature and keeps the events
// by Probity-Delivery, counting repeats. fail, while it returns a status,
// answers with that status instead.
type webhookReceiver struct {
	t      testing.TB
	secret []byte
	fail   atomic.Int32

	mu       sync.Mutex
	got      map[string]Event // by delivery id
	requests int
	repeats  int
	bad      []string
}

func newWebhookReceiver(t testing.TB) (*webhookReceiver, *httptest.Server) {
	r := &webhookReceiver{t: t, got: map[string]Event{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (rc *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if code := rc.fail.Load(); code != 0 {
		http.Error(w, "receiver is down for maintenance", int(code))
		return
	}
	if err := Verify(rc.secret, r.Header.Get("Probity-Signature"), body, time.Now(), 5*time.Minute); err != nil {
		rc.bad = append(rc.bad, "signature: "+err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.bad = append(rc.bad, "body: "+err.Error())
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Probity-Event") != ev.Type || r.Header.Get("Content-Type") != "application/json" {
		rc.bad = append(rc.bad, fmt.Sprintf("headers %v for a %s event", r.Header, ev.Type))
	}
	id := r.Header.Get("Probity-Delivery")
	if _, dup := rc.got[id]; dup {
		rc.repeats++ // a receiver deduplicates on the delivery id
	}
	rc.got[id] = ev
	w.WriteHeader(http.StatusNoContent)
}

func (rc *webhookReceiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

func (rc *webhookReceiver) check() {
	rc.t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, b := range rc.bad {
		rc.t.Errorf("receiver: %s", b)
	}
}

func TestWebhookDelivery(t *testing.T) {
	st := openStore(t)
	rc, srv := newWebhookReceiver(t)
	sk, secret := addSink(t, st, Spec{Kind: KindWebhook, URL: srv.URL + "/hook", MinSeverity: SeverityMedium})
	rc.secret = []byte(secret)
	const n = 40
	queue(t, st, n, incident)
	// Below the sink's severity: never queued.
	queue(t, st, 5, func(i int) Event { return Event{Type: ScoreChanged, Severity: SeverityLow, Title: "small"} })
	reg := prometheus.NewRegistry()
	run(t, st, fastConfig(), reg)
	waitFor(t, "every delivery sent", func() bool { return countStatus(t, st, sk.ID, store.DeliverySent) == n })
	rc.check()
	if got := rc.distinct(); got != n {
		t.Errorf("receiver got %d distinct deliveries, want %d", got, n)
	}
	ds, log := deliveries(t, st, sk.ID)
	if len(ds) != n {
		t.Fatalf("got %d deliveries, want %d", len(ds), n)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, d := range ds {
		ev, ok := rc.got[d.ID]
		if !ok {
			t.Errorf("delivery %s never reached the receiver", d.ID)
			continue
		}
		if ev.ID != d.EventID || ev.Org != org || ev.Type != IncidentOpened || ev.Severity != SeverityHigh || ev.Rule != "composite.drop" {
			t.Errorf("delivery %s carried %+v", d.ID, ev)
		}
		if l := log[d.ID]; len(l) != 1 || l[0].Code != http.StatusNoContent || l[0].Error != "" || l[0].Seq != 1 {
			t.Errorf("delivery %s log: got %+v, want one try answered 204", d.ID, l)
		}
		if d.Attempts != 1 || d.SentAt.IsZero() || d.LastCode != http.StatusNoContent {
			t.Errorf("delivery %s: got %+v", d.ID, d)
		}
	}
	if got := counter(t, reg, "webhook", "sent"); got != n {
		t.Errorf("probity_deliveries_total{kind=webhook,outcome=sent}: got %v, want %d", got, n)
	}
}

// counter reads probity_deliveries_total{kind, outcome} from reg.
func counter(t testing.TB, reg *prometheus.Registry, kind, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "probity_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// TestReceiverDownThenBack: a receiver that answers 503 for a while, and
// then one that refuses connections for a while, lose nothing.
func TestReceiverDownThenBack(t *testing.T) {
	t.Run("503", func(t *testing.T) {
		st := openStore(t)
		rc, srv := newWebhookReceiver(t)
		sk, secret := addSink(t, st, Spec{Kind: KindWebhook, URL: srv.URL})
		rc.secret = []byte(secret)
		rc.fail.Store(http.StatusServiceUnavailable)
		const n = 30
		queue(t, st, n, incident)
		run(t, st, fastConfig(), nil)
		// Down until every delivery has failed at least twice.
		waitFor(t, "every delivery to fail twice", func() bool {
			ds, _ := deliveries(t, st, sk.ID)
			for _, d := range ds {
				if d.Attempts < 2 {
					return false
				}
			}
			return true
		})
		rc.fail.Store(0)
		waitFor(t, "every delivery sent", func() bool { return countStatus(t, st, sk.ID, store.DeliverySent) == n })
		rc.check()
		if got := rc.distinct(); got != n {
			t.Errorf("receiver got %d distinct deliveries, want %d", got, n)
		}
		_, log := deliveries(t, st, sk.ID)
		for id, l := range log {
			last := l[len(l)-1]
			if len(l) < 3 || l[0].Code != 503 || !strings.Contains(l[0].Error, "HTTP 503: receiver is down for maintenance") || last.Code != 204 || last.Error != "" {
				t.Errorf("delivery %s log: got %+v, want 503s then a 204", id, l)
			}
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		st := openStore(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens: connections are refused
		rc := &webhookReceiver{t: t, got: map[string]Event{}}
		sk, secret := addSink(t, st, Spec{Kind: KindWebhook, URL: "http://" + addr + "/hook"})
		rc.secret = []byte(secret)
		const n = 20
		queue(t, st, n, incident)
		run(t, st, fastConfig(), nil)
		waitFor(t, "a refused try", func() bool {
			ds, _ := deliveries(t, st, sk.ID)
			for _, d := range ds {
				if strings.Contains(d.LastError, "connection refused") {
					return true
				}
			}
			return false
		})
		ln, err = net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listening again on %s (taken meanwhile?): %v", addr, err)
		}
		srv := &http.Server{Handler: rc}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		waitFor(t, "every delivery sent", func() bool { return countStatus(t, st, sk.ID, store.DeliverySent) == n })
		rc.check()
		if got := rc.distinct(); got != n {
			t.Errorf("receiver got %d distinct deliveries, want %d", got, n)
		}
	})
}

func TestDeadLetterAndReplay(t *testing.T) {
	st := openStore(t)
	rc, srv := newWebhookReceiver(t)
	sk, secret := addSink(t, st, Spec{Kind: KindWebhook, URL: srv.URL})
	rc.secret = []byte(secret)
	rc.fail.Store(http.StatusInternalServerError)
	const n = 10
	queue(t, st, n, incident)
	cfg := fastConfig()
	cfg.MaxAttempts = 3
	reg := prometheus.NewRegistry()
	run(t, st, cfg, reg)
	waitFor(t, "every delivery dead", func() bool { return countStatus(t, st, sk.ID, store.DeliveryDead) == n })
	ds, log := deliveries(t, st, sk.ID)
	for _, d := range ds {
		if d.Attempts != 3 || d.LastCode != 500 || len(log[d.ID]) != 3 {
			t.Errorf("dead letter %s: got %+v with %d tries logged, want 3 tries answered 500", d.ID, d, len(log[d.ID]))
		}
	}
	if got := counter(t, reg, "webhook", "dead"); got != n {
		t.Errorf("dead counter: got %v, want %d", got, n)
	}
	if got := counter(t, reg, "webhook", "failed"); got != 2*n {
		t.Errorf("failed counter: got %v, want %d", got, 2*n)
	}
	rc.fail.Store(0)
	var replayed int
	err := st.Update(context.Background(), func(tx store.Tx) error {
		var err error
		replayed, err = tx.ReplayDeliveries(context.Background(), org, sk.ID, nil, store.Now())
		return err
	})
	if err != nil || replayed != n {
		t.Fatalf("replay: got %d %v, want %d", replayed, err, n)
	}
	// The worker is told nothing: it finds them on its next poll.
	waitFor(t, "every replayed delivery sent", func() bool { return countStatus(t, st, sk.ID, store.DeliverySent) == n })
	rc.check()
	ds, log = deliveries(t, st, sk.ID)
	for _, d := range ds {
		if _, ok := rc.got[d.ID]; !ok {
			t.Errorf("replayed delivery %s reached the receiver under another id", d.ID)
		}
		if d.Attempts != 1 || len(log[d.ID]) != 4 || log[d.ID][3].Seq != 4 {
			t.Errorf("replayed delivery %s: got %+v with log %+v, want 1 attempt since the replay and 4 in the log", d.ID, d, log[d.ID])
		}
	}
}

// TestRestartResends: a worker stopped with deliveries in flight gives
// them back uncounted; the next one sends each, under the same id.
func TestRestartResends(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	var arrived atomic.Int32
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("Probity-Delivery")
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
			return // the first worker gave up: nothing was taken
		}
		mu.Lock()
		seen[id]++
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	sk, _ := addSink(t, st, Spec{Kind: KindWebhook, URL: srv.URL})
	const n = 25
	queue(t, st, n, incident)
	cfg := fastConfig()
	cfg.PerSink = 4
	stop := run(t, st, cfg, nil)
	waitFor(t, "sends in flight", func() bool { return arrived.Load() >= 2 })
	stop()
	ds, log := deliveries(t, st, sk.ID)
	for _, d := range ds {
		if d.Status != store.DeliveryPending || d.Attempts != 0 || len(log[d.ID]) != 0 {
			t.Errorf("after the stop, delivery %s: got %+v and log %+v, want pending and uncounted", d.ID, d, log[d.ID])
		}
		if d.NextAttempt.After(store.Now()) {
			t.Errorf("delivery %s was not given back: due %v", d.ID, d.NextAttempt)
		}
	}
	close(release)
	run(t, st, cfg, nil)
	waitFor(t, "every delivery sent after the restart", func() bool { return countStatus(t, st, sk.ID, store.DeliverySent) == n })
	mu.Lock()
	defer mu.Unlock()
	for _, d := range ds {
		if seen[d.ID] < 1 {
			t.Errorf("delivery %s was never taken", d.ID)
		}
	}
	if len(seen) != n {
		t.Errorf("receiver took %d distinct deliveries, want %d", len(seen), n)
	}
}

// TestSlowSinkHoldsOnlyItsOwn: a sink that hangs has at most PerSink
// sends in flight, and another sink's deliveries go on meanwhile.
func TestSlowSinkHoldsOnlyItsOwn(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	var active, most, total atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		total.Add(1)
		n := active.Add(1)
		defer active.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	rc, fast := newWebhookReceiver(t)
	slowSink, _ := addSink(t, st, Spec{Kind: KindWebhook, URL: slow.URL})
	fastSink, secret := addSink(t, st, Spec{Kind: KindWebhook, URL: fast.URL})
	rc.secret = []byte(secret)
	const n = 30
	queue(t, st, n, incident)
	cfg := fastConfig()
	cfg.PerSink, cfg.Workers = 4, 8
	run(t, st, cfg, nil)
	waitFor(t, "the other sink to get everything", func() bool { return countStatus(t, st, fastSink.ID, store.DeliverySent) == n })
	if got := total.Load(); got > int32(cfg.PerSink) {
		t.Errorf("the hanging sink got %d requests, want at most %d", got, cfg.PerSink)
	}
	close(release)
	waitFor(t, "the slow sink to get everything", func() bool { return countStatus(t, st, slowSink.ID, store.DeliverySent) == n })
	if got := most.Load(); got > int32(cfg.PerSink) || got < 2 {
		t.Errorf("at most %d sends were in flight to one sink, want 2 to %d", got, cfg.PerSink)
	}
	rc.check()
}

func TestRedirectNotFollowed(t *testing.T) {
	st := openStore(t)
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(target.Close)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	sk, _ := addSink(t, st, Spec{Kind: KindWebhook, URL: redirect.URL})
	queue(t, st, 1, incident)
	cfg := fastConfig()
	cfg.MaxAttempts = 1
	run(t, st, cfg, nil)
	waitFor(t, "the delivery to die", func() bool { return countStatus(t, st, sk.ID, store.DeliveryDead) == 1 })
	ds, _ := deliveries(t, st, sk.ID)
	if ds[0].LastCode != http.StatusFound || !strings.Contains(ds[0].LastError, "redirects are not followed") {
		t.Errorf("got %d %q, want 302 and a word on redirects", ds[0].LastCode, ds[0].LastError)
	}
	if hits.Load() != 0 {
		t.Errorf("the redirect was followed")
	}
}

// TestSplunkHEC sends to a receiver shaped like Splunk's HTTP Event
// Collector: the token in the Authorization header, the envelope, and
// one event in json and one in ocsf.
func TestSplunkHEC(t *testing.T) {
	st := openStore(t)
	const token = "12345678-90ab-cdef-1234-567890abcdef"
	var mu sync.Mutex
	got := map[string][]map[string]any{} // by source type
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/services/collector/event" {
			bad = append(bad, "path "+r.URL.Path)
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Authorization") != "Splunk "+token {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"text":"Invalid token","code":4}`)
			return
		}
		var env map[string]any
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			bad = append(bad, "body: "+err.Error())
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"text":"Invalid data format","code":6}`)
			return
		}
		for _, k := range []string{"time", "host", "source", "sourcetype", "event"} {
			if _, ok := env[k]; !ok {
				bad = append(bad, "no "+k)
			}
		}
		st, _ := env["sourcetype"].(string)
		got[st] = append(got[st], env)
		io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	t.Cleanup(srv.Close)
	jsonSink, _ := addSink(t, st, Spec{Kind: KindSplunkHEC, URL: srv.URL, Token: token, Index: "security"})
	ocsfSink, _ := addSink(t, st, Spec{Kind: KindSplunkHEC, Format: FormatOCSF, URL: srv.URL, Token: token, Hostname: "probity-1", SourceType: "ocsf:finding"})
	wrong, _ := addSink(t, st, Spec{Kind: KindSplunkHEC, URL: srv.URL, Token: "not-the-token"})
	queue(t, st, 1, incident)
	cfg := fastConfig()
	cfg.MaxAttempts = 2
	run(t, st, cfg, nil)
	waitFor(t, "both HEC sinks to take the event", func() bool {
		return countStatus(t, st, jsonSink.ID, store.DeliverySent) == 1 && countStatus(t, st, ocsfSink.ID, store.DeliverySent) == 1
	})
	waitFor(t, "the wrong token to be dead", func() bool { return countStatus(t, st, wrong.ID, store.DeliveryDead) == 1 })
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bad {
		t.Error(b)
	}
	j := got["probity:json"]
	if len(j) != 1 {
		t.Fatalf("json events: got %d, want 1: %v", len(j), got)
	}
	ev := j[0]["event"].(map[string]any)
	if ev["type"] != IncidentOpened || ev["org"] != org || j[0]["index"] != "security" || j[0]["source"] != "probity" || j[0]["host"] != "probity-test" {
		t.Errorf("json envelope: got %v", j[0])
	}
	if tm, ok := j[0]["time"].(float64); !ok || tm < 1e9 {
		t.Errorf("time: got %v, want epoch seconds", j[0]["time"])
	}
	o := got["ocsf:finding"]
	if len(o) != 1 {
		t.Fatalf("ocsf events: got %d, want 1: %v", len(o), got)
	}
	if f := o[0]["event"].(map[string]any); f["class_uid"] != float64(2004) || o[0]["host"] != "probity-1" {
		t.Errorf("ocsf envelope: got %v", o[0])
	}
	ds, _ := deliveries(t, st, wrong.ID)
	if ds[0].LastCode != 403 || !strings.Contains(ds[0].LastError, "Invalid token") {
		t.Errorf("wrong token: got %d %q, want 403 and Splunk's answer", ds[0].LastCode, ds[0].LastError)
	}
}

// TestWebhookOCSF: a webhook in the ocsf format gets a Detection Finding,
// signed like any body.
func TestWebhookOCSF(t *testing.T) {
	st := openStore(t)
	var mu sync.Mutex
	var got []map[string]any
	var secret string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := Verify([]byte(secret), r.Header.Get("Probity-Signature"), body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		var f map[string]any
		if err := json.Unmarshal(body, &f); err != nil {
			t.Errorf("body: %v", err)
		}
		got = append(got, f)
	}))
	t.Cleanup(srv.Close)
	sk, s := addSink(t, st, Spec{Kind: KindWebhook, Format: FormatOCSF, URL: srv.URL})
	mu.Lock()
	secret = s
	mu.Unlock()
	queue(t, st, 1, incident)
	run(t, st, fastConfig(), nil)
	waitFor(t, "the finding sent", func() bool { return countStatus(t, st, sk.ID, store.DeliverySent) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0]["class_uid"] != float64(2004) || got[0]["type_uid"] != float64(200401) || got[0]["severity_id"] != float64(4) {
		t.Errorf("got %v, want one Detection Finding (create, high)", got)
	}
	if fi, _ := got[0]["finding_info"].(map[string]any); fi["uid"] != "inc_0" {
		t.Errorf("finding_info: %v, want uid inc_0", got[0]["finding_info"])
	}
}
