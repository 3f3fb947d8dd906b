// Package apptest boots a whole Probity server in-process on 127.0.0.1:0,
// on SQLite in a temporary directory or on a PostgreSQL test schema, for the
// tests of the API, the SDK and the CLI.
package apptest

import (
	"bytes"
	"context"
	"github.com/probity-dev/probity/internal/api"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/probity-dev/probity/internal/app"
)

// Env is a running server and what a test needs to talk to it.
type Env struct {
	URL      string // http://127.0.0.1:port
	AdminKey string // the bootstrap admin key of org "default"
	DataDir  string
	Config   app.Config
	Server   *app.Server
	Logs     *bytes.Buffer // what the server logged (JSON lines)
}

// Option changes the configuration before the server starts.
type Option func(*app.Config)

// WithPostgres runs the server on the PostgreSQL database dsn.
func WithPostgres(dsn string) Option { return func(c *app.Config) { c.DB = dsn } }

// WithDataDir uses dir as the data directory instead of a fresh one.
func WithDataDir(dir string) Option { return func(c *app.Config) { c.DataDir = dir } }

// Start boots a server that is shut down when the test ends. Rate limiting
// is off unless an option turns it on.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	cfg := app.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogFormat = "json"
	cfg.API.RateLimit = 0
	cfg.ShutdownTimeout = 10 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(&syncWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := app.Start(context.Background(), cfg, io.Discard, log)
	if err != nil {
		t.Fatalf("starting server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutting down server: %v", err)
		}
	})
	env := &Env{URL: "http://" + s.Addr(), DataDir: cfg.DataDir, Config: cfg, Server: s, Logs: logs}
	if b, err := os.ReadFile(filepath.Join(cfg.DataDir, app.AdminKeyFile)); err == nil {
		env.AdminKey = strings.TrimSpace(string(b))
	}
	return env
}

// API is the running server's API, for tests that drive its jobs.
func (e *Env) API() *api.Server { return e.Server.API() }
