// Package api is Probity's HTTP API: routes, authentication and scopes, rate
// limits, the JSON conventions, and the one mapping from errors to statuses.
// Its contract is documented in openapi.yaml, served at GET /openapi.yaml.
package api

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/probity-dev/probity"
	"github.com/probity-dev/probity/internal/detect"
	"github.com/probity-dev/probity/internal/eval"
	"github.com/probity-dev/probity/internal/score"
	"github.com/probity-dev/probity/internal/store"
)

//go:embed openapi.yaml
var openAPI []byte

// Config tunes the API; Default gives the values probity serve uses.
type Config struct {
	RateLimit    float64       // requests per second per key; 0 turns limiting off
	RateBurst    int           // bucket size
	AuthCacheTTL time.Duration // how long a key lookup is reused; 0 looks up every request
	MaxBody      int64         // bytes, for routes that do not set their own
	// IncidentRemindAfter is how long an open high or critical incident
	// waits for acknowledgement before the sinks are told again, and again
	// after each such interval; 0 never reminds.
	IncidentRemindAfter time.Duration
	// Judges grade eval cases' judge checks (a jury; none: such checks are
	// errors). Each API key is read from the environment variable named.
	Judges []Judge
}

// Judge is one jury member: an OpenAI-compatible endpoint.
type Judge struct {
	URL, Model, KeyEnv string
}

// DefaultConfig is the configuration of a stock server.
func DefaultConfig() Config {
	return Config{RateLimit: 1000, RateBurst: 2000, AuthCacheTTL: 2 * time.Second, MaxBody: 1 << 20, IncidentRemindAfter: 4 * time.Hour}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.RateLimit < 0:
		return errors.New("rate limit must not be negative")
	case c.RateLimit > 0 && c.RateBurst < 1:
		return errors.New("rate burst must be at least 1 when a rate limit is set")
	case c.AuthCacheTTL < 0:
		return errors.New("auth cache TTL must not be negative")
	case c.MaxBody < 1024:
		return errors.New("max body must be at least 1 KiB")
	case c.IncidentRemindAfter < 0:
		return errors.New("--incident-remind-after must not be negative")
	}
	return nil
}

// Server answers the API. Build it with New and serve Handler().
type Server struct {
	store   store.Store
	log     *slog.Logger
	cfg     Config
	auth    *authenticator
	limits  *limiter
	metrics *httpMetrics
	gather  prometheus.Gatherer
	now     func() time.Time
	routes  []route
	mux     *http.ServeMux
	signers signers
	checker *checker
	active  sync.WaitGroup // handlers running, for Drain

	suites      evalSuites // the built-in suites
	suiteCache  suiteCache // uploaded suites, compiled
	jury        eval.Jury  // nil without judges
	scoreConfig score.Config
	dirtyMu     sync.Mutex
	dirty       map[[2]string]bool        // org, agent: new evidence since the last recompute
	scores      map[[2]string]cachedScore // the last computed score of each agent, for the gate
	agents      map[[2]string]cachedAgent // the last status read of each agent, for the gate
	agentGen    uint64                    // agent writes seen; a status read before one is not kept
	writing     map[[2]string]int         // agents with a write under way
	results     runResults                // graded cases of ended runs, for scoring
	violations  violationCache            // agents' recent violations, for scoring
	keysMu      sync.Mutex
	keys        map[string]signingKeyEntry // the active attestation key of each org
	checkpoints map[string]checkpointEntry // the latest signed checkpoint of each org, read at most once a second
	issuances   issuanceLog

	slotsMu     sync.Mutex
	targetSlots map[endpoint]chan struct{} // per endpoint, shared by runs
	evalWake    chan struct{}              // a run was queued here
	evalClient  *http.Client               // shared by eval targets
	inc         incidents                  // incident rules, agents due, activity rollups (incidents.go)

	outboxWake func() // tells the delivery worker that deliveries were queued (emit.go)
}

// Options are a Server's dependencies.
type Options struct {
	Store    store.Store
	Logger   *slog.Logger
	Registry *prometheus.Registry // metrics are registered here and served at /metrics
	Config   Config
	Now      func() time.Time // defaults to store.Now
}

// New builds a Server with its routes.
func New(o Options) (*Server, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("api config: %w", err)
	}
	s := &Server{
		store:  o.Store,
		log:    o.Logger,
		cfg:    o.Config,
		now:    o.Now,
		gather: o.Registry,
	}
	s.store = watchedStore{o.Store, s.agentWriting, s.agentsChanged}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = store.Now
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		s.gather = o.Registry
	}
	m, err := newHTTPMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	// What ingest handed the anomaly rollups and they have not stored yet.
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "probity_activity_backlog_records",
			Help: "Records ingested and not yet in the stored activity rollups (anomaly detection)."},
			func() float64 { b, _ := s.ActivityBacklog(); return float64(b) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "probity_activity_dropped_records_total",
			Help: "Records left out of the activity rollups because too many agent-hours waited at once."},
			func() float64 { _, d := s.ActivityBacklog(); return float64(d) }),
	} {
		if err := o.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering activity metrics: %w", err)
		}
	}
	d, err := detect.New(detect.Options{})
	if err != nil {
		return nil, err
	}
	s.checker = newChecker(d)
	if s.suites, err = loadSuites(); err != nil {
		return nil, err
	}
	s.evalWake = make(chan struct{}, 1)
	s.scoreConfig = score.DefaultConfig()
	s.issuances.s = s
	if len(o.Config.Judges) > 0 {
		var cfgs []eval.JudgeConfig
		for i, j := range o.Config.Judges {
			key := ""
			if j.KeyEnv != "" {
				if key = os.Getenv(j.KeyEnv); key == "" {
					return nil, fmt.Errorf("judge %d: the environment variable %s is not set", i+1, j.KeyEnv)
				}
			}
			cfgs = append(cfgs, eval.JudgeConfig{Name: fmt.Sprintf("%s#%d", j.Model, i+1), URL: j.URL, Model: j.Model, APIKey: key})
		}
		if s.jury, err = eval.NewOpenAIJury(cfgs, nil); err != nil {
			return nil, err
		}
	}
	s.evalClient = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}
	s.auth = newAuthenticator(o.Store, o.Config.AuthCacheTTL)
	s.limits = newLimiter(o.Config.RateLimit, o.Config.RateBurst)
	s.routes = s.routeTable()
	s.mux = http.NewServeMux()
	for _, rt := range s.routes {
		s.mux.Handle(rt.pattern, s.wrap(rt))
	}
	// Everything else: a JSON 404, or 405 when the path exists for other
	// methods (the catch-all keeps ServeMux's plain-text answers away).
	s.mux.HandleFunc("/", s.noRoute)
	return s, nil
}

