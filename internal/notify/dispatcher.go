package notify

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/probity-dev/probity/internal/store"
)

// Config tunes delivery; DefaultConfig gives the values probity serve uses.
type Config struct {
	// Workers is how many sends this server has in flight at once, across
	// sinks (0: it sends none and leaves the outbox to other replicas).
	Workers int
	// PerSink is how many of them may go to one sink.
	PerSink int
	// MaxAttempts is how many tries a delivery gets before it is dead.
	MaxAttempts int
	// The wait before try n+1 is random in [0, min(BackoffMax,
	// BackoffBase·2^(n-1))] ("full jitter"), or longer when the receiver
	// asks with Retry-After.
	BackoffBase, BackoffMax time.Duration
	// AttemptTimeout bounds one try: connecting, sending, the answer.
	AttemptTimeout time.Duration
	// Poll is how often the outbox is read when nothing wakes the worker.
	Poll time.Duration
	// Retention is how long sent deliveries and their log are kept.
	Retention time.Duration
}

// DefaultConfig: 12 tries over about 1.2 hours on average (at most about
// 2.4 hours) before a delivery is dead.
func DefaultConfig() Config {
	return Config{Workers: 32, PerSink: 8, MaxAttempts: 12, BackoffBase: 5 * time.Second, BackoffMax: time.Hour,
		AttemptTimeout: 10 * time.Second, Poll: time.Second, Retention: 7 * 24 * time.Hour}
}

// Validate names the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Workers < 0 || c.Workers > 1024:
		return fmt.Errorf("--delivery-workers %d: want between 0 and 1024", c.Workers)
	case c.PerSink < 1 || c.PerSink > 256:
		return fmt.Errorf("--delivery-per-sink %d: want between 1 and 256", c.PerSink)
	case c.MaxAttempts < 1 || c.MaxAttempts > 100:
		return fmt.Errorf("--delivery-attempts %d: want between 1 and 100", c.MaxAttempts)
	case c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase:
		return fmt.Errorf("delivery backoff: want 0 < base (%s) <= max (%s)", c.BackoffBase, c.BackoffMax)
	case c.AttemptTimeout < 10*time.Millisecond || c.AttemptTimeout > 10*time.Minute:
		return fmt.Errorf("--delivery-timeout %s: want between 10ms and 10m", c.AttemptTimeout)
	case c.Poll <= 0:
		return errors.New("delivery poll interval must be positive")
	case c.Retention < time.Hour:
		return fmt.Errorf("--delivery-retention %s: want at least 1h", c.Retention)
	}
	return nil
}

// backoff is the wait after the failed try number n (from 1).
func (c Config) backoff(n int) time.Duration {
	ceiling := c.BackoffMax
	if n-1 < 40 {
		ceiling = min(c.BackoffMax, c.BackoffBase<<(n-1))
	}
	return time.Duration(mrand.Int64N(int64(ceiling) + 1))
}

// Dispatcher is the outbox's delivery worker: it claims due deliveries,
// sends them (concurrently, with at most Config.PerSink in flight per
// sink), and records each try. A delivery is sent at least once: it is
// marked sent only after the receiver took it.
type Dispatcher struct {
	store   store.Store
	log     *slog.Logger
	cfg     Config
	now     func() time.Time
	env     env
	metrics *metrics
	wake    chan struct{}

	mu         sync.Mutex
	transports map[transportKey]*cachedTransport
}

type transportKey struct {
	store.SinkRef
	created time.Time // a sink deleted and made again is another sink
}

type cachedTransport struct {
	t    transport
	used time.Time
}

// Options are a Dispatcher's dependencies.
type Options struct {
	Store    store.Store
	Logger   *slog.Logger
	Registry prometheus.Registerer // nil: metrics are not exported
	Config   Config
	Now      func() time.Time // defaults to store.Now
	Version  string           // the software version receivers are told; from the build when empty
	Hostname string           // the syslog HOSTNAME and HEC host; os.Hostname when empty
}

