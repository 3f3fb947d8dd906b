package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/probity-dev/probity/internal/testbed"
)

// runTestbed serves the reference agents (internal/testbed) until ctx ends.
func runTestbed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "serve" {
		return usagef("usage: probity testbed serve [--listen ADDR] [--key K] [--switch-at RFC3339] [--switch-version V] [--model-version V]")
	}
	var opts testbed.Options
	var listen, switchAt string
	fs := newFlags("testbed serve", stderr)
	fs.StringVar(&listen, "listen", "127.0.0.1:7420", "address to listen on")
	fs.StringVar(&opts.Key, "key", env("PROBITY_TESTBED_KEY", ""), "bearer token clients must send; empty for none (PROBITY_TESTBED_KEY)")
	fs.StringVar(&switchAt, "switch-at", "", "time (RFC 3339) from which drifting is gullible and leaky")
	fs.StringVar(&opts.SwitchVersion, "switch-version", "", "first model version at which drifting is gullible and leaky")
	fs.StringVar(&opts.ModelVersion, "model-version", testbed.DefaultModelVersion, "model version the agents report")
	fs.DurationVar(&opts.Latency, "latency", 0, "simulated latency added to every completion")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("testbed serve takes no arguments, got %q", fs.Args())
	}
	if switchAt != "" {
		t, err := time.Parse(time.RFC3339, switchAt)
		if err != nil {
			return usagef("--switch-at: %v", err)
		}
		opts.SwitchAt = t
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listening for the testbed: %w", err)
	}
	srv := &http.Server{
		Handler:           testbed.New(opts),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30*time.Second + opts.Latency,
		IdleTimeout:       120 * time.Second,
	}
	fmt.Fprintf(stdout, "testbed: serving http://%s/v1 (OpenAI chat completions)\n", ln.Addr())
	fmt.Fprintf(stdout, "agents: %s (version %s)\n", strings.Join(testbed.Agents, ", "), opts.ModelVersion)
	if opts.Key != "" {
		fmt.Fprintln(stdout, "auth: bearer key required")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving the testbed: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stopping the testbed: %w", err)
	}
	return nil
}