// handlerFunc is an API handler: it writes a response or returns an error,
// which the route wrapper maps to a status.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call) error

// route is one entry of the route table. An empty scope means the route
// needs no key.
type route struct {
	pattern string
	scope   probity.Scope
	orScope probity.Scope // a second scope that also admits, when set
	maxBody int64
	h       handlerFunc
}

// call is what a handler knows about its caller.
type call struct {
	key *probity.APIKey
	org string
}

// actor names the caller in the audit log.
func (c *call) actor() string { return c.key.ID }

// Drain waits until no handler runs, or ctx is done. After an HTTP server
// is closed its handlers may still be running; the store must outlive them.
func (s *Server) Drain(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("handlers still running: %w", ctx.Err())
	}
}

// orgs lists every org, for the jobs that work through all of them.
func (s *Server) orgs(ctx context.Context) ([]probity.Org, error) {
	var orgs []probity.Org
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		orgs, err = tx.ListOrgs(ctx)
		return err
	})
	return orgs, err
}

// Store is the store the server writes through. Writes to agents made
// through it reach the server's in-memory copies at once.
func (s *Server) Store() store.Store { return s.store }

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler { return s.mux }

// noRoute answers 405 with Allow when the path exists for other methods,
// else 404, both as JSON errors.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "PATCH", "PUT", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" && p != "/" {
			allow = append(allow, m)
		}
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(rec, http.StatusMethodNotAllowed, map[string]apiError{"error": {Code: "method_not_allowed",
			Message: fmt.Sprintf("%s is not allowed here; allowed: %s", r.Method, strings.Join(allow, ", "))}})
	} else {
		writeJSON(rec, http.StatusNotFound, map[string]apiError{"error": {Code: "not_found",
			Message: "no such endpoint: " + r.URL.Path}})
	}
	s.metrics.observe("unmatched", rec.code(), time.Since(start))
}

// wrap applies, in order: metrics, panic recovery, authentication, scope,
// rate limit and the body cap, then calls the handler.
func (s *Server) wrap(rt route) http.Handler {
	maxBody := rt.maxBody
	if maxBody == 0 {
		maxBody = s.cfg.MaxBody
	}
	label := rt.pattern
	latency := s.metrics.latency.WithLabelValues(label)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		s.metrics.inFlight.Inc()
		s.active.Add(1)
		defer s.active.Done()
		defer s.metrics.inFlight.Dec()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "handler panic", "route", label, "panic", fmt.Sprint(p),
					"stack", string(debug.Stack()))
				if !rec.wrote {
					s.writeError(rec, r, errors.New("panic"))
				}
			}
			s.metrics.requests.WithLabelValues(label, strconv.Itoa(rec.code())).Inc()
			latency.Observe(time.Since(start).Seconds())
		}()
		r = r.WithContext(store.WithOp(r.Context(), label))
		if r.Body != nil {
			r.Body = http.MaxBytesReader(rec, r.Body, maxBody)
		}
		c := &call{}
		if rt.scope != "" {
			key, err := s.auth.authenticate(r)
			if err != nil {
				s.writeError(rec, r, err)
				return
			}
			if !key.Allows(rt.scope) && (rt.orScope == "" || !key.Allows(rt.orScope)) {
				if rt.orScope != "" {
					s.writeError(rec, r, clientError(probity.ErrForbidden, "this key lacks the %q or %q scope", rt.scope, rt.orScope))
				} else {
					s.writeError(rec, r, clientError(probity.ErrForbidden, "this key lacks the %q scope", rt.scope))
				}
				return
			}
			if wait, ok := s.limits.allow(key.ID); !ok {
				s.writeError(rec, r, &rateLimited{retryAfter: wait})
				return
			}
			c.key, c.org = key, key.OrgID
		}
		if err := rt.h(rec, r, c); err != nil {
			s.writeError(rec, r, err)
		}
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	gates    *prometheus.CounterVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "probity_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "probity_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "probity_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		gates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "probity_gate_decisions_total", Help: "Delegation gate decisions, by decision (allow or deny).",
		}, []string{"decision"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.inFlight, m.gates} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering http metrics: %w", err)
		}
	}
	return m, nil
}

func (m *httpMetrics) gate(allow bool) {
	d := "deny"
	if allow {
		d = "allow"
	}
	m.gates.WithLabelValues(d).Inc()
}

func (m *httpMetrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ *call) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *call) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "store not reachable or not migrated"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request, _ *call) error {
	promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request, _ *call) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(openAPI)
	return nil
}