// NewDispatcher builds a Dispatcher; Run starts it.
func NewDispatcher(o Options) (*Dispatcher, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	d := &Dispatcher{store: o.Store, log: o.Logger, cfg: o.Config, now: o.Now, wake: make(chan struct{}, 1),
		transports: map[transportKey]*cachedTransport{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = store.Now
	}
	d.env = env{version: o.Version, hostname: o.Hostname, client: newHTTPClient(nil, max(o.Config.PerSink, 2))}
	if d.env.version == "" {
		d.env.version = buildVersion()
	}
	if d.env.hostname == "" {
		d.env.hostname, _ = os.Hostname()
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	d.metrics = m
	return d, nil
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Wake tells the worker that deliveries were queued. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// result is one finished try, for the worker loop.
type result struct {
	ref     store.SinkRef
	r       store.DeliveryResult
	c       store.ClaimedDelivery
	counted bool // its slot is given back
}

// The worker's rhythm. One transaction records the tries that ended and
// claims what is due, so a busy outbox costs few commits: results wait up
// to flushDelay (or until finishBatch of them, or nothing is in flight)
// to share one.
const (
	// recheck is how soon the worker looks again after a wake: the
	// transaction that queued the deliveries may not have committed yet.
	recheck     = 50 * time.Millisecond
	flushDelay  = 5 * time.Millisecond
	finishBatch = 256
)

// Claimed deliveries wait for a send slot: at most held of one sink (and
// 4·Workers in all) are claimed at once, PerSink of them in flight, and a
// claim takes at most half a sink's share, so a sink keeps a claim ahead.
func (c Config) heldPerSink() int { return 4 * c.PerSink }
func (c Config) heldInAll() int   { return 4 * c.Workers }

// lease is how long a claimed delivery is not given to another claimer:
// its wait for a slot, its try, and time to record it.
func (c Config) lease() time.Duration { return 4*c.AttemptTimeout + 30*time.Second }

// Run delivers until ctx ends, then lets the sends in flight end (they are
// canceled) and gives back, uncounted, the deliveries they did not finish.
func (d *Dispatcher) Run(ctx context.Context) {
	if d.cfg.Workers == 0 {
		return
	}
	defer d.closeTransports()
	results := make(chan result, d.cfg.heldInAll())
	global := make(chan struct{}, d.cfg.Workers)
	slots := map[store.SinkRef]chan struct{}{}
	held := map[store.SinkRef]int{} // claimed and not yet tried, per sink
	total := 0
	var pending []result // tried, not yet recorded
	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	again := time.NewTimer(recheck)
	again.Stop()
	flush := time.NewTimer(flushDelay)
	flush.Stop()
	flushArmed, flushDue := false, false
	stop := ctx.Done()
	claimNow, failing := true, false
	for {
		stopping := stop == nil
		limit := 0
		if claimNow && !stopping && !failing {
			limit = min(d.cfg.heldInAll()-total, d.cfg.heldPerSink()/2)
		}
		finish := len(pending) > 0 && !failing && (flushDue || len(pending) >= finishBatch || total == 0 || stopping)
		if limit > 0 || finish {
			var done []result
			if finish {
				done = pending
			}
			var skip []store.SinkRef
			for ref, n := range held {
				if n > d.cfg.heldPerSink()-limit {
					skip = append(skip, ref)
				}
			}
			cs, err := d.step(ctx, done, limit, skip)
			if err != nil {
				// Tried again at the next poll; what was claimed before stays
				// claimed until its lease ends.
				if !errors.Is(err, context.Canceled) {
					d.log.Warn("recording deliveries and claiming more", "err", err)
				}
				failing = true
			} else {
				if finish {
					d.observe(done)
					pending, flushArmed, flushDue = nil, false, false
					flush.Stop()
				}
				for _, c := range cs {
					ref := store.SinkRef{OrgID: c.OrgID, SinkID: c.SinkID}
					slot, ok := slots[ref]
					if !ok {
						slot = make(chan struct{}, d.cfg.PerSink)
						slots[ref] = slot
					}
					held[ref]++
					total++
					go func() {
						slot <- struct{}{}
						global <- struct{}{}
						r := d.try(ctx, c)
						<-global
						<-slot
						results <- r
					}()
				}
				claimNow = limit > 0 && len(cs) == limit // more may be due
				if claimNow {
					continue
				}
			}
		}
		if stopping && total == 0 && (len(pending) == 0 || failing) {
			if len(pending) > 0 {
				d.log.Warn("stopping with tries unrecorded; they are tried again when their lease ends", "deliveries", len(pending))
			}
			return
		}
		select {
		case r := <-results:
			pending = append(pending, r)
		drain:
			for {
				select {
				case r := <-results:
					pending = append(pending, r)
				default:
					break drain
				}
			}
			claimNow = true
		case <-d.wake:
			claimNow = true
			again.Reset(recheck)
		case <-again.C:
			claimNow = true
		case <-flush.C:
			flushArmed, flushDue = false, true
		case <-poll.C:
			claimNow, failing = true, false
			flushDue = len(pending) > 0
			d.evictIdle(time.Now().Add(-5 * time.Minute))
		case <-stop:
			stop, failing = nil, false
		}
		// Results free their slots at once; their records wait for the flush.
		for i := range pending {
			if pending[i].counted {
				continue
			}
			pending[i].counted = true
			ref := pending[i].ref
			if held[ref]--; held[ref] == 0 {
				delete(held, ref)
				delete(slots, ref)
			}
			total--
		}
		// The first result waiting starts the clock; later ones do not
		// push it back.
		if len(pending) > 0 && !flushArmed && !flushDue {
			flush.Reset(flushDelay)
			flushArmed = true
		}
	}
}

// step records the tries in done and claims up to limit due deliveries,
// of sinks not in skip, in one transaction.
func (d *Dispatcher) step(ctx context.Context, done []result, limit int, skip []store.SinkRef) ([]store.ClaimedDelivery, error) {
	rs := make([]store.DeliveryResult, len(done))
	for i, r := range done {
		rs[i] = r.r
	}
	token := rand.Text()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var cs []store.ClaimedDelivery
	err := d.store.Update(store.WithOp(wctx, "deliveries"), func(tx store.Tx) error {
		if len(rs) > 0 {
			if err := tx.FinishDeliveries(wctx, rs); err != nil {
				return err
			}
		}
		if limit == 0 || ctx.Err() != nil {
			return nil
		}
		var err error
		cs, err = tx.ClaimDeliveries(wctx, token, d.now(), d.cfg.lease(), limit, skip)
		return err
	})
	return cs, err
}

// try sends one claimed delivery and says what became of it.
func (d *Dispatcher) try(ctx context.Context, c store.ClaimedDelivery) result {
	ref := store.SinkRef{OrgID: c.OrgID, SinkID: c.SinkID}
	res := store.DeliveryResult{OrgID: c.OrgID, ID: c.ID, Claim: c.Claim}
	if ctx.Err() != nil {
		// Stopping before its turn came: not tried, not counted.
		res.Outcome, res.Next = store.OutcomeReleased, d.now()
		return result{ref: ref, r: res, c: c}
	}
	start := d.now()
	var a attempt
	var ev Event
	if err := json.Unmarshal(c.Body, &ev); err != nil {
		a.err = fmt.Errorf("the queued event does not decode: %v", err)
	} else if t, err := d.transport(c); err != nil {
		a.err = err
	} else {
		actx, cancel := context.WithTimeout(ctx, d.cfg.AttemptTimeout)
		a = t.send(actx, message{deliveryID: c.ID, event: ev, body: c.Body})
		cancel()
	}
	elapsed := d.now().Sub(start)
	if a.err != nil && ctx.Err() != nil {
		// Stopping: this try does not count against the delivery.
		res.Outcome, res.Next = store.OutcomeReleased, d.now()
		return result{ref: ref, r: res, c: c}
	}
	res.Attempt = store.DeliveryAttempt{DeliveryID: c.ID, Seq: c.Tries + 1, Time: start, Duration: elapsed, Code: a.code}
	switch {
	case a.err == nil:
		res.Outcome = store.OutcomeSent
	case c.Attempts+1 >= d.cfg.MaxAttempts:
		res.Outcome, res.Attempt.Error = store.OutcomeDead, clip(a.err.Error(), 1000)
	default:
		wait := max(d.cfg.backoff(c.Attempts+1), min(a.retryAfter, d.cfg.BackoffMax))
		res.Outcome, res.Attempt.Error, res.Next = store.OutcomeRetry, clip(a.err.Error(), 1000), start.Add(elapsed+wait)
	}
	return result{ref: ref, r: res, c: c}
}

// observe counts recorded tries in the metrics and logs dead letters.
func (d *Dispatcher) observe(done []result) {
	for _, r := range done {
		kind := r.c.Sink.Kind
		switch r.r.Outcome {
		case store.OutcomeReleased:
			continue
		case store.OutcomeSent:
			d.metrics.deliveries.WithLabelValues(kind, "sent").Inc()
		case store.OutcomeRetry:
			d.metrics.deliveries.WithLabelValues(kind, "failed").Inc()
		case store.OutcomeDead:
			d.metrics.deliveries.WithLabelValues(kind, "dead").Inc()
			d.log.Warn("a delivery is dead after its last try", "org", r.c.OrgID, "sink", r.c.SinkID, "delivery", r.c.ID,
				"tries", r.r.Attempt.Seq, "err", r.r.Attempt.Error)
		}
		d.metrics.duration.WithLabelValues(kind).Observe(r.r.Attempt.Duration.Seconds())
	}
}

// transport returns the cached transport of a claimed delivery's sink.
func (d *Dispatcher) transport(c store.ClaimedDelivery) (transport, error) {
	key := transportKey{store.SinkRef{OrgID: c.OrgID, SinkID: c.SinkID}, c.Sink.CreatedAt}
	d.mu.Lock()
	defer d.mu.Unlock()
	if ct, ok := d.transports[key]; ok {
		ct.used = time.Now()
		return ct.t, nil
	}
	t, err := newTransport(c.Sink, d.env, d.cfg.PerSink)
	if err != nil {
		return nil, err
	}
	d.transports[key] = &cachedTransport{t: t, used: time.Now()}
	return t, nil
}

// evictIdle closes transports not used since before: those of deleted
// sinks, and connections of quiet ones.
func (d *Dispatcher) evictIdle(before time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, ct := range d.transports {
		if ct.used.Before(before) {
			ct.t.close()
			delete(d.transports, k)
		}
	}
}

func (d *Dispatcher) closeTransports() { d.evictIdle(time.Now().Add(time.Hour)) }

// Prune deletes sent deliveries older than the retention, with their log.
func (d *Dispatcher) Prune(ctx context.Context) error {
	var n int64
	err := d.store.Update(store.WithOp(ctx, "prune deliveries"), func(tx store.Tx) error {
		var err error
		n, err = tx.PruneDeliveries(ctx, d.now().Add(-d.cfg.Retention))
		return err
	})
	if err == nil && n > 0 {
		d.log.Info("pruned sent deliveries", "deliveries", n, "retention", d.cfg.Retention)
	}
	return err
}

// MeasureBacklog sets the outbox backlog gauge: deliveries pending, across
// orgs.
func (d *Dispatcher) MeasureBacklog(ctx context.Context) error {
	var n int64
	err := d.store.View(store.WithOp(ctx, "outbox backlog"), func(tx store.Tx) error {
		var err error
		n, err = tx.OutboxBacklog(ctx)
		return err
	})
	if err == nil {
		d.metrics.backlog.Set(float64(n))
	}
	return err
}

type metrics struct {
	deliveries *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	backlog    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "probity_deliveries_total",
			Help: "Delivery tries by sink kind and outcome: sent, failed (to be tried again) or dead (no tries left).",
		}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "probity_delivery_attempt_duration_seconds", Help: "Time of one delivery try, by sink kind.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"kind"}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probity_outbox_backlog", Help: "Deliveries pending in the outbox, across orgs, at the last measure.",
		}),
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.duration, m.backlog} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering delivery metrics: %w", err)
		}
	}
	return m, nil
}
