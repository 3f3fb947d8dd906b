// Package app wires the Probity server together by hand: configuration,
// the store, the first-start bootstrap, the API and the HTTP server, and
// their orderly shutdown.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/incident"
	"github.com/probity-dev/probity/internal/notify"
	"github.com/probity-dev/probity/internal/store"
	"github.com/probity-dev/probity/internal/store/postgres"
	"github.com/probity-dev/probity/internal/store/sqlite"
	"github.com/probity-dev/probity/internal/web"
)

// Config is the whole server configuration.
type Config struct {
	Listen          string // host:port
	DataDir         string // SQLite file, admin.key and keys live here
	DB              string // empty for SQLite in DataDir, or a postgres:// DSN
	TLSCert, TLSKey string // both or neither: serve HTTPS directly
	LogFormat       string // text or json
	LogLevel        string // debug, info, warn, error
	ShutdownTimeout time.Duration
	API             api.Config
	// CommitmentInterval is how often every pact's commitments are judged.
	CommitmentInterval time.Duration
	// ScoreInterval is how often every agent's score is recomputed and a
	// changed one stored (decay); agents with new evidence are recomputed
	// within seconds.
	ScoreInterval time.Duration
	// EvalWorkers is how many eval runs this server runs at once (0: none;
	// another replica runs them).
	EvalWorkers int
	// IncidentRules names a rules document (--incident-rules) laid over
	// the default incident rules; empty for the defaults.
	IncidentRules string
	// Delivery tunes the outbox worker that sends events to sinks.
	Delivery notify.Config
	// Now is the server's clock; nil is the real one. Tests set it.
	Now func() time.Time
}

// Default is the configuration of `probity serve` without flags.
func Default() Config {
	return Config{
		Listen:          "127.0.0.1:7411",
		DataDir:         "./probity-data",
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownTimeout: 30 * time.Second,
		API:             api.DefaultConfig(),

		CommitmentInterval: 5 * time.Minute,
		EvalWorkers:        2,
		ScoreInterval:      time.Hour,
		Delivery:           notify.DefaultConfig(),
	}
}

// Validate names the first setting that cannot work.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("--listen %q: want host:port", c.Listen)
	}
	if c.DataDir == "" {
		return errors.New("--data must name a directory")
	}
	if c.DB != "" && !IsPostgres(c.DB) {
		return fmt.Errorf("--db: want a postgres:// or postgresql:// URL (leave it empty for SQLite in --data), got %q", redact(c.DB))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both or neither")
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.ShutdownTimeout <= 0 {
		return errors.New("shutdown timeout must be positive")
	}
	if c.ScoreInterval < time.Second || c.ScoreInterval > 24*time.Hour {
		return fmt.Errorf("--score-interval %s: want between 1s and 24h", c.ScoreInterval)
	}
	if c.EvalWorkers < 0 || c.EvalWorkers > 64 {
		return fmt.Errorf("--eval-workers %d: want between 0 and 64", c.EvalWorkers)
	}
	if c.CommitmentInterval < time.Second || c.CommitmentInterval > 24*time.Hour {
		return fmt.Errorf("--commitment-interval %s: want between 1s and 24h", c.CommitmentInterval)
	}
	if err := c.Delivery.Validate(); err != nil {
		return err
	}
	return c.API.Validate()
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// redact hides the secrets of a DSN, for messages and logs: the password in
// the user info and the password parameters of the query. A DSN that does
// not parse as a URL is not shown at all.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "(a DSN that does not parse)"
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger builds the server's logger on w.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// OpenStore opens the configured store. For SQLite it makes the data
// directory if needed. It takes no lock: offline commands may run beside a
// server, as SQLite itself serializes writers.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	if IsPostgres(cfg.DB) {
		db, err := postgres.Open(ctx, cfg.DB)
		if err != nil {
			return nil, fmt.Errorf("opening postgres %s: %w", redact(cfg.DB), err)
		}
		return db, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("making data directory: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(cfg.DataDir, "probity.db"))
}

// Server is a running Probity server.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store store.Store
	http  *http.Server
	ln    net.Listener
	lock  *os.File
	done  chan error

	stopBackground func() // stops the background jobs and waits
	api            *api.Server
}

