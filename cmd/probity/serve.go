package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/probity-dev/probity/internal/api"
	"github.com/probity-dev/probity/internal/app"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := app.Default()
	fs := newFlags("serve", stderr)
	fs.StringVar(&cfg.Listen, "listen", env("PROBITY_LISTEN", cfg.Listen), "address to listen on (PROBITY_LISTEN)")
	fs.StringVar(&cfg.DataDir, "data", env("PROBITY_DATA", cfg.DataDir), "data directory: SQLite database, admin.key (PROBITY_DATA)")
	fs.StringVar(&cfg.DB, "db", env("PROBITY_DB", ""), "postgres:// URL; empty for SQLite in --data (PROBITY_DB)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", env("PROBITY_TLS_CERT", ""), "serve HTTPS with this certificate (PEM) (PROBITY_TLS_CERT)")
	fs.StringVar(&cfg.TLSKey, "tls-key", env("PROBITY_TLS_KEY", ""), "the certificate's private key (PEM) (PROBITY_TLS_KEY)")
	fs.StringVar(&cfg.LogFormat, "log-format", env("PROBITY_LOG_FORMAT", cfg.LogFormat), "log format: text or json (PROBITY_LOG_FORMAT)")
	fs.StringVar(&cfg.LogLevel, "log-level", env("PROBITY_LOG_LEVEL", cfg.LogLevel), "log level: debug, info, warn, error (PROBITY_LOG_LEVEL)")
	fs.Float64Var(&cfg.API.RateLimit, "rate-limit", envFloat("PROBITY_RATE_LIMIT", cfg.API.RateLimit), "requests per second per API key, 0 for no limit (PROBITY_RATE_LIMIT)")
	fs.IntVar(&cfg.API.RateBurst, "rate-burst", int(envFloat("PROBITY_RATE_BURST", float64(cfg.API.RateBurst))), "burst of requests per API key (PROBITY_RATE_BURST)")
	fs.Func("judge", "a judge for eval judge checks, URL,MODEL[,KEY_ENV] (an OpenAI-compatible endpoint; repeat for a jury)", func(v string) error {
		parts := strings.Split(v, ",")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return fmt.Errorf("want URL,MODEL or URL,MODEL,KEY_ENV, got %q", v)
		}
		j := api.Judge{URL: parts[0], Model: parts[1]}
		if len(parts) == 3 {
			j.KeyEnv = parts[2]
		}
		cfg.API.Judges = append(cfg.API.Judges, j)
		return nil
	})
	fs.IntVar(&cfg.EvalWorkers, "eval-workers", cfg.EvalWorkers, "eval runs this server runs at once (0: leave them to other replicas)")
	fs.DurationVar(&cfg.ScoreInterval, "score-interval", cfg.ScoreInterval, "how often every agent's trust score is recomputed for decay; agents with new evidence are recomputed within seconds")
	fs.DurationVar(&cfg.CommitmentInterval, "commitment-interval", cfg.CommitmentInterval, "how often every pact's commitments are judged over their windows")
	fs.StringVar(&cfg.IncidentRules, "incident-rules", env("PROBITY_INCIDENT_RULES", ""), "a YAML incident rules document laid over the default rules (docs/incidents.md) (PROBITY_INCIDENT_RULES)")
	fs.DurationVar(&cfg.API.IncidentRemindAfter, "incident-remind-after", cfg.API.IncidentRemindAfter, "tell the sinks again about an open high or critical incident not acknowledged for this long, and after each such interval (0: never)")
	fs.IntVar(&cfg.Delivery.Workers, "delivery-workers", cfg.Delivery.Workers, "event deliveries to sinks this server has in flight at once (0: leave them to other replicas)")
	fs.IntVar(&cfg.Delivery.PerSink, "delivery-per-sink", cfg.Delivery.PerSink, "of which at most this many to one sink")
	fs.IntVar(&cfg.Delivery.MaxAttempts, "delivery-attempts", cfg.Delivery.MaxAttempts, "tries a delivery gets before it is a dead letter")
	fs.DurationVar(&cfg.Delivery.BackoffBase, "delivery-backoff", cfg.Delivery.BackoffBase, "the first retry waits up to this long; each next one up to twice as long (full jitter)")
	fs.DurationVar(&cfg.Delivery.BackoffMax, "delivery-backoff-max", cfg.Delivery.BackoffMax, "the longest wait between two tries")
	fs.DurationVar(&cfg.Delivery.AttemptTimeout, "delivery-timeout", cfg.Delivery.AttemptTimeout, "how long one try may take")
	fs.DurationVar(&cfg.Delivery.Retention, "delivery-retention", cfg.Delivery.Retention, "how long sent deliveries and their log are kept")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long in-flight requests may take to finish on shutdown")
	fs.DurationVar(&cfg.API.AuthCacheTTL, "auth-cache", cfg.API.AuthCacheTTL, "how long a key lookup is reused (revocations elsewhere take this long to apply)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	return app.Run(ctx, cfg, stdout, app.NewLogger(cfg, stderr))
}

func envFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(env(name, ""), 64); err == nil {
		return v
	}
	return def
}