// Start opens the store, bootstraps an empty one (printing the first admin
// key to out), and serves the API in the background until Shutdown.
func Start(ctx context.Context, cfg Config, out io.Writer, log *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// A bad rules file stops the server before it touches anything.
	var rules *incident.Config
	if cfg.IncidentRules != "" {
		r, err := LoadIncidentRules(cfg.IncidentRules)
		if err != nil {
			return nil, err
		}
		rules = &r
	}
	s := &Server{cfg: cfg, log: log, done: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.closeStore()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("making data directory: %w", err)
	}
	if !IsPostgres(cfg.DB) {
		if s.lock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	storeLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "probity_store_transaction_duration_seconds", Help: "Store transaction latency by kind (view, update) and operation.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"kind", "op"})
	reg.MustRegister(storeLatency)

	raw, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.store = store.Observed(raw, func(kind, op string, d time.Duration, _ error) {
		storeLatency.WithLabelValues(kind, op).Observe(d.Seconds())
	})
	if err := bootstrap(ctx, s.store, cfg.DataDir, out); err != nil {
		return nil, err
	}
	if err := ensureLedgerKeys(ctx, s.store); err != nil {
		return nil, err
	}
	apiServer, err := api.New(api.Options{Store: s.store, Logger: log, Registry: reg, Config: cfg.API, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	s.api = apiServer
	if rules != nil {
		if err := apiServer.SetIncidentRules(*rules); err != nil {
			return nil, err
		}
	}
	deliveries, err := notify.NewDispatcher(notify.Options{Store: s.store, Logger: log, Registry: reg, Config: cfg.Delivery, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	apiServer.SetOutboxWake(deliveries.Wake)
	dashboard, err := web.New(web.Options{API: apiServer, Logger: log, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           withDashboard(apiServer.Handler(), dashboard),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("loading TLS certificate: %w", err)
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if s.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	backend := "sqlite " + filepath.Join(cfg.DataDir, "probity.db")
	if IsPostgres(cfg.DB) {
		backend = "postgres " + redact(cfg.DB)
	}
	log.Info("probity serving", "url", scheme+"://"+s.ln.Addr().String(), "store", backend)
	stopSigner := s.every(time.Second, time.Second, "signing checkpoints", apiServer.SignCheckpoints)
	// Commitments are first judged a minute after start (or sooner with a
	// shorter interval), so a server restarted more often than the
	// interval still judges them.
	stopCommitments := s.every(min(cfg.CommitmentInterval, time.Minute), cfg.CommitmentInterval, "evaluating commitments", apiServer.EvaluateCommitments)
	stopSchedules := s.every(time.Second, 30*time.Second, "queueing scheduled evals", apiServer.RunSchedules)
	stopScores := s.every(min(cfg.ScoreInterval, time.Minute), cfg.ScoreInterval, "recording scores", apiServer.RecordScores)
	stopDirty := s.every(10*time.Second, 10*time.Second, "recording changed scores", apiServer.RecordDirtyScores)
	ectx, stopEvals := context.WithCancel(context.Background())
	evalsDone := make(chan struct{})
	go func() { defer close(evalsDone); apiServer.RunEvals(ectx, cfg.EvalWorkers) }()
	// Incidents are evaluated as agents become due (new scores, confirmed
	// injections, anomalies); activity rollups are flushed every second
	// and judged for anomalies hourly.
	ictx, stopIncidents := context.WithCancel(context.Background())
	incidentsDone := make(chan struct{})
	go func() { defer close(incidentsDone); apiServer.RunIncidents(ictx) }()
	stopActivity := s.every(time.Second, time.Second, "flushing activity rollups", apiServer.FlushActivity)
	stopAnomalies := s.every(time.Minute, time.Hour, "detecting anomalies", apiServer.DetectAnomalies)
	stopReminders := s.every(time.Minute, 5*time.Minute, "reminding of unacknowledged incidents", apiServer.RemindIncidents)
	dctx, stopDeliveries := context.WithCancel(context.Background())
	deliveriesDone := make(chan struct{})
	go func() { defer close(deliveriesDone); deliveries.Run(dctx) }()
	stopBacklog := s.every(time.Second, 15*time.Second, "measuring the outbox", deliveries.MeasureBacklog)
	stopPrune := s.every(time.Minute, time.Hour, "pruning sent deliveries", deliveries.Prune)
	s.stopBackground = func() {
		stopSchedules()
		stopScores()
		stopDirty()
		stopEvals()
		<-evalsDone
		stopAnomalies()
		stopReminders()
		stopActivity()
		if err := apiServer.FlushActivity(context.Background()); err != nil {
			log.Warn("flushing activity rollups at shutdown", "err", err)
		}
		stopIncidents()
		<-incidentsDone
		stopSigner()
		stopCommitments()
		// Last, so that events emitted while the rest stopped are sent;
		// what is still pending waits in the outbox for the next start.
		stopBacklog()
		stopPrune()
		stopDeliveries()
		<-deliveriesDone
	}
	go func() {
		var err error
		if cfg.TLSCert != "" {
			err = s.http.ServeTLS(s.ln, "", "")
		} else {
			err = s.http.Serve(s.ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

// apiPaths are the paths the API answers; the dashboard answers the rest.
var apiPaths = []string{"/v1/", "/otlp/", "/healthz", "/readyz", "/metrics", "/openapi.yaml"}

// withDashboard sends the API's paths to the API and every other path to
// the dashboard.
func withDashboard(apiHandler, dashboard http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range apiPaths {
			if r.URL.Path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(r.URL.Path, p)) {
				apiHandler.ServeHTTP(w, r)
				return
			}
		}
		dashboard.ServeHTTP(w, r)
	})
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// API is the server's API, for tests that drive its background jobs.
func (s *Server) API() *api.Server { return s.api }

// Store is the server's store, for tests that look behind the API: the
// API's view of it, so the API sees what is written through it.
func (s *Server) Store() store.Store { return s.api.Store() }

// Done is closed-over by Run: it yields the serve loop's error if it stops
// on its own (for example when the listener fails).
func (s *Server) Done() <-chan error { return s.done }

// Shutdown stops accepting requests, lets in-flight ones finish (up to the
// context's deadline), then closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if s.stopBackground != nil {
		s.stopBackground()
	}
	if err != nil {
		s.log.Warn("shutdown: in-flight requests cut short", "err", err)
		s.http.Close()
		// Closing connections does not stop handlers: let them end (their
		// requests are canceled) before the store closes under them.
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if derr := s.api.Drain(dctx); derr != nil {
			s.log.Error("shutdown: closing the store under running handlers", "err", derr)
		}
		cancel()
	}
	return errors.Join(err, s.closeStore())
}

func (s *Server) closeStore() error {
	var err error
	if s.store != nil {
		err = s.store.Close()
		s.store = nil
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
	return err
}

// Run serves until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, cfg Config, stdout io.Writer, log *slog.Logger) error {
	s, err := Start(ctx, cfg, stdout, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case err := <-s.done:
		if err != nil {
			log.Error("server stopped", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
}

// afterJob is told when a background job ends; tests replace it.
var afterJob = func(what string, err error) {}

// every runs job after first and then every interval in the background
// (checkpoint signing, commitment evaluation), logging its errors, until
// the returned function is called; that function waits for a running job
// to end.
func (s *Server) every(first, interval time.Duration, what string, job func(context.Context) error) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait := time.NewTimer(first)
		defer wait.Stop()
		select {
		case <-ctx.Done():
			return
		case <-wait.C:
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			err := job(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn(what, "err", err)
			}
			afterJob(what, err)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// LoadIncidentRules reads a rules document (--incident-rules) over the
// default rules; every problem is reported, each with its field and line.
func LoadIncidentRules(path string) (incident.Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return incident.Config{}, fmt.Errorf("--incident-rules: %w", err)
	}
	cfg, err := incident.Parse(src, incident.Default())
	if err != nil {
		return cfg, fmt.Errorf("--incident-rules %s:\n%w", path, err)
	}
	return cfg, nil
}
